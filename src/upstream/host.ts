// One endpoint of one cluster: its pool (undici's for HTTP/1.1, an H2Pool for h2c) and the health state that must outlive config updates.
import type { Endpoint } from '../config/model.js';
import { backoffDelay, type ConnectBackoffOptions } from './connect-backoff.js';
import { H2Pool } from './h2/index.js';
import { hashString } from './hash.js';
import { originOf, type PoolShape, poolOptions } from './pool-options.js';
import { Pool } from './undici-parts.js';

export class Host {
  readonly origin: string;
  readonly pool: Pool | H2Pool;
  /** Consistent-hash seed, fixed per address so a key maps to the same endpoint across updates. */
  readonly seed: number;
  /** Refreshed on every update: labels and weight may change without touching the pool. */
  endpoint: Endpoint;
  /** Envoy requires weights >= 1; a missing or zero weight counts as 1. */
  weight: number;
  active = 0;
  /** Set once the endpoint left the config: its pool drains and its outcomes no longer count. */
  retired = false;
  private readonly maxConnections: number | undefined;

  // Outlier detection (see outlier.ts).
  consecutive5xx = 0;
  consecutiveGateway = 0;
  ejected = false;
  ejectedUntil = 0;
  ejections = 0;
  /** Envoy's eject-time backoff: ejection lasts base × this; grows per ejection, shrinks while healthy. */
  ejectMultiplier = 0;
  lastUnejectAt: number | undefined;

  // Connect backoff (see connect-backoff.ts); timeouts in a row count as a failed dial (cluster.ts).
  connectFailures = 0;
  consecutiveTimeouts = 0;
  /** Set while backed off for timeouts: a TCP connect proves nothing then, only an answer does. */
  stuck = false;
  backoffUntil = 0;
  /** True while the one request allowed through after a backoff is finding out whether it connects. */
  probing = false;

  constructor(
    readonly key: string,
    endpoint: Endpoint,
    shape: PoolShape,
    private readonly backoff: ConnectBackoffOptions | undefined,
    private readonly now: () => number,
  ) {
    this.endpoint = endpoint;
    this.weight = weightOf(endpoint);
    this.maxConnections = shape.maxConnections;
    this.origin = originOf(endpoint.address, endpoint.port, shape.tls ? 'https' : 'http');
    this.seed = hashString(`${endpoint.address}:${endpoint.port}`);
    this.pool = shape.http2
      ? new H2Pool(this.origin, {
          connectTimeoutMs: shape.connectTimeoutMs,
          idleTimeoutMs: shape.idleTimeoutMs,
          maxConnections: shape.maxConnections,
          maxConcurrentStreams: shape.maxConcurrentStreams,
          maxRequestsPerConnection: shape.maxRequestsPerConnection,
          tls: shape.tls?.options,
        })
      : new Pool(this.origin, poolOptions(shape));
    // Pool events, not request outcomes, drive the backoff: one refused dial fails every request queued
    // behind it, and that is one failure, not N.
    this.pool.on('connect', () => this.connected());
    this.pool.on('connectionError', () => this.connectFailed());
  }

  /**
   * Requests this endpoint runs at once before one has to wait for a connection: one per connection over
   * HTTP/1.1 (no pipelining), the connections' stream slots over HTTP/2. Infinite without a connection cap.
   */
  capacity(): number {
    if (this.pool instanceof H2Pool) return this.pool.capacity();
    return this.maxConnections ?? Number.POSITIVE_INFINITY;
  }

  /** Requests picked for this endpoint beyond what it runs at once: they wait for a connection (or a stream). */
  pending(): number {
    return Math.max(0, this.active - this.capacity());
  }

  /** A new config brought the same address and pool shape: keep the pool and health, take the new data. */
  refreshEndpoint(endpoint: Endpoint): void {
    this.endpoint = endpoint;
    this.weight = weightOf(endpoint);
  }

  /** The pool connected: a refusing endpoint is back (a stuck one must answer first). */
  connected(): void {
    if (this.stuck) return;
    // Timeouts in a row keep counting: a hung endpoint accepts every connection.
    this.connectFailures = 0;
    this.backoffUntil = 0;
    this.probing = false;
  }

  /** An answer came back (the probe's, after a backoff): the endpoint is healthy. */
  answered(): void {
    this.stuck = false;
    this.consecutiveTimeouts = 0;
    this.connected();
  }

  /** Requests time out in a row (or the probe did): back off as for a refused dial. */
  timedOut(): void {
    this.stuck = true;
    this.connectFailed();
  }

  connectFailed(): void {
    this.probing = false;
    if (!this.backoff) return;
    this.connectFailures++;
    this.backoffUntil = this.now() + backoffDelay(this.backoff, this.connectFailures);
  }

  /**
   * Whether connect backoff lets a request through now. After the backoff passes, one request probes
   * the endpoint; the rest keep skipping it until that probe connects or fails.
   */
  dialable(now: number): boolean {
    if (this.connectFailures === 0) return true;
    if (this.probing || now < this.backoffUntil) return false;
    return true;
  }

  /** Called when a request is sent here; claims the probe slot if the endpoint is recovering. */
  acquire(): boolean {
    this.active++;
    if (this.connectFailures > 0 && !this.probing) {
      this.probing = true;
      return true;
    }
    return false;
  }
}

function weightOf(e: Endpoint): number {
  return Number.isFinite(e.weight) && e.weight >= 1 ? e.weight : 1;
}
