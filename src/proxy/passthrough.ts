// TLS passthrough (Istio Gateway `tls.mode: PASSTHROUGH`, Gateway API TLS listeners in Passthrough mode): a connection is
// sent, undecrypted, to the destination of the route (a VirtualService `tls:` route, a TLSRoute) whose sniHosts take the
// SNI of its ClientHello; bytes are then copied both ways as they come. TLS tunnels (Gateway API TLS listeners in
// Terminate mode) are chosen the same way, but terminated here first: their decrypted bytes go through the same dialer.
import { connect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Counter, type Registry } from 'prom-client';
import type { Listener, PassthroughRoute, ServerTls } from '../config/index.js';
import { type ClusterManager, DEFAULT_CONNECT_TIMEOUT_MS } from '../upstream/index.js';

/**
 * The most bytes a client may send before its ClientHello is whole, record headers included. A handshake message may
 * span records (RFC 8446 §5.1); a real ClientHello is a few hundred bytes, a few KiB with post-quantum key shares.
 */
const MAX_CLIENT_HELLO_BYTES = 64 * 1024;
/** A TLS record's payload is at most 2^14 bytes (RFC 8446 §5.1). */
const MAX_RECORD_PAYLOAD = 16_384;
const HANDSHAKE = 0x16;
const CLIENT_HELLO = 0x01;

/**
 * Reads the ClientHello at the start of a connection as its bytes arrive, reassembled from the consecutive handshake
 * records it spans. Each byte is copied a bounded number of times, however the client slices its writes.
 */
export class ClientHelloReader {
  /** Every byte received, to be sent on unchanged. */
  private readonly received: Buffer[] = [];
  private receivedBytes = 0;
  /** The bytes of the record not yet whole. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The payload length of the pending record, once its header is in. */
  private recordLength: number | undefined;
  /** The handshake bytes of the whole records so far. */
  private readonly fragments: Buffer[] = [];
  private helloBytes = 0;
  /** The ClientHello's length with its 4-byte header, once that header is in. */
  private helloLength: number | undefined;
  private result: string | null | undefined;

  /**
   * Adds bytes. The server name once the ClientHello is whole: a string, '' when it carries none; undefined while
   * more bytes are needed; null when this is not a ClientHello (RFC 8446 §4.1.2, RFC 6066 §3) or it exceeds the bound.
   */
  push(chunk: Buffer): string | undefined | null {
    if (this.result !== undefined) return this.result;
    if (chunk.length === 0) return undefined;
    this.received.push(chunk);
    this.receivedBytes += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.result = this.read();
    if (this.result === undefined && this.receivedBytes >= MAX_CLIENT_HELLO_BYTES) this.result = null;
    return this.result;
  }

  /** Everything received so far, in one buffer. */
  bytes(): Buffer {
    return Buffer.concat(this.received, this.receivedBytes);
  }

  private read(): string | undefined | null {
    for (;;) {
      // Until the ClientHello is whole, only handshake records may come (no interleaving, RFC 8446 §5.1).
      if (this.pendingBytes >= 1 && this.pending[0]![0] !== HANDSHAKE) return null;
      if (this.recordLength === undefined) {
        if (this.pendingBytes < 5) return undefined;
        const header = Buffer.concat(this.pending, 5);
        this.recordLength = header.readUInt16BE(3);
        // Zero-length handshake fragments are forbidden (RFC 8446 §5.1).
        if (this.recordLength === 0 || this.recordLength > MAX_RECORD_PAYLOAD) return null;
      }
      if (this.pendingBytes < 5 + this.recordLength) return undefined;
      // One chunk holding many records is sliced, not copied once per record.
      const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
      this.fragments.push(all.subarray(5, 5 + this.recordLength));
      this.helloBytes += this.recordLength;
      const rest = all.subarray(5 + this.recordLength);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
      this.recordLength = undefined;
      if (this.helloLength === undefined && this.helloBytes >= 4) {
        const header = Buffer.concat(this.fragments, 4);
        if (header[0] !== CLIENT_HELLO) return null;
        this.helloLength = 4 + header.readUIntBE(1, 3);
        // Never whole within the bound: refused now rather than after buffering up to it.
        if (this.helloLength > MAX_CLIENT_HELLO_BYTES) return null;
      }
      if (this.helloLength !== undefined && this.helloBytes >= this.helloLength) {
        return helloSni(Buffer.concat(this.fragments, this.helloBytes).subarray(0, this.helloLength));
      }
    }
  }
}

/** The server name of the ClientHello at the start of `b` (see ClientHelloReader.push). */
export function clientHelloSni(b: Buffer): string | undefined | null {
  return new ClientHelloReader().push(b);
}

/** The server name of a whole ClientHello message (its 4-byte handshake header first); null when it is malformed. */
function helloSni(b: Buffer): string | null {
  const helloEnd = b.length;
  let p = 4 + 2 + 32;
  const need = (n: number) => p + n <= helloEnd;
  if (!need(1)) return null;
  p += 1 + b[p]!;
  if (!need(2)) return null;
  p += 2 + b.readUInt16BE(p);
  if (!need(1)) return null;
  p += 1 + b[p]!;
  if (p === helloEnd) return '';
  if (!need(2)) return null;
  const extEnd = p + 2 + b.readUInt16BE(p);
  p += 2;
  if (extEnd > helloEnd) return null;
  while (p + 4 <= extEnd) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) return null;
    if (type === 0) {
      // server_name: a list of (type, name); host_name is type 0.
      let q = p + 2;
      while (q + 3 <= p + len) {
        const nameType = b[q]!;
        const nameLen = b.readUInt16BE(q + 1);
        if (q + 3 + nameLen > p + len) return null;
        if (nameType === 0) return b.toString('latin1', q + 3, q + 3 + nameLen).toLowerCase();
        q += 3 + nameLen;
      }
      return '';
    }
    p += len;
  }
  return '';
}

/** How specifically a server name pattern takes `sni`: an exact name, then the longest wildcard suffix, `*` last; -1 not at all. */
function sniScore(pattern: string, sni: string): number {
  if (pattern === sni) return Number.MAX_SAFE_INTEGER;
  if (pattern === '*') return 0;
  if (pattern.startsWith('*.') && sni.length > pattern.length - 1 && sni.endsWith(pattern.slice(1))) return pattern.length;
  return -1;
}

/** Istio's SNI match: an exact name before the longest wildcard suffix; `*` last; among equals the first route listed. */
export function routeFor(routes: readonly PassthroughRoute[], sni: string): { route: PassthroughRoute | undefined; score: number } {
  let route: PassthroughRoute | undefined;
  let score = -1;
  for (const r of routes) {
    for (const h of r.sniHosts) {
      const s = sniScore(h, sni);
      if (s > score) {
        route = r;
        score = s;
      }
    }
  }
  return { route, score };
}

/**
 * How specifically the port's terminated HTTP servers take `sni` (sniScore: '' is taken by a `*` server only); tunnel
 * servers are scored by their routes instead.
 */
function terminatedScore(servers: readonly ServerTls[] | undefined, sni: string): number {
  let score = -1;
  for (const t of servers ?? []) if (!t.tunnel) for (const h of t.hosts) score = Math.max(score, sniScore(h, sni));
  return score;
}

/** Terminates a tunnel's TLS (no ALPN) and calls `secured` with the decrypted socket; false when the port cannot. */
export type Tunnel = (raw: Socket, secured: (socket: TLSSocket) => void) => boolean;

export interface PassthroughDeps {
  /** The served snapshot's listener on a port (undefined: none). */
  listener(port: number): Listener | undefined;
  clusters: ClusterManager;
  /** The cluster's DestinationRule `connectionPool.tcp.connectTimeout` (undefined: Istio's default). */
  connectTimeoutMs(cluster: string): number | undefined;
  random: () => number;
  /** How long a client may take to send its ClientHello (the head timeout of the HTTP ports). */
  helloTimeoutMs: number;
  registry?: Registry;
}

/**
 * How a passed-through connection ended up: sent on (`forwarded`), handed to the port's HTTP servers (`terminated`),
 * terminated and its decrypted bytes sent on (`tunneled`), or closed for one of these reasons.
 */
type Result = 'forwarded' | 'terminated' | 'tunneled' | 'not_tls' | 'no_sni' | 'no_route' | 'no_endpoint' | 'hello_timeout' | 'closed_early';

export class Passthrough {
  private readonly connections: Counter<'port' | 'result'>;

  constructor(private readonly deps: PassthroughDeps) {
    this.connections = new Counter({
      name: 'shadowgate_tls_passthrough_connections_total',
      help: 'Connections to TLS PASSTHROUGH ports and TLS tunnel ports, by what became of them: forwarded by SNI, terminated (an HTTPS server on the port named it), tunneled (terminated for a TLSRoute, decrypted bytes forwarded), or closed (no SNI, no tls route, no endpoint, ...)',
      labelNames: ['port', 'result'],
      registers: deps.registry ? [deps.registry] : [],
    });
  }

  /**
   * Takes the connection when the port passes TLS through or tunnels it now (the snapshot decides per connection, as
   * for TLS termination). On a port with HTTP servers as well, a ClientHello whose SNI one of them takes more
   * specifically than any tls route (Envoy's filter chain match: the exact name, then the longest wildcard; a tie
   * goes to the route) is given to `terminate` with the bytes read so far put back. One whose SNI a tunnel route takes
   * more specifically than any passthrough route is given to `tunnel` so, then forwarded decrypted (tunnelled()).
   */
  accept(port: number, raw: Socket, terminate?: (raw: Socket) => boolean, tunnel?: Tunnel): boolean {
    const listener = this.deps.listener(port);
    if (!listener?.passthrough && !listener?.tunnel) return false;
    const routes = listener.passthrough ?? [];
    const tunnels = tunnel ? (listener.tunnel ?? []) : [];
    const terminated = terminate ? listener.tls : undefined;
    const hello = new ClientHelloReader();
    const timer = setTimeout(() => refuse('hello_timeout'), this.deps.helloTimeoutMs);
    const refuse = (result: Result) => {
      cleanup();
      this.connections.inc({ port: String(port), result });
      raw.destroy();
    };
    const cleanup = () => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('error', onError);
      raw.off('end', onEnd);
    };
    const onError = () => {
      cleanup();
      raw.destroy();
    };
    const onEnd = () => refuse('closed_early');
    const onData = (chunk: Buffer) => {
      const sni = hello.push(chunk);
      if (sni === undefined) return;
      cleanup();
      raw.pause();
      if (sni === null) return refuse('not_tls');
      const { route, score } = sni === '' ? { route: undefined, score: -1 } : routeFor(routes, sni);
      const tunnelled = sni === '' ? { route: undefined, score: -1 } : routeFor(tunnels, sni);
      if (terminate && terminatedScore(terminated, sni) > Math.max(score, tunnelled.score)) {
        raw.unshift(hello.bytes());
        this.connections.inc({ port: String(port), result: 'terminated' });
        if (!terminate(raw)) raw.destroy();
        return;
      }
      if (tunnel && tunnelled.score > score) {
        // Refused before the handshake when no route takes the name (a listener's hostname held by its routes).
        if (!tunnelled.route || tunnelled.route.destinations.length === 0) return refuse('no_route');
        raw.unshift(hello.bytes());
        if (!tunnel(raw, (socket) => this.tunnelled(port, socket))) raw.destroy();
        return;
      }
      // Istio's passthrough filter chains match by SNI only: a ClientHello without one goes nowhere.
      if (sni === '') return refuse('no_sni');
      // A route with no destination holds a name for its listener (a Gateway API TLS listener's hostname): refused.
      if (!route || route.destinations.length === 0) return refuse('no_route');
      if (!this.forward(raw, hello.bytes(), route)) return refuse('no_endpoint');
      this.connections.inc({ port: String(port), result: 'forwarded' });
    };
    raw.on('data', onData);
    raw.on('error', onError);
    raw.on('end', onEnd);
    // Closed by someone else meanwhile (the connection limit, a shutdown): no timer left behind.
    raw.once('close', () => clearTimeout(timer));
    return true;
  }

  /**
   * A tunnel's decrypted socket, once its handshake is done: the route its SNI takes now (the snapshot may have
   * changed during the handshake) gets its bytes, as a passed-through connection's.
   */
  private tunnelled(port: number, socket: TLSSocket): void {
    socket.pause();
    const sni = typeof socket.servername === 'string' ? socket.servername.toLowerCase() : '';
    const { route } = sni === '' ? { route: undefined } : routeFor(this.deps.listener(port)?.tunnel ?? [], sni);
    // No route now (the snapshot changed during the handshake), or no endpoint to dial: closed.
    const result: Result = !route || route.destinations.length === 0 ? 'no_route' : this.forward(socket, undefined, route) ? 'tunneled' : 'no_endpoint';
    this.connections.inc({ port: String(port), result });
    if (result !== 'tunneled') socket.destroy();
  }

  /**
   * Dials an endpoint of the route's destination (by weight) and splices, `hello` (the bytes already read) first;
   * false when the cluster has none to pick. `raw` is the client's socket, or a tunnel's decrypted one.
   */
  private forward(raw: Socket, hello: Buffer | undefined, route: PassthroughRoute): boolean {
    const total = route.destinations.reduce((n, d) => n + d.weight, 0);
    let x = this.deps.random() * total;
    let dest = route.destinations.at(-1)!;
    for (const d of route.destinations) {
      x -= d.weight;
      if (x < 0) {
        dest = d;
        break;
      }
    }
    const picked = this.deps.clusters.pick(dest.cluster);
    if (!picked.ok) return false;
    const { address, port: upstreamPort } = picked.endpoint;
    const up = connect({ host: address, port: upstreamPort });
    let connected = false;
    // Istio's connectTimeout for the cluster (an endpoint that never answers the SYN must not hold the client).
    const connectTimeoutMs = this.deps.connectTimeoutMs(dest.cluster) ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const connectTimer = setTimeout(() => up.destroy(), connectTimeoutMs);
    const done = (ok: boolean) => {
      picked.onDone(ok ? { kind: 'response', status: 200 } : { kind: 'connect-failure' });
    };
    up.once('connect', () => {
      clearTimeout(connectTimer);
      connected = true;
      if (hello) up.write(hello);
      raw.pipe(up);
      up.pipe(raw);
      raw.resume();
    });
    // Either side ending or failing ends the other: a half-open tunnel would hold both sockets.
    up.on('error', () => raw.destroy());
    raw.on('error', () => up.destroy());
    up.once('close', () => {
      clearTimeout(connectTimer);
      raw.destroy();
      done(connected);
    });
    raw.once('close', () => up.destroy());
    return true;
  }
}
