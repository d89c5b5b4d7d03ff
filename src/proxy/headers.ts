// Header hygiene between downstream and upstream: hop-by-hop headers never cross a proxy (RFC 9110 §7.6.1).
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect', 'http2-settings']);

export type HeaderRecord = Record<string, string | string[]>;

/** Copies headers without hop-by-hop ones (and without those the Connection header names). */
export function forwardableHeaders(headers: Record<string, string | string[] | undefined>): HeaderRecord {
  const connection = headers.connection;
  const named = connection
    ? String(connection)
        .toLowerCase()
        .split(',')
        .map((s) => s.trim())
    : [];
  const out: HeaderRecord = {};
  for (const name in headers) {
    const v = headers[name];
    // HTTP/2 pseudo-headers (`:path`...) are the request line, not headers. `te: trailers` is the one TE value
    // that crosses (RFC 9113 §8.2.2; Envoy keeps it): gRPC servers require it.
    if (v === undefined || name.charCodeAt(0) === 58 || (named.length > 0 && named.includes(name))) continue;
    if (HOP_BY_HOP.has(name) && !(name === 'te' && v === 'trailers')) continue;
    out[name] = v;
  }
  return out;
}

/** Response headers from undici, ready for `res.writeHead`. */
export function responseHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): HeaderRecord {
  return forwardableHeaders(headers as Record<string, string | string[] | undefined>);
}

export function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
