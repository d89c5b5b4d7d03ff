// Shadowgate's own Prometheus families (prefix `shadowgate_`); modules record through these, tests read them.
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { VERSION } from '../util/version.js';
import { ENVOY_BUCKETS_MS } from './buckets.js';
import { IstioMetrics } from './istio-metrics.js';

export type AbandonReason =
  | 'body_too_large'
  | 'buffer_full'
  | 'too_many_in_flight'
  | 'timeout'
  | 'no_endpoint'
  | 'connect_error'
  | 'upstream_reset'
  | 'primary_aborted'
  /** The request upgraded its connection (WebSocket): a shadow cannot take over a connection (Envoy skips it too). */
  | 'upgrade';

/** What the upstream module reports per cluster at scrape time (structural: telemetry imports no module). */
export interface ClusterGaugeSource {
  /** `primary` for the clusters the answers come from, `shadow` for the mirrors' own pools. */
  role: 'primary' | 'shadow';
  cluster: string;
  overflow: number;
  noHealthyUpstream: number;
  ejections: number;
  ejectionsOverflow: number;
  endpoints: number;
  healthyEndpoints: number;
  activeRequests: number;
  pendingRequests: number;
}

/** Counter totals for /api/traffic, keyed `<service>\0<version>` (requests) or `<service>\0<subset>` (shadows). */
export interface TrafficTotals {
  requests: Map<string, number>;
  sampled: Map<string, number>;
  delivered: Map<string, number>;
  abandoned: Map<string, Record<string, number>>;
}

/**
 * A counter recorded on the data path without prom-client: prom-client validates and hashes the labels on every
 * `inc` (a sorted key string per call), which the per-request shadow counters paid for nothing until a scrape.
 * Here a label set is an object the caller prepared once; its key string is built once (WeakMap), counts are plain
 * numbers, and what was counted since the last read is added to the prom-client family when that family is read
 * (`/metrics`, `get()`), so every reader sees the same totals as before.
 */
export class HotCounter {
  private readonly keys = new WeakMap<object, string>();
  private readonly pending = new Map<string, { labels: Record<string, string>; n: number }>();

  inc(labels: Record<string, string>): void {
    let key = this.keys.get(labels);
    if (key === undefined) {
      key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      this.keys.set(labels, key);
    }
    const p = this.pending.get(key);
    if (p) p.n++;
    else this.pending.set(key, { labels, n: 1 });
  }

  /** Adds what was counted since the last flush to `family`. */
  flushTo(family: Counter<string>): void {
    for (const p of this.pending.values()) family.inc(p.labels, p.n);
    this.pending.clear();
  }
}

type HistogramSample = { labels: Record<string, string | number>; sharedLabels: Record<string, string>; value: number; metricName: string };

/**
 * A histogram recorded on the data path without prom-client (as HotCounter for counters): prom-client's `observe`
 * validates and hashes the label set and allocates a closure and two objects per observation. Here a label set is
 * an object the caller prepared once (a WeakMap finds its series), an observation adds to plain numbers, and the
 * family is a prom-client metric only at read time: `get()` answers in prom-client's histogram shape (the same
 * buckets, `le` label and `_bucket`/`_sum`/`_count` samples), so the registry writes the same exposition.
 */
export class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, { labels: Record<string, string>; counts: Float64Array; sum: number; count: number }>();
  private byObject = new WeakMap<object, { counts: Float64Array; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  observe(labels: Record<string, string>, value: number): void {
    let s = this.byObject.get(labels);
    if (s === undefined) {
      const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      let series = this.series.get(key);
      if (!series) {
        series = { labels: { ...labels }, counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
        this.series.set(key, series);
      }
      s = series;
      this.byObject.set(labels, s);
    }
    const { buckets } = this;
    let i = 0;
    while (i < buckets.length && value > buckets[i]!) i++;
    if (i < buckets.length) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  /** prom-client's exposition shape: the series' labels as shared labels, `le` as the sample's own. */
  async getForPromString(): Promise<{ name: string; help: string; type: string; aggregator: string; values: HistogramSample[] }> {
    const values: HistogramSample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let acc = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: this.buckets[i]! }, sharedLabels: s.labels, value: acc, metricName: bucket });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** As prom-client's `get()`: every sample's labels in one object. */
  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: { labels: Record<string, string | number>; value: number; metricName: string }[];
  }> {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ labels, sharedLabels, value, metricName }) => ({ labels: { ...labels, ...sharedLabels }, value, metricName })),
    };
  }

  reset(): void {
    this.series.clear();
    this.byObject = new WeakMap();
  }
}

/** One registry per gateway, so tests can run several gateways in a process. */
export class Metrics {
  /** The data path's shadow counters (HotCounter); each flushes into its prom-client family below when read. */
  readonly hot = {
    shadowRequests: new HotCounter(),
    shadowsSampled: new HotCounter(),
    shadowAbandoned: new HotCounter(),
    /** Every mirrored request not compared (over the rate, ignored) counts here: a label hash per request otherwise. */
    compareExchanges: new HotCounter(),
  };
  readonly registry = new Registry();
  /** Istio's standard families for primary traffic. */
  readonly istio = new IstioMetrics();
  readonly shadowRequests: Counter<'destination_service' | 'destination_subset' | 'response_code'> = new Counter({
    name: 'shadowgate_shadow_requests_total',
    help: 'Shadow requests that got an answer, by destination service, subset and response code',
    labelNames: ['destination_service', 'destination_subset', 'response_code'] as const,
    registers: [this.registry],
    collect: (): void => this.hot.shadowRequests.flushTo(this.shadowRequests),
  });
  /** Labels: destination_service, destination_subset. */
  readonly shadowDuration = new HotHistogram(
    'shadowgate_shadow_request_duration_milliseconds',
    'Shadow request latency, from sending to the end of the answer',
    ENVOY_BUCKETS_MS,
    this.registry,
  );
  readonly shadowsSampled: Counter<'destination_service' | 'destination_subset'> = new Counter({
    name: 'shadowgate_shadows_sampled_total',
    help: 'Requests chosen for mirroring, by destination service and subset',
    labelNames: ['destination_service', 'destination_subset'] as const,
    registers: [this.registry],
    collect: (): void => this.hot.shadowsSampled.flushTo(this.shadowsSampled),
  });
  readonly shadowAbandoned: Counter<'destination_service' | 'destination_subset' | 'reason'> = new Counter({
    name: 'shadowgate_shadow_abandoned_total',
    help: 'Shadows given up, by destination service, subset and reason (the primary is never affected)',
    labelNames: ['destination_service', 'destination_subset', 'reason'] as const,
    registers: [this.registry],
    collect: (): void => this.hot.shadowAbandoned.flushTo(this.shadowAbandoned),
  });
  /**
   * Where the two shadow gauges read their values at scrape time (the ShadowWriter sets it): a gauge set on
   * every shadow would cost the hot path a label hash per request for a value only a scrape reads.
   */
  shadowGauges: (() => { inFlight: number; bufferedBytes: number }) | undefined;
  readonly shadowsInFlight: Gauge = new Gauge({
    name: 'shadowgate_shadows_in_flight',
    help: 'Shadow requests in flight',
    registers: [this.registry],
    collect: (): void => this.shadowsInFlight.set(this.shadowGauges?.().inFlight ?? 0),
  });
  readonly shadowBufferedBytes: Gauge = new Gauge({
    name: 'shadowgate_shadow_buffered_bytes',
    help: 'Request body bytes buffered for shadows and not yet written to them',
    registers: [this.registry],
    collect: (): void => this.shadowBufferedBytes.set(this.shadowGauges?.().bufferedBytes ?? 0),
  });
  /**
   * Envoy's cluster stats, read from the cluster managers at scrape time (the gateway sets this): circuit
   * breaker overflows (`upstream_rq_pending_overflow`), no healthy upstream, outlier ejections
   * (`outlier_detection.ejections_enforced_total`, `ejections_overflow`, `ejections_active`) and membership.
   * A cluster that leaves the config leaves the exposition; one that comes back starts from 0 (a counter reset).
   */
  clusterStats: (() => ClusterGaugeSource[]) | undefined;
  private readonly readClusters = (): ClusterGaugeSource[] => this.clusterStats?.() ?? [];
  private readonly clusterCounter = (name: string, help: string, pick: (c: ClusterGaugeSource) => number): Counter => {
    const read = this.readClusters;
    return new Counter({
      name,
      help,
      labelNames: ['cluster_name', 'role'] as const,
      registers: [this.registry],
      collect(this: Counter): void {
        this.reset();
        for (const c of read()) this.inc({ cluster_name: c.cluster, role: c.role }, pick(c));
      },
    });
  };
  private readonly clusterGauge = (name: string, help: string, pick: (c: ClusterGaugeSource) => number): Gauge => {
    const read = this.readClusters;
    return new Gauge({
      name,
      help,
      labelNames: ['cluster_name', 'role'] as const,
      registers: [this.registry],
      collect(this: Gauge): void {
        this.reset();
        for (const c of read()) this.set({ cluster_name: c.cluster, role: c.role }, pick(c));
      },
    });
  };
  readonly upstreamOverflow = this.clusterCounter(
    'shadowgate_upstream_overflow_total',
    'Requests refused by circuit breakers (UO: maxRequests, maxPendingRequests or the shadow caps), per cluster',
    (c) => c.overflow,
  );
  readonly upstreamNoHealthy = this.clusterCounter(
    'shadowgate_upstream_no_healthy_total',
    'Requests with no endpoint to pick (UH: none, all ejected or all backing off), per cluster',
    (c) => c.noHealthyUpstream,
  );
  readonly outlierEjections = this.clusterCounter(
    'shadowgate_outlier_ejections_total',
    'Endpoints ejected by outlier detection (Envoy ejections_enforced_total), per cluster',
    (c) => c.ejections,
  );
  readonly outlierEjectionsOverflow = this.clusterCounter(
    'shadowgate_outlier_ejections_overflow_total',
    'Ejections not enforced because maxEjectionPercent was reached (Envoy ejections_overflow), per cluster',
    (c) => c.ejectionsOverflow,
  );
  readonly clusterEndpoints = this.clusterGauge('shadowgate_upstream_endpoints', 'Endpoints in the cluster (Envoy membership_total)', (c) => c.endpoints);
  readonly clusterHealthyEndpoints = this.clusterGauge(
    'shadowgate_upstream_healthy_endpoints',
    'Endpoints not ejected by outlier detection (Envoy membership_healthy)',
    (c) => c.healthyEndpoints,
  );
  readonly clusterActiveRequests = this.clusterGauge(
    'shadowgate_upstream_active_requests',
    'Requests in flight to the cluster (Envoy upstream_rq_active)',
    (c) => c.activeRequests,
  );
  readonly clusterPendingRequests = this.clusterGauge(
    'shadowgate_upstream_pending_requests',
    'Requests waiting for a connection (Envoy upstream_rq_pending_active)',
    (c) => c.pendingRequests,
  );
  readonly compareExchanges: Counter<'result'> = new Counter({
    name: 'shadowgate_compare_exchanges_total',
    help: 'Mirrored exchanges by comparison result (compared, ignored by rule, dropped: queue full, skipped: over maxPerSecond, failed, stale: made under a run that has ended)',
    labelNames: ['result'] as const,
    registers: [this.registry],
    collect: (): void => this.hot.compareExchanges.flushTo(this.compareExchanges),
  });
  readonly compareOverflow = new Counter({
    name: 'shadowgate_compare_overflow_total',
    help: 'Compared exchanges (endpoint) or differences (field) put in a run\'s "other" bucket: over maxEndpointsPerRun or maxFieldsPerEndpoint',
    labelNames: ['bucket'] as const,
    registers: [this.registry],
  });
  readonly compareStoreErrors = new Counter({
    name: 'shadowgate_compare_store_errors_total',
    help: 'Failed writes to the comparison store by reason (disk_full, busy, io, other); traffic is not affected',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly compareQueue = new Gauge({
    name: 'shadowgate_compare_queue_length',
    help: 'Exchanges waiting to be compared',
    registers: [this.registry],
  });
  readonly reloads = new Counter({
    name: 'shadowgate_config_reloads_total',
    help: 'Config loads by result (applied, unchanged, rejected)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly configProblems = new Gauge({
    name: 'shadowgate_config_problems',
    help: 'Problems found by the last config load (applied or rejected), by severity',
    labelNames: ['severity'] as const,
    registers: [this.registry],
  });
  /**
   * Which comparison runs each Flagger checksum claimed at /api/gate (fleet/revisions.ts), valued at when: a gate
   * with --prometheus reads every replica's claims back, so they agree on which run is which revision's.
   */
  readonly gateChecksumRuns = new Gauge({
    name: 'shadowgate_gate_checksum_run',
    help: 'A comparison run claimed by a Flagger checksum at /api/gate; the value is when (unix seconds)',
    labelNames: ['canary_namespace', 'canary', 'checksum', 'run'] as const,
    registers: [this.registry],
  });
  /** As Prometheus' own `prometheus_config_last_reload_successful`. */
  readonly configLastReloadSuccess = new Gauge({
    name: 'shadowgate_config_last_reload_success',
    help: '1 when the last config load was applied (or unchanged), 0 when it was rejected and an older config serves',
    registers: [this.registry],
  });

  /** As Prometheus' `prometheus_build_info`: which version each replica runs (issue 13). */
  readonly buildInfo = new Gauge({
    name: 'shadowgate_build_info',
    help: 'Always 1: the version of Shadowgate and of Node.js this process runs',
    labelNames: ['version', 'nodejs_version'] as const,
    registers: [this.registry],
  });
  /**
   * The comparison runs' aggregates (comparator/metrics-export.ts), read from the store at scrape time; the
   * gateway sets it when comparison is on.
   */
  runMetrics: (() => Promise<string>) | undefined;

  private processMetrics = false;

  constructor() {
    this.buildInfo.set({ version: VERSION, nodejs_version: process.version }, 1);
    for (const result of ['applied', 'unchanged', 'rejected']) this.reloads.inc({ result }, 0);
    for (const result of ['compared', 'ignored', 'dropped', 'skipped', 'failed', 'stale']) this.compareExchanges.inc({ result }, 0);
    for (const bucket of ['endpoint', 'field']) this.compareOverflow.inc({ bucket }, 0);
    for (const reason of ['disk_full', 'busy', 'io', 'other']) this.compareStoreErrors.inc({ reason }, 0);
    for (const severity of ['error', 'warning', 'info']) this.configProblems.set({ severity }, 0);
  }

  /** Adds prom-client's process_* and nodejs_* families (CPU, memory, event-loop lag, GC); once. `serve` does. */
  collectProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /** The whole exposition: Istio's families, then Shadowgate's own. */
  async text(): Promise<string> {
    const runs = this.runMetrics ? await this.runMetrics().catch(() => '') : '';
    return `${this.istio.exposition()}${await this.registry.metrics()}${runs}`;
  }

  /**
   * What /api/traffic reads, straight from the counters (no exposition text): primary requests by service and
   * version, and shadow copies sampled, answered and abandoned (by reason) by service and subset.
   */
  async trafficTotals(): Promise<TrafficTotals> {
    const bySubset = async (counter: Counter<string>) => {
      const out = new Map<string, number>();
      for (const v of (await counter.get()).values) {
        const key = `${v.labels.destination_service ?? ''}\u0000${v.labels.destination_subset ?? 'unknown'}`;
        out.set(key, (out.get(key) ?? 0) + v.value);
      }
      return out;
    };
    const abandoned = new Map<string, Record<string, number>>();
    for (const v of (await this.shadowAbandoned.get()).values) {
      if (v.value <= 0) continue;
      const key = `${v.labels.destination_service ?? ''}\u0000${v.labels.destination_subset ?? 'unknown'}`;
      const byReason = abandoned.get(key) ?? {};
      const reason = String(v.labels.reason ?? 'unknown');
      byReason[reason] = (byReason[reason] ?? 0) + v.value;
      abandoned.set(key, byReason);
    }
    return {
      requests: this.istio.requestsByVersion(),
      sampled: await bySubset(this.shadowsSampled),
      delivered: await bySubset(this.shadowRequests),
      abandoned,
    };
  }

  /** Sum of a counter's samples whose labels include `labels` (for tests and the demo). */
  async total(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = this.registry.getSingleMetric(name);
    if (!metric) return 0;
    const data = await metric.get();
    return (data.values as Array<{ value: number; labels: object; metricName?: string }>)
      .filter((v) => v.metricName === undefined || v.metricName.endsWith('_count'))
      .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
      .reduce((n, v) => n + v.value, 0);
  }
}
