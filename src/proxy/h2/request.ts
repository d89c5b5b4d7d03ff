// What the data path asks of a request that differs between HTTP/1.1 and HTTP/2.
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';

/**
 * Whether a body follows the head. HTTP/1.1 says so by content-length or transfer-encoding; an HTTP/2
 * request (gRPC's always) may carry neither and says it by not ending the stream with its HEADERS frame.
 */
export function requestHasBody(req: IncomingMessage): boolean {
  if (req.httpVersionMajor === 2) return !(req as unknown as Http2ServerRequest).stream.endAfterHeaders;
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}
