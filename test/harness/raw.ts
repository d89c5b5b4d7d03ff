// Test harness: raw TCP clients for requests no HTTP client would send (hostile heads, slow or chunked bodies).
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { WAIT_MS } from './wait.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Opens a connection to a loopback port. */
export async function rawConnect(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

/**
 * A chunked body's bytes once its last chunk and trailer section have arrived, undefined until then (RFC 9112
 * §7.1: hex size, optional extensions, CRLF, data, CRLF; a zero size, trailers, then an empty line).
 */
function dechunk(raw: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    if (eol === -1) return undefined;
    const size = Number.parseInt(raw.subarray(at, eol).toString('latin1').split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size)) throw new Error(`bad chunk size line: ${JSON.stringify(raw.subarray(at, eol).toString('latin1'))}`);
    at = eol + 2;
    if (size === 0) {
      // Trailer fields, each ending in CRLF, then the empty line.
      for (;;) {
        const next = raw.indexOf('\r\n', at);
        if (next === -1) return undefined;
        if (next === at) return Buffer.concat(parts);
        at = next + 2;
      }
    }
    if (raw.length < at + size + 2) return undefined;
    parts.push(raw.subarray(at, at + size));
    at += size + 2;
  }
}

/**
 * Reads one final HTTP/1.1 response (interim 1xx skipped; framed by Content-Length or chunked coding, or up to
 * the close) from `socket`. Rejects if the connection closes without one; bounded by `timeoutMs`.
 */
export function readResponse(socket: Socket, timeoutMs = WAIT_MS): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
    const parse = (closed: boolean): RawResponse | undefined => {
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return undefined;
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0]!.split(' ')[1]);
      if (status >= 100 && status < 200 && status !== 101) {
        // An interim answer (100 Continue to an Expect): the final one follows.
        buf = buf.subarray(end + 4);
        return parse(closed);
      }
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const c = l.indexOf(':');
        headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
      }
      const body = buf.subarray(end + 4);
      // No body whatever the headers say (RFC 9112 §6.3); a HEAD's answer is the caller's to know.
      if (status === 204 || status === 304) return { status, headers, body: '' };
      if (/(^|,)\s*chunked\s*$/i.test(headers['transfer-encoding'] ?? '')) {
        const chunked = dechunk(body);
        return chunked === undefined ? undefined : { status, headers, body: chunked.toString() };
      }
      const length = headers['content-length'] !== undefined ? Number(headers['content-length']) : undefined;
      if (length !== undefined && body.length >= length) return { status, headers, body: body.subarray(0, length).toString() };
      if (length === undefined && closed) return { status, headers, body: body.toString() };
      return undefined;
    };
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      let r: RawResponse | undefined;
      try {
        r = parse(false);
      } catch (err) {
        done(err as Error);
        return;
      }
      if (r) done(undefined, r);
    };
    const onClose = () => {
      let r: RawResponse | undefined;
      try {
        r = parse(true);
      } catch (err) {
        done(err as Error);
        return;
      }
      done(r ? undefined : new Error(`connection closed without a response (${buf.length} bytes)`), r);
    };
    const done = (err?: Error, r?: RawResponse) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve(r!);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** Sends `head` (and `body`) on a new connection and reads one response; the connection is then closed. */
export async function rawRequest(port: number, head: string, body?: Buffer | string): Promise<RawResponse> {
  const socket = await rawConnect(port);
  try {
    const answer = readResponse(socket);
    socket.write(body === undefined ? head : Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(body)]));
    return await answer;
  } finally {
    socket.destroy();
  }
}

/** Resolves when the server closes `socket` (bounded). */
export async function closedByServer(socket: Socket, timeoutMs = WAIT_MS): Promise<void> {
  if (socket.destroyed) return;
  socket.resume(); // a FIN is only seen by a socket that reads
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    once(socket, 'close'),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the server kept the connection open for ${timeoutMs} ms`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
}
