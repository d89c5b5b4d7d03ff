// Owns every cluster's pools and balancers; reconciles them against each new config snapshot.
import type { Cluster } from '../config/model.js';
import type { SecretLookup } from '../tls/index.js';
import { type ClusterDeps, UpstreamCluster } from './cluster.js';
import { type ConnectBackoffOptions, checkConnectBackoff } from './connect-backoff.js';
import type { Host } from './host.js';
import type { ClusterStats, NotPicked, PickResult } from './types.js';

export interface ClusterManagerOptions {
  /** Uniform in [0, 1). Default Math.random. */
  random?: () => number;
  /** Monotonic milliseconds. Default performance.now. */
  now?: () => number;
  /**
   * Skip an endpoint after it refuses a connection, for base × 2^(n-1) ms (n failures in a row), capped.
   * Default { baseMs: 1000, maxMs: 30000 }; `false` turns it off.
   */
  connectBackoff?: Partial<ConnectBackoffOptions> | false;
  /**
   * Connections per endpoint when the DestinationRule sets no `connectionPool.tcp.maxConnections`.
   * Default: no cap (Envoy's). The shadow manager caps it: see gateway.ts.
   */
  defaultMaxConnections?: number;
  /** Requests waiting for a connection, per cluster, when the DestinationRule sets no `http1MaxPendingRequests`. */
  defaultMaxPending?: number;
}

const NC: NotPicked = Object.freeze({ ok: false, flag: 'NC' });

/**
 * The gateway builds one for primary traffic and one for shadows, so a shadow never rides (or queues on)
 * a primary connection and never moves the primary's balancing, circuit breakers or ejections.
 */
export class ClusterManager {
  private readonly clusters = new Map<string, UpstreamCluster>();
  /** Inputs last applied, by name: the same object again skips even the fingerprint. */
  private readonly inputs = new Map<string, Cluster>();
  /** Pools of hosts that left, until their in-flight requests finish. */
  private readonly draining = new Map<Host, Promise<void>>();
  /** What every cluster of this manager shares (clock, randomness, backoff, default pool limits). */
  private readonly deps: ClusterDeps;
  private closed = false;

  constructor(options: ClusterManagerOptions = {}) {
    const { random = Math.random, now = () => performance.now() } = options;
    if (typeof random !== 'function') throw new TypeError('ClusterManager: random must be a function');
    if (typeof now !== 'function') throw new TypeError('ClusterManager: now must be a function');
    this.deps = {
      random,
      now,
      backoff: checkConnectBackoff(options.connectBackoff),
      defaultMaxConnections: options.defaultMaxConnections,
      defaultMaxPending: options.defaultMaxPending,
      secrets: undefined,
    };
  }

  /** Where DestinationRule `credentialName` Secrets are read (the Kubernetes source); set before the first `update`. */
  set secrets(lookup: SecretLookup | undefined) {
    this.deps.secrets = lookup;
  }

  /**
   * Rebuilds the TLS of every cluster that reads a Secret (a Secret changed, or they were first listed): pools whose
   * material changed drain, new connections use the new one. Returns the clusters whose problems changed, with them.
   */
  refreshSecrets(): Array<{ name: string; problems: string[] }> {
    if (this.closed) return [];
    const changed: Array<{ name: string; problems: string[] }> = [];
    for (const [name, c] of this.clusters) {
      const before = c.problems.join('\n');
      this.drain(c.refreshSecret());
      if (c.problems.join('\n') !== before) changed.push({ name, problems: c.problems });
    }
    return changed;
  }

  /** True while a cluster waits for the cluster's Secrets to be listed. */
  get waitingForSecrets(): boolean {
    for (const c of this.clusters.values()) if (c.secretPending) return true;
    return false;
  }

  /**
   * Reconciles with a snapshot's clusters. Pools of endpoints that stay (same address, port and pool
   * settings) keep their connections, health and in-flight counts; pools of endpoints that left close
   * gracefully, letting their requests finish. Calling it again with equal clusters changes nothing.
   */
  update(clusters: Readonly<Record<string, Cluster>>): void {
    // A snapshot arriving during shutdown must not open pools nobody will close.
    if (this.closed) return;
    for (const [name, c] of this.clusters) {
      if (Object.hasOwn(clusters, name)) continue;
      this.clusters.delete(name);
      this.inputs.delete(name);
      this.drain(c.hosts);
    }
    for (const [name, input] of Object.entries(clusters)) {
      if (this.inputs.get(name) === input) continue;
      this.inputs.set(name, input);
      const fingerprint = JSON.stringify(input);
      let c = this.clusters.get(name);
      if (c?.fingerprint === fingerprint) continue;
      if (!c) {
        c = new UpstreamCluster(name, this.deps);
        this.clusters.set(name, c);
      }
      this.drain(c.apply(input, fingerprint));
    }
  }

  /** Chooses an endpoint of `clusterName`; `hashKey` feeds CONSISTENT_HASH and is ignored otherwise. */
  pick(clusterName: string, hashKey?: string): PickResult {
    const c = this.clusters.get(clusterName);
    return c ? c.pick(hashKey) : NC;
  }

  /** Plain data for /config_dump and tests. */
  stats(): Record<string, ClusterStats> {
    const out: Record<string, ClusterStats> = {};
    for (const [name, c] of this.clusters) out[name] = c.stats();
    return out;
  }

  /** Number of pools of removed endpoints still finishing their requests. */
  get drainingPools(): number {
    return this.draining.size;
  }

  /** Stops taking clusters and closes every pool once its requests finish. */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.clusters.values()) this.drain(c.hosts);
    this.clusters.clear();
    this.inputs.clear();
    await Promise.all(this.draining.values());
  }

  /** Like close(), but aborts requests still in flight instead of waiting for them. */
  async destroy(): Promise<void> {
    this.closed = true;
    for (const c of this.clusters.values()) this.drain(c.hosts);
    this.clusters.clear();
    this.inputs.clear();
    await Promise.all([...this.draining.keys()].map((h) => h.pool.destroy().catch(() => {})));
    await Promise.all(this.draining.values());
  }

  private drain(hosts: readonly Host[]): void {
    for (const h of hosts) {
      h.retired = true;
      if (this.draining.has(h)) continue;
      const p = h.pool
        .close()
        // A pool destroyed meanwhile rejects; either way it is gone.
        .catch(() => {})
        .finally(() => this.draining.delete(h));
      this.draining.set(h, p);
    }
  }
}
