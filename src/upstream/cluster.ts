// One cluster (`outbound|port|subset|host`): its endpoints, balancer, circuit breakers and outlier detector.
import type { Cluster, LbPolicy } from '../config/model.js';
import type { SecretLookup } from '../tls/index.js';
import { type Balancer, createBalancer } from './balancer.js';
import type { ConnectBackoffOptions } from './connect-backoff.js';
import { Host } from './host.js';
import { OutlierDetector } from './outlier.js';
import { poolShape, shapeKey } from './pool-options.js';
import { SecretPending, tlsConnect } from './tls.js';
import type { ClusterCounters, ClusterStats, NotPicked, Outcome, PickResult } from './types.js';

export interface ClusterDeps {
  random: () => number;
  now: () => number;
  backoff: ConnectBackoffOptions | undefined;
  defaultMaxConnections: number | undefined;
  defaultMaxPending: number | undefined;
  /** Kubernetes Secrets for DestinationRule `credentialName` (set by the gateway in --kubernetes; absent: none can be read). */
  secrets: SecretLookup | undefined;
}

/** Timeouts in a row that back an endpoint off (as Envoy's consecutiveGatewayErrors default of 5). */
export const TIMEOUTS_TO_BACK_OFF = 5;

const UH: NotPicked = Object.freeze({ ok: false, flag: 'UH' });
const UO: NotPicked = Object.freeze({ ok: false, flag: 'UO' });

/** Istio sets these limits only when > 0; 0 or absent means unlimited. */
function limit(n: number | undefined): number | undefined {
  return n !== undefined && Number.isFinite(n) && n > 0 ? n : undefined;
}

function stateOf(err: unknown): string {
  return `${err instanceof SecretPending ? 'pending' : 'error'}: ${(err as Error).message}`;
}

export class UpstreamCluster {
  hosts: Host[] = [];
  /** JSON of the last config applied; an equal one is a no-op. */
  fingerprint = '';
  lbPolicy: LbPolicy = 'LEAST_REQUEST';
  /** Requests in flight, including those still waiting for a connection. */
  active = 0;
  readonly counters: ClusterCounters = { picked: 0, overflow: 0, noHealthyUpstream: 0, ejections: 0, ejectionsOverflow: 0 };
  /** What was wrong with the last config applied (bad endpoints, bad outlier settings). */
  problems: string[] = [];
  /** The cluster waits for the cluster's Secrets to be listed (no endpoint meanwhile). */
  secretPending = false;
  /** The config last applied, kept to rebuild the TLS material when Secrets change. */
  private input: Cluster | undefined;
  /** What the last apply made of the TLS settings: the material's key, or why there is none (see tlsState). */
  private tls = '';
  private balancer!: Balancer;
  private outlier: OutlierDetector | undefined;
  private maxRequests: number | undefined;
  private maxPending: number | undefined;

  constructor(
    readonly name: string,
    private readonly deps: ClusterDeps,
  ) {}

  /**
   * Applies a config. Endpoints with the same address, port and pool shape keep their Host (pool, live
   * connections, health, active count); the Hosts returned have left and must be drained by the caller.
   */
  apply(cluster: Cluster, fingerprint: string): Host[] {
    const problems: string[] = [];
    const pool = cluster.policy.connectionPool;
    const shape = poolShape(pool, this.deps.defaultMaxConnections, cluster.http2 === true);
    let tlsBroken = false;
    let pending = false;
    let tlsState = 'plain';
    // HTTP/2 upstreams (h2/) dial TLS with ALPN h2, HTTP/1.1 ones with none (Envoy's defaults for each).
    if (cluster.policy.tls) {
      try {
        shape.tls = tlsConnect(cluster.policy.tls, cluster.host, this.deps.secrets);
        tlsState = shape.tls.key;
      } catch (err) {
        tlsState = stateOf(err);
        // Never fall back to plain HTTP: the cluster has no endpoint (503 UH) until its TLS files (or Secret) are right.
        if (err instanceof SecretPending) pending = true;
        else problems.push((err as Error).message);
        tlsBroken = true;
      }
    }
    const sk = shapeKey(shape);
    let outlier: OutlierDetector | undefined;
    if (cluster.policy.outlierDetection) {
      try {
        outlier = new OutlierDetector(cluster.policy.outlierDetection);
      } catch (err) {
        problems.push(`outlierDetection ignored: ${(err as Error).message}`);
      }
    }

    const old = new Map(this.hosts.map((h) => [h.key, h]));
    const seen = new Map<string, number>();
    const hosts: Host[] = [];
    for (const e of tlsBroken ? [] : cluster.endpoints) {
      const base = `${e.address}|${e.port}|${sk}`;
      // The same address may be listed twice (two WorkloadEntries); each listing is its own host, as in Envoy.
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      const key = n === 0 ? base : `${base}#${n}`;
      const prev = old.get(key);
      if (prev) {
        old.delete(key);
        prev.refreshEndpoint(e);
        hosts.push(prev);
        continue;
      }
      try {
        hosts.push(new Host(key, e, shape, this.deps.backoff, this.deps.now));
      } catch (err) {
        // A bad endpoint fails only itself; the rest of the cluster still serves.
        problems.push(`endpoint ${e.address}:${e.port} skipped: ${(err as Error).message}`);
      }
    }

    this.hosts = hosts;
    this.fingerprint = fingerprint;
    this.lbPolicy = cluster.policy.loadBalancer;
    this.balancer = createBalancer(
      cluster.policy.loadBalancer,
      this.deps.random,
      hosts.map((h) => h.weight),
    );
    this.outlier = outlier;
    this.maxRequests = limit(pool.maxRequests);
    this.maxPending = limit(pool.maxPendingRequests) ?? this.deps.defaultMaxPending;
    this.problems = problems;
    this.secretPending = pending;
    this.input = cluster;
    this.tls = tlsState;
    const gone = [...old.values()];
    for (const h of gone) h.retired = true;
    return gone;
  }

  /**
   * Reads the cluster's Secret again (it changed, or the Secrets were listed): a changed certificate, key or CA gives
   * new pools for new connections while the old ones finish their requests. Returns the hosts to drain.
   */
  refreshSecret(): Host[] {
    if (!this.input?.policy.tls?.credentialName) return [];
    // Any Secret event of the namespace lands here: an unchanged Secret keeps the cluster as it is (its outlier
    // detector's ejections included, which a new apply would start afresh).
    if (this.tlsState(this.input) === this.tls) return [];
    return this.apply(this.input, this.fingerprint);
  }

  /** The TLS material's key, or the reason it cannot be built: equal states build equal pools. */
  private tlsState(cluster: Cluster): string {
    if (!cluster.policy.tls) return 'plain';
    try {
      return tlsConnect(cluster.policy.tls, cluster.host, this.deps.secrets).key;
    } catch (err) {
      return stateOf(err);
    }
  }

  pick(hashKey: string | undefined): PickResult {
    const now = this.deps.now();
    const hosts = this.hosts;
    let healthy = 0;
    let usable = 0;
    for (const h of hosts) {
      this.outlier?.refresh(h, now);
      if (h.ejected) continue;
      healthy++;
      if (h.dialable(now)) usable++;
    }
    let candidates: readonly Host[];
    if (this.outlier?.panics(healthy, hosts.length)) {
      // Panic ignores ejection, not connect backoff: a refused dial is certain to fail again.
      candidates = hosts.filter((h) => h.dialable(now));
    } else if (usable === hosts.length) {
      candidates = hosts;
    } else {
      candidates = hosts.filter((h) => !h.ejected && h.dialable(now));
    }
    if (candidates.length === 0) {
      this.counters.noHealthyUpstream++;
      return UH;
    }
    if (this.maxRequests !== undefined && this.active >= this.maxRequests) {
      this.counters.overflow++;
      return UO;
    }
    const h = this.balancer.choose(candidates, hashKey);
    // Envoy's max_pending_requests: a request that would wait for a connection (HTTP/1.1) or a stream slot
    // (HTTP/2: connections × concurrent streams, not connections) overflows once that many already wait.
    if (this.maxPending !== undefined && h.active >= h.capacity() && this.pendingRequests() >= this.maxPending) {
      this.counters.overflow++;
      return UO;
    }

    this.active++;
    this.counters.picked++;
    const probe = h.acquire();
    let done = false;
    return {
      ok: true,
      endpoint: h.endpoint,
      dispatcher: h.pool,
      origin: h.origin,
      onDone: (outcome: Outcome) => {
        if (done) return;
        done = true;
        this.finish(h, probe, outcome);
      },
    };
  }

  private finish(h: Host, probe: boolean, outcome: Outcome): void {
    this.active--;
    h.active--;
    if (probe && h.probing) {
      // The probe got an answer without a new dial (a surviving keep-alive socket): the host is back.
      if (outcome.kind === 'response') h.answered();
      // A probe that timed out finds the endpoint still stuck: back off longer.
      else if (outcome.kind === 'timeout' && this.deps.backoff) h.timedOut();
      else h.probing = false;
    } else if (this.deps.backoff) {
      // An endpoint that accepts and never answers is as useless as one that refuses, and costlier: each
      // request holds a connection until its timeout. N timeouts in a row back it off like a refused dial.
      // Timeouts of requests sent before the backoff began (the rest of the same wave) do not count again.
      if (outcome.kind === 'response') h.consecutiveTimeouts = 0;
      else if (outcome.kind === 'timeout' && h.connectFailures === 0 && ++h.consecutiveTimeouts >= TIMEOUTS_TO_BACK_OFF) {
        h.consecutiveTimeouts = 0;
        h.timedOut();
      }
    }
    // A host that left the config no longer counts toward anyone's ejection percentages.
    if (!h.retired) this.outlier?.record(h, outcome, this.hosts, this.deps.now(), this.counters);
  }

  /** Requests waiting for a connection or, over HTTP/2, for a stream slot (see Host.capacity). */
  private pendingRequests(): number {
    let pending = 0;
    for (const h of this.hosts) pending += h.pending();
    return pending;
  }

  stats(): ClusterStats {
    const now = this.deps.now();
    let healthy = 0;
    for (const h of this.hosts) {
      this.outlier?.refresh(h, now);
      if (!h.ejected) healthy++;
    }
    return {
      name: this.name,
      lbPolicy: this.lbPolicy,
      activeRequests: this.active,
      pendingRequests: this.pendingRequests(),
      panic: this.outlier?.panics(healthy, this.hosts.length) ?? false,
      counters: { ...this.counters },
      problems: [...this.problems],
      endpoints: this.hosts.map((h) => {
        const p = h.pool.stats;
        return {
          address: h.endpoint.address,
          port: h.endpoint.port,
          weight: h.weight,
          activeRequests: h.active,
          ejected: h.ejected,
          ejectedForMs: h.ejected ? Math.max(0, h.ejectedUntil - now) : 0,
          ejections: h.ejections,
          consecutive5xx: h.consecutive5xx,
          consecutiveGatewayErrors: h.consecutiveGateway,
          connectFailures: h.connectFailures,
          backoffForMs: h.connectFailures > 0 ? Math.max(0, h.backoffUntil - now) : 0,
          pool: {
            connected: p.connected,
            free: p.free,
            pending: p.pending,
            queued: p.queued,
            running: p.running,
            size: p.size,
          },
        };
      }),
    };
  }
}
