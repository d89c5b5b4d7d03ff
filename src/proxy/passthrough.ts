// TLS passthrough (Istio Gateway `tls.mode: PASSTHROUGH`): a connection is sent, undecrypted, to the destination of the
// VirtualService `tls:` route whose sniHosts take the SNI of its ClientHello; bytes are then copied both ways as they come.
import { connect, type Socket } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import type { Listener, PassthroughRoute } from '../config/index.js';
import { type ClusterManager, DEFAULT_CONNECT_TIMEOUT_MS } from '../upstream/index.js';

/** A ClientHello must arrive in one TLS record (at most 2^14 bytes of payload, RFC 8446 §5.1), as Envoy's tls_inspector reads it. */
const MAX_RECORD = 5 + 16_384;

/**
 * The server name of a ClientHello at the start of `b`: a string, '' when it carries none, undefined while more bytes
 * are needed, null when `b` is not a TLS handshake (RFC 8446 §4.1.2, RFC 6066 §3).
 */
export function clientHelloSni(b: Buffer): string | undefined | null {
  if (b.length >= 1 && b[0] !== 0x16) return null;
  if (b.length < 5) return undefined;
  const recordLength = b.readUInt16BE(3);
  if (recordLength > 16_384) return null;
  if (b.length < 5 + recordLength) return undefined;
  const end = 5 + recordLength;
  let p = 5;
  const need = (n: number) => p + n <= end;
  if (!need(4) || b[p] !== 0x01) return null;
  const helloEnd = p + 4 + b.readUIntBE(p + 1, 3);
  // A ClientHello split over two records is legal but rare; it is refused rather than buffered without end.
  if (helloEnd > end) return null;
  p += 4 + 2 + 32;
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

/** Istio's SNI match: an exact name before the longest wildcard suffix; `*` last; among equals the first route listed. */
export function routeFor(routes: readonly PassthroughRoute[], sni: string): PassthroughRoute | undefined {
  let best: PassthroughRoute | undefined;
  let bestScore = -1;
  for (const r of routes) {
    for (const h of r.sniHosts) {
      let score = -1;
      if (h === sni) score = Number.MAX_SAFE_INTEGER;
      else if (h === '*') score = 0;
      else if (h.startsWith('*.') && sni.length > h.length - 1 && sni.endsWith(h.slice(1))) score = h.length;
      if (score > bestScore) {
        best = r;
        bestScore = score;
      }
    }
  }
  return best;
}

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

/** How a passed-through connection ended up: sent on, or closed for one of these reasons. */
type Result = 'forwarded' | 'not_tls' | 'no_sni' | 'no_route' | 'no_endpoint' | 'hello_timeout' | 'closed_early';

export class Passthrough {
  private readonly connections: Counter<'port' | 'result'>;

  constructor(private readonly deps: PassthroughDeps) {
    this.connections = new Counter({
      name: 'shadowgate_tls_passthrough_connections_total',
      help: 'Connections to TLS PASSTHROUGH ports, by what became of them: forwarded by SNI, or closed (no SNI, no tls route, no endpoint, ...)',
      labelNames: ['port', 'result'],
      registers: deps.registry ? [deps.registry] : [],
    });
  }

  /** Takes the connection when the port passes TLS through now (the snapshot decides per connection, as for TLS termination). */
  accept(port: number, raw: Socket): boolean {
    const listener = this.deps.listener(port);
    if (!listener?.passthrough) return false;
    const routes = listener.passthrough;
    let buffered = Buffer.alloc(0);
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
      buffered = Buffer.concat([buffered, chunk]);
      const sni = clientHelloSni(buffered);
      if (sni === undefined) {
        if (buffered.length >= MAX_RECORD) refuse('not_tls');
        return;
      }
      cleanup();
      raw.pause();
      if (sni === null) return refuse('not_tls');
      // Istio's passthrough filter chains match by SNI only: a ClientHello without one goes nowhere.
      if (sni === '') return refuse('no_sni');
      const route = routeFor(routes, sni);
      if (!route) return refuse('no_route');
      if (!this.forward(raw, buffered, route)) return refuse('no_endpoint');
      this.connections.inc({ port: String(port), result: 'forwarded' });
    };
    raw.on('data', onData);
    raw.on('error', onError);
    raw.on('end', onEnd);
    // Closed by someone else meanwhile (the connection limit, a shutdown): no timer left behind.
    raw.once('close', () => clearTimeout(timer));
    return true;
  }

  /** Dials an endpoint of the route's destination (by weight) and splices; false when the cluster has none to pick. */
  private forward(raw: Socket, hello: Buffer, route: PassthroughRoute): boolean {
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
      up.write(hello);
      raw.pipe(up);
      up.pipe(raw);
      raw.resume();
    });
    // Either side ending or failing ends the other: a half-open tunnel would hold both sockets.
    up.once('error', () => raw.destroy());
    raw.once('error', () => up.destroy());
    up.once('close', () => {
      clearTimeout(connectTimer);
      raw.destroy();
      done(connected);
    });
    raw.once('close', () => up.destroy());
    return true;
  }
}
