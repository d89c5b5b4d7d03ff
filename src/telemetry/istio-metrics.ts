// Istio's standard HTTP metrics (istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes,
// istio_response_bytes) with Istio's label set, so existing Istio dashboards work unchanged, from both sides:
// `reporter="source"` as the caller's sidecar counts each request, `reporter="destination"` as the workload's
// sidecar counts each attempt that reached it (primaries and shadows), which is what Flagger's checks read.
// Recording is one Map lookup and a few array increments: the label text of a destination is rendered once
// per (reporter, cluster, endpoint), not per request (https://istio.io/latest/docs/reference/config/metrics/).
import type { Cluster, Endpoint } from '../config/index.js';
import { getOrCreate, newMap } from '../util/maps.js';
import { ENVOY_BUCKETS_MS } from './buckets.js';

const UNKNOWN = 'unknown';
const K8S_SUFFIX = '.svc.cluster.local';
/**
 * Istio 1.25's override of the workload name reported in telemetry, on a Pod or WorkloadEntry. The Kubernetes
 * source sets it on every pod endpoint from the pod's owner (its Deployment), as Istio's injector derives it.
 */
export const WORKLOAD_NAME_LABEL = 'service.istio.io/workload-name';

/** Which sidecar a sample is reported as: the caller's (`source`) or the workload's (`destination`). */
export type Reporter = 'source' | 'destination';

/**
 * How one upstream attempt ended, structurally the proxy's AttemptOutcome (telemetry imports no module):
 * an answer with its status, or a failure before or after the request reached the workload.
 */
export type AttemptSample =
  | { readonly kind: 'answered' | 'retry-status'; readonly status: number }
  | { readonly kind: 'failed'; readonly failure: 'connect-failure' | 'reset' | 'refused-stream' | 'timeout' | 'cancelled' };

/** Every label Istio puts on its standard HTTP metrics, in the order Istio's stats plugin emits them. */
export const ISTIO_LABELS = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;

type LabelName = (typeof ISTIO_LABELS)[number];

/** The labels of one destination endpoint, rendered once. */
export interface DestinationLabels {
  readonly key: string;
  /** `name="value",...` for every label except response_code and response_flags. */
  readonly text: string;
  readonly values: Readonly<Partial<Record<LabelName, string>>>;
}

class Histogram {
  readonly counts = new Float64Array(ENVOY_BUCKETS_MS.length);
  sum = 0;
  count = 0;
  observe(v: number): void {
    let i = 0;
    while (i < ENVOY_BUCKETS_MS.length && v > ENVOY_BUCKETS_MS[i]!) i++;
    if (i < this.counts.length) this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

interface Series {
  labels: string;
  requests: number;
  duration: Histogram;
  requestBytes: Histogram;
  responseBytes: Histogram;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** A destination's label set for a gRPC call with this grpc-status (getOrCreate's `make`). */
function grpcVariant(grpcStatus: string, dest: DestinationLabels): DestinationLabels {
  const values = { ...dest.values, request_protocol: 'grpc', grpc_response_status: grpcStatus };
  return { key: `${dest.key}|grpc|${grpcStatus}`, text: render(values), values };
}

function render(values: Partial<Record<LabelName, string>>): string {
  return ISTIO_LABELS.filter((l) => l !== 'response_code' && l !== 'response_flags')
    .map((l) => `${l}="${escapeLabel(values[l] ?? UNKNOWN)}"`)
    .join(',');
}

/** `nginx.default.svc.cluster.local` → `nginx`; other hosts are their own name, as Istio does for ServiceEntries. */
function serviceName(host: string): string {
  return host.endsWith(K8S_SUFFIX) ? host.slice(0, host.indexOf('.')) : host;
}

/**
 * Workload name: the `service.istio.io/workload-name` label (set from the pod's Deployment in a cluster), else a
 * WorkloadEntry's name (the article's Deployment names), else app-version, else unknown.
 */
function workloadName(endpoint: Endpoint): string {
  const override = endpoint.labels[WORKLOAD_NAME_LABEL];
  if (override) return override;
  const m = /^WorkloadEntry [^/]+\/(.+)$/.exec(endpoint.source);
  if (m) return m[1]!;
  const { app, version } = endpoint.labels;
  if (app && version) return `${app}-${version}`;
  return app ?? UNKNOWN;
}

export class IstioMetrics {
  private readonly series = new Map<string, Series>();
  private readonly destinations = new Map<string, DestinationLabels>();
  private readonly byEndpoint: Record<Reporter, WeakMap<Endpoint, { cluster: Cluster | undefined; labels: DestinationLabels }>> = {
    source: new WeakMap(),
    destination: new WeakMap(),
  };
  /** Series by destination, then response code and flags: lookups without building a key per request. */
  private readonly byDestination = new Map<DestinationLabels, Map<number, Map<string, Series>>>();
  private readonly grpcVariants = new Map<DestinationLabels, Map<string, DestinationLabels>>();

  /** Labels for a request that reached (or tried to reach) `endpoint` of `cluster`; either may be absent. */
  labelsFor(cluster: Cluster | undefined, endpoint: Endpoint | undefined, reporter: Reporter = 'source'): DestinationLabels {
    // Endpoints are immutable parts of a snapshot: the per-request path is one WeakMap lookup, no key string.
    const byEndpoint = this.byEndpoint[reporter];
    const known = endpoint && byEndpoint.get(endpoint);
    if (known && known.cluster === cluster) return known.labels;
    // Labels are part of the key: a pod address reused by another workload (or relabelled) gets its own series.
    const key = `${reporter}|${cluster?.name ?? ''}|${endpoint ? `${endpoint.address}:${endpoint.port}|${endpoint.source}|${JSON.stringify(endpoint.labels)}` : ''}`;
    let d = this.destinations.get(key);
    if (d) {
      if (endpoint) byEndpoint.set(endpoint, { cluster, labels: d });
      return d;
    }
    const values: Partial<Record<LabelName, string>> = {
      // Shadowgate stands where the caller's sidecar would (source); the destination side is what the
      // workload's own sidecar would report for the same request, had it one.
      reporter,
      request_protocol: 'http',
      grpc_response_status: '',
    };
    if (cluster) {
      values.destination_service = cluster.host;
      values.destination_service_name = serviceName(cluster.host);
      values.destination_service_namespace = cluster.namespace;
    }
    if (endpoint) {
      const labels = endpoint.labels;
      const workload = workloadName(endpoint);
      values.destination_workload = workload;
      values.destination_workload_namespace = cluster?.namespace ?? UNKNOWN;
      values.destination_app = labels.app ?? UNKNOWN;
      values.destination_version = labels.version ?? UNKNOWN;
      values.destination_canonical_service = labels['service.istio.io/canonical-name'] ?? labels['app.kubernetes.io/name'] ?? labels.app ?? workload;
      values.destination_canonical_revision =
        labels['service.istio.io/canonical-revision'] ?? labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest';
    }
    d = { key, text: render(values), values };
    this.destinations.set(key, d);
    if (endpoint) byEndpoint.set(endpoint, { cluster, labels: d });
    return d;
  }

  /**
   * One attempt that was sent to `endpoint`, as the workload's sidecar reports it (`reporter="destination"`):
   * Istio counts every attempt the workload received, retries and mirrored copies included (a mirror is an
   * ordinary inbound request there). An attempt that never connected is not the workload's: no sample. A reset
   * by the workload is the sidecar's own 503 `UC`; a caller that gave up (timeout, cancel) is a `DC` with code 0,
   * as Envoy logs a downstream that closed before the answer. A stream the workload refused unprocessed never
   * reached its request handling: no sample either. `grpcStatus` is set for a gRPC call (`''` when the attempt
   * carried none): its series say `request_protocol="grpc"` and `grpc_response_status`, as the source side's do.
   */
  recordAttempt(
    cluster: Cluster | undefined,
    endpoint: Endpoint,
    attempt: AttemptSample,
    durationMs: number,
    requestBytes: number,
    responseBytes: number,
    grpcStatus?: string,
  ): void {
    let code: number;
    let flags: string;
    if (attempt.kind !== 'failed') {
      code = attempt.status;
      flags = '-';
    } else if (attempt.failure === 'connect-failure' || attempt.failure === 'refused-stream') return;
    else if (attempt.failure === 'reset') {
      code = 503;
      flags = 'UC';
    } else {
      code = 0;
      flags = 'DC';
    }
    const dest = this.labelsFor(cluster, endpoint, 'destination');
    this.record(grpcStatus === undefined ? dest : this.grpcLabels(dest, grpcStatus), code, flags, durationMs, requestBytes, responseBytes);
  }

  /** The same destination for a gRPC call with this grpc-status: request_protocol "grpc", rendered once per status. */
  grpcLabels(dest: DestinationLabels, grpcStatus: string): DestinationLabels {
    return getOrCreate(getOrCreate(this.grpcVariants, dest, newMap<string, DestinationLabels>), grpcStatus, grpcVariant, dest);
  }

  record(dest: DestinationLabels, responseCode: number, responseFlags: string, durationMs: number, requestBytes: number, responseBytes: number): void {
    const byFlags = getOrCreate(getOrCreate(this.byDestination, dest, newMap<number, Map<string, Series>>), responseCode, newMap<string, Series>);
    let s = byFlags.get(responseFlags);
    if (!s) {
      const key = `${dest.key}\u0000${responseCode}\u0000${responseFlags}`;
      s = {
        labels: `${dest.text},response_code="${responseCode}",response_flags="${escapeLabel(responseFlags)}"`,
        requests: 0,
        duration: new Histogram(),
        requestBytes: new Histogram(),
        responseBytes: new Histogram(),
      };
      this.series.set(key, s);
      byFlags.set(responseFlags, s);
    }
    s.requests++;
    s.duration.observe(durationMs);
    s.requestBytes.observe(requestBytes);
    s.responseBytes.observe(responseBytes);
  }

  /** istio_requests_total{reporter="source"} summed by `destination_service` and `destination_version` (for /api/traffic): O(series). */
  requestsByVersion(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [dest, byCode] of this.byDestination) {
      // Primary requests as the caller counts them: the destination side counts attempts and mirrored copies.
      if (dest.values.reporter === 'destination') continue;
      const key = `${dest.values.destination_service ?? UNKNOWN}\u0000${dest.values.destination_version ?? UNKNOWN}`;
      let n = out.get(key) ?? 0;
      for (const byFlags of byCode.values()) for (const series of byFlags.values()) n += series.requests;
      out.set(key, n);
    }
    return out;
  }

  /** Prometheus text exposition of the four families. */
  exposition(): string {
    const out: string[] = [];
    out.push(
      '# HELP istio_requests_total Requests, as Istio counts them: reporter="source" per primary request, reporter="destination" per attempt a workload received (primaries and mirrored copies); filter by reporter, never sum both',
    );
    out.push('# TYPE istio_requests_total counter');
    for (const s of this.series.values()) out.push(`istio_requests_total{${s.labels}} ${s.requests}`);
    const histogram = (name: string, help: string, pick: (s: Series) => Histogram) => {
      out.push(`# HELP ${name} ${help}`);
      out.push(`# TYPE ${name} histogram`);
      for (const s of this.series.values()) {
        const h = pick(s);
        let cumulative = 0;
        ENVOY_BUCKETS_MS.forEach((le, i) => {
          cumulative += h.counts[i]!;
          out.push(`${name}_bucket{${s.labels},le="${le}"} ${cumulative}`);
        });
        out.push(`${name}_bucket{${s.labels},le="+Inf"} ${h.count}`);
        out.push(`${name}_sum{${s.labels}} ${h.sum}`);
        out.push(`${name}_count{${s.labels}} ${h.count}`);
      }
    };
    histogram('istio_request_duration_milliseconds', 'Request duration in milliseconds', (s) => s.duration);
    histogram('istio_request_bytes', 'Request body size in bytes', (s) => s.requestBytes);
    histogram('istio_response_bytes', 'Response body size in bytes', (s) => s.responseBytes);
    return `${out.join('\n')}\n`;
  }
}
