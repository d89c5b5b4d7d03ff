// Phase 1's checks on a request head that Node's parser let through: header count, Host, request-target form,
// and the path normalised as Istio's Envoy does, so no route rule can be bypassed by spelling.
import type { IncomingMessage } from 'node:http';
import { normalizeTarget } from '../routing/index.js';
import type { DownstreamRejectReason } from './downstream-stats.js';
import type { DownstreamLimits } from './limits.js';

export type HeadVerdict = { ok: true; path: string; authority: string } | { ok: false; status: number; reason: DownstreamRejectReason; message: string };

/** RFC 3986 host (reg-name, IPv4, bracketed IP literal) with an optional port, or empty (HTTP/1.0). */
const AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=%:[\]]*$/;

function refuse(status: number, reason: DownstreamRejectReason, message: string): HeadVerdict {
  return { ok: false, status, reason, message };
}

/** `http://host:port/p?q` → [authority, origin-form target]; undefined when it is no http(s) absolute-form. */
function splitAbsolute(target: string): [string, string] | undefined {
  const scheme = target.slice(0, 8).toLowerCase();
  const start = scheme.startsWith('http://') ? 7 : scheme.startsWith('https://') ? 8 : -1;
  if (start === -1) return undefined;
  let end = start;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === 0x2f || c === 0x3f || c === 0x23) break; // / ? #
    end++;
  }
  const rest = target.slice(end);
  return [target.slice(start, end), rest === '' || rest[0] !== '/' ? `/${rest}` : rest];
}

/**
 * The path and authority routing uses, or why the request is refused. Runs before anything else reads
 * the head; one pass over the raw header names.
 */
export function checkRequestHead(req: IncomingMessage, limits: Pick<DownstreamLimits, 'maxRequestHeaders' | 'pathNormalization'>): HeadVerdict {
  const raw = req.rawHeaders;
  // The listeners leave Node's maxHeadersCount off (listeners.ts), so rawHeaders holds every header of the head:
  // counting here means a Content-Length or Host past our limit is never lost unnoticed.
  if (raw.length / 2 > limits.maxRequestHeaders) {
    return refuse(431, 'too_many_headers', `more than ${limits.maxRequestHeaders} request headers`);
  }
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // `host` in any case, without allocating a lower-cased copy of every name.
    if (
      name.length === 4 &&
      (name.charCodeAt(0) | 0x20) === 0x68 &&
      (name.charCodeAt(1) | 0x20) === 0x6f &&
      (name.charCodeAt(2) | 0x20) === 0x73 &&
      (name.charCodeAt(3) | 0x20) === 0x74
    ) {
      hosts++;
    }
  }
  // RFC 9112 §3.2: more than one Host field line is a 400.
  if (hosts > 1) return refuse(400, 'duplicate_host', 'more than one Host header');
  // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing (an HTTP/1.0 hop in front may have
  // read its body by another rule). nginx answers 400 too; Node's parser would read it as chunked.
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0 && req.headers['transfer-encoding'] !== undefined) {
    return refuse(400, 'invalid_framing', 'Transfer-Encoding in an HTTP/1.0 request');
  }

  const target = req.url ?? '';
  let authority = req.headers.host ?? '';
  let originForm = target;
  if (target.charCodeAt(0) !== 0x2f) {
    const absolute = splitAbsolute(target);
    // Envoy answers any other non-origin form (`*`, a bare word) with 404; CONNECT never gets here.
    if (!absolute) return refuse(404, 'invalid_target', 'only origin-form and absolute-form request targets are served');
    // RFC 9112 §3.2.2: with an absolute-form target the Host header is ignored and the target's authority used
    // (Envoy's HTTP/1 codec does the same). RFC 9110 §4.2.4: userinfo in an http(s) URI is an error.
    [authority, originForm] = absolute;
    if (authority === '' || authority.includes('@')) return refuse(400, 'invalid_target', 'invalid authority in the request target');
  }
  if (!AUTHORITY.test(authority)) return refuse(400, 'invalid_host', 'invalid Host');
  const path = normalizeTarget(originForm, limits.pathNormalization);
  if (path === undefined) return refuse(400, 'invalid_path', 'invalid path');
  return { ok: true, path, authority };
}
