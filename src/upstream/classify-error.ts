// Turns an error thrown by an undici request into the outcome kind that outlier detection and retries use.
import type { UpstreamFailure } from './failure.js';
import { UPSTREAM_IDLE_CODE } from './socket-idle.js';

// Errors raised before a connection exists: nothing was sent, so the request is always safe to retry.
const CONNECT_CODES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
// A TLS handshake the gateway refused (chain, name, expiry) or that failed: Envoy's UF with a "TLS error" reason.
const TLS_CODES = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'EPROTO',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', UPSTREAM_IDLE_CODE]);
const CANCEL_CODES = new Set(['UND_ERR_ABORTED', 'ABORT_ERR']);
/**
 * An HTTP/2 stream the upstream never processed: refused (h2/h2-pool.ts names it), or opened on a session the
 * upstream was already leaving (Node's GOAWAY error). Safe to retry whatever the method.
 */
export const REFUSED_STREAM_CODE = 'UPSTREAM_REFUSED_STREAM';
const REFUSED_CODES = new Set([REFUSED_STREAM_CODE, 'ERR_HTTP2_GOAWAY_SESSION']);

/**
 * Classifies an error from `dispatcher.request()`/`dispatch()`. Looks through `cause` chains because
 * fetch-style wrappers hide the socket error one level down. Anything unrecognised is a `reset`: the
 * exchange broke after (or while) it started, which is what a reset means to Envoy.
 */
export function classifyUpstreamError(err: unknown): UpstreamFailure {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e !== null && typeof e === 'object'; depth++) {
    const { code, name } = e as { code?: unknown; name?: unknown };
    if (typeof code === 'string') {
      if (CONNECT_CODES.has(code) || TLS_CODES.has(code) || code.startsWith('ERR_SSL_')) return 'connect-failure';
      if (TIMEOUT_CODES.has(code)) return 'timeout';
      if (CANCEL_CODES.has(code)) return 'cancelled';
      if (REFUSED_CODES.has(code)) return 'refused-stream';
      if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
    }
    if (name === 'AbortError') return 'cancelled';
    if (name === 'TimeoutError') return 'timeout';
    e = (e as { cause?: unknown }).cause;
  }
  return 'reset';
}
