// Shadowgate's own Prometheus families (prefix `shadowgate_`); modules record through these, tests read them.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
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
  | 'primary_aborted';

/** One registry per gateway, so tests can run several gateways in a process. */
export class Metrics {
  readonly registry = new Registry();
  /** Istio's standard families for primary traffic. */
  readonly istio = new IstioMetrics();
  readonly shadowRequests = new Counter({
    name: 'shadowgate_shadow_requests_total',
    help: 'Shadow requests that got an answer, by destination service, subset and response code',
    labelNames: ['destination_service', 'destination_subset', 'response_code'] as const,
    registers: [this.registry],
  });
  readonly shadowDuration = new Histogram({
    name: 'shadowgate_shadow_request_duration_milliseconds',
    help: 'Shadow request latency, from sending to the end of the answer',
    labelNames: ['destination_service', 'destination_subset'] as const,
    buckets: ENVOY_BUCKETS_MS,
    registers: [this.registry],
  });
  readonly shadowsSampled = new Counter({
    name: 'shadowgate_shadows_sampled_total',
    help: 'Requests chosen for mirroring, by destination service and subset',
    labelNames: ['destination_service', 'destination_subset'] as const,
    registers: [this.registry],
  });
  readonly shadowAbandoned = new Counter({
    name: 'shadowgate_shadow_abandoned_total',
    help: 'Shadows given up, by destination service, subset and reason (the primary is never affected)',
    labelNames: ['destination_service', 'destination_subset', 'reason'] as const,
    registers: [this.registry],
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
  readonly compareExchanges = new Counter({
    name: 'shadowgate_compare_exchanges_total',
    help: 'Mirrored exchanges by comparison result (compared, ignored by rule, dropped: queue full, skipped: over maxPerSecond, failed, stale: made under a run that has ended)',
    labelNames: ['result'] as const,
    registers: [this.registry],
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
    help: 'Problems in the config currently being served, by severity',
    labelNames: ['severity'] as const,
    registers: [this.registry],
  });

  constructor() {
    for (const result of ['applied', 'unchanged', 'rejected']) this.reloads.inc({ result }, 0);
    for (const result of ['compared', 'ignored', 'dropped', 'skipped', 'failed', 'stale']) this.compareExchanges.inc({ result }, 0);
    for (const bucket of ['endpoint', 'field']) this.compareOverflow.inc({ bucket }, 0);
    for (const reason of ['disk_full', 'busy', 'io', 'other']) this.compareStoreErrors.inc({ reason }, 0);
    for (const severity of ['error', 'warning', 'info']) this.configProblems.set({ severity }, 0);
  }

  /** The whole exposition: Istio's families, then Shadowgate's own. */
  async text(): Promise<string> {
    return `${this.istio.exposition()}${await this.registry.metrics()}`;
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
