// Upstream connections that skip an interim `100 Continue`: undici's HTTP/1 client destroys the connection on
// any 100 (it never sends `Expect`), which turned a correct upstream answer into a 503. RFC 9110 §15.2: "A client
// MUST be able to parse one or more 1xx responses received prior to a final response, even if the client does
// not expect one"; Envoy drops an upstream 100 it did not ask for (proxy_100_continue off) and waits for the
// final answer. Other 1xx (103 Early Hints) undici already passes on, and the data path ignores them.
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { buildConnector as BuildConnector } from 'undici';
import { closeWhenSilent } from './socket-idle.js';
import { buildConnector } from './undici-parts.js';

/** `HTTP/1.x 1`: the start of an interim (1xx) status line; two more digits and a space or CR follow. */
const PREFIX = Buffer.from('HTTP/1.1 1');
/** Bytes needed to read an interim status code and the byte after it. */
const STATUS_LINE_START = 13;
const TERMINATOR = [13, 10, 13, 10];

type Parser = { statusCode: number; headers: unknown[] };

/**
 * Where undici keeps a connection's HTTP parser. Between two responses its statusCode is 0 and it has no
 * headers: only then can bytes read start a response.
 */
function parserOf(socket: Socket, cache: { key?: symbol | null }): Parser | undefined {
  if (cache.key === undefined) cache.key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'parser') ?? null;
  return cache.key ? ((socket as unknown as Record<symbol, Parser | null>)[cache.key] ?? undefined) : undefined;
}

/** True while `buf` may still be the start of an interim status line (the minor version may be 0 or 1). */
function startsLikeInterim(buf: Buffer): boolean {
  const n = Math.min(buf.length, PREFIX.length);
  for (let i = 0; i < n; i++) {
    if (i === 7 ? buf[i] !== 0x30 && buf[i] !== 0x31 : buf[i] !== PREFIX[i]) return false;
  }
  return true;
}

/**
 * Filters whole `100` responses out of what the socket hands undici, only where a response starts (so a body
 * is never touched): an interim head has no body and ends at its blank line, so after one the next response
 * starts. Costs one property read per read from the socket.
 */
export function skipContinue(socket: Socket): void {
  const push = socket.push;
  const cache: { key?: symbol | null } = {};
  let held: Buffer | undefined;
  /** Inside an interim head: a 100's bytes are dropped, another's passed on, up to its blank line. */
  let inside: 'drop' | 'pass' | undefined;
  let matched = 0;
  socket.push = function (this: Socket, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) {
      if (held) push.call(this, held);
      held = undefined;
      return push.call(this, null);
    }
    if (!Buffer.isBuffer(chunk)) return push.call(this, chunk, encoding);
    // At a push's start only undici's parser knows whether a response starts here; after an interim head, one does.
    let atStart = inside !== undefined;
    if (!atStart) {
      const parser = parserOf(this, cache);
      atStart = parser?.statusCode === 0 && parser.headers.length === 0;
    }
    // The common read (mid-body, or a final status line) passes through as it came: no array, no copy.
    if (held === undefined && !inside && (!atStart || !startsLikeInterim(chunk))) return push.call(this, chunk);
    let buf = held ? Buffer.concat([held, chunk]) : chunk;
    held = undefined;
    const out: Buffer[] = [];
    for (;;) {
      if (inside !== undefined) {
        let i = 0;
        for (; i < buf.length && matched < 4; i++) matched = buf[i] === TERMINATOR[matched] ? matched + 1 : buf[i] === 13 ? 1 : 0;
        if (inside === 'pass') out.push(buf.subarray(0, i));
        buf = buf.subarray(i);
        if (matched < 4) break;
        inside = undefined;
        atStart = true;
      }
      if (!atStart || buf.length === 0 || !startsLikeInterim(buf)) break;
      if (buf.length < STATUS_LINE_START) {
        held = buf; // too short to tell yet
        buf = buf.subarray(buf.length);
        break;
      }
      const code = Number(buf.subarray(9, 12).toString('latin1'));
      const after = buf[12];
      // 101 switches protocols: what follows is no HTTP response.
      if (!(code >= 100 && code <= 199) || code === 101 || (after !== 0x20 && after !== 13)) break;
      inside = code === 100 ? 'drop' : 'pass';
      matched = 0;
    }
    if (buf.length > 0) out.push(buf);
    if (out.length === 0) return true;
    return push.call(this, out.length === 1 ? out[0] : Buffer.concat(out));
  } as Socket['push'];
}

/**
 * undici's default connector (same options a Pool builds) with `skipContinue` on every connection, each closed
 * after `silentMs` without a byte either way (socket-idle.ts).
 */
export function skipContinueConnector(connectTimeoutMs: number, tls: ConnectionOptions | undefined, silentMs: number): BuildConnector.connector {
  // With an https origin undici's connector dials TLS with these options (CA, client certificate, SNI, checks).
  const connect = buildConnector({ ...(tls as BuildConnector.BuildOptions | undefined), timeout: connectTimeoutMs });
  // undici would send the request's Host as SNI; the cluster's SNI (tls.ts) is what Istio sends and verifies.
  const servername = tls?.servername;
  return (opts, callback) =>
    connect(servername ? { ...opts, servername } : opts, (err, socket) => {
      if (socket) {
        skipContinue(socket as Socket);
        closeWhenSilent(socket as Socket, silentMs);
      }
      (callback as (e: Error | null, s: unknown) => void)(err, socket);
    });
}
