// Maps Istio's connectionPool settings onto undici Pool options, once per endpoint pool.
import type { Pool } from 'undici';
import type { ConnectionPoolSettings } from '../config/model.js';
import { skipContinueConnector } from './skip-continue.js';
import { UPSTREAM_IDLE_TIMEOUT_MS } from './socket-idle.js';
import type { TlsConnect } from './tls.js';

/** Envoy's cluster connect_timeout default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/**
 * Idle keep-alive when idleTimeoutMs is unset. Envoy/Istio default to 1h, but Node servers close idle
 * sockets after 5s and pools here never retry, so reusing a socket the server is closing would turn
 * into a reset the client sees. undici's own default (4s) stays under Node's 5s.
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 4_000;

/** Istio treats 0 as "unset" for these fields; so do we. */
function positive(n: number | undefined): number | undefined {
  return n !== undefined && Number.isFinite(n) && n > 0 ? Math.floor(n) : undefined;
}

/** The settings that shape a pool; two endpoints with equal keys can share nothing else. */
export interface PoolShape {
  maxConnections: number | undefined;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  maxRequestsPerConnection: number | undefined;
  /** HTTP/2 cleartext to the endpoint (an H2Pool) instead of HTTP/1.1 (undici's Pool). */
  http2: boolean;
  maxConcurrentStreams: number | undefined;
  /** TLS origination (tls.ts); absent: plain HTTP. */
  tls?: TlsConnect | undefined;
}

export function poolShape(s: ConnectionPoolSettings, defaultMaxConnections?: number, http2 = false): PoolShape {
  return {
    http2,
    maxConcurrentStreams: positive(s.maxConcurrentStreams),
    maxConnections: positive(s.maxConnections) ?? defaultMaxConnections,
    connectTimeoutMs: positive(s.connectTimeoutMs) ?? DEFAULT_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: positive(s.idleTimeoutMs) ?? DEFAULT_IDLE_TIMEOUT_MS,
    maxRequestsPerConnection: positive(s.maxRequestsPerConnection),
  };
}

export function shapeKey(s: PoolShape): string {
  const h2 = s.http2 ? `/h2:${s.maxConcurrentStreams ?? '-'}` : '';
  return `${s.maxConnections ?? '-'}/${s.connectTimeoutMs}/${s.idleTimeoutMs}/${s.maxRequestsPerConnection ?? '-'}${h2}/${s.tls?.key ?? 'plain'}`;
}

export function poolOptions(s: PoolShape): Pool.Options {
  return {
    // null = no cap (undici's default); Istio's default maxConnections is 2^32-1, effectively the same.
    connections: s.maxConnections ?? null,
    // The connect timeout goes to the connector, which also skips an upstream's unasked-for 100 Continue and closes
    // a connection silent past the idle bound: never before the pool's own keep-alive would close an idle one.
    connect: skipContinueConnector(s.connectTimeoutMs, s.tls?.options, Math.max(UPSTREAM_IDLE_TIMEOUT_MS, s.idleTimeoutMs)),
    // One request per connection at a time: HTTP/1.1 pipelining makes a slow answer stall the rest.
    // 0 turns keep-alive off (`connection: close`), which is what Istio means by maxRequestsPerConnection 1.
    pipelining: s.maxRequestsPerConnection === 1 ? 0 : 1,
    keepAliveTimeout: s.idleTimeoutMs,
    // Servers' `Keep-Alive: timeout=` hints may shorten the idle time but never stretch it past ours.
    keepAliveMaxTimeout: s.idleTimeoutMs,
    // undici's maxRequestsPerClient lets one request more through than it says (the one that hits the
    // limit is sent with `connection: close`), so N - 1 gives Envoy's max_requests_per_connection of N.
    ...(s.maxRequestsPerConnection !== undefined && s.maxRequestsPerConnection > 1 ? { maxRequestsPerClient: s.maxRequestsPerConnection - 1 } : {}),
  };
}

export function originOf(address: string, port: number, scheme: 'http' | 'https' = 'http'): string {
  return address.includes(':') && !address.startsWith('[') ? `${scheme}://[${address}]:${port}` : `${scheme}://${address}:${port}`;
}
