// Public surface of telemetry/: metrics and access logs.

export { type AccessLog, type AccessLogEntry, encodeAccessLogLine, formatAccessLogLine, MemoryAccessLog, openAccessLog } from './access-log.js';
export { ENVOY_BUCKETS_MS } from './buckets.js';
export { type AttemptSample, type DestinationLabels, ISTIO_LABELS, IstioMetrics, type Reporter, WORKLOAD_NAME_LABEL } from './istio-metrics.js';
export { mergeExpositions } from './merge.js';
export { type AbandonReason, type ClusterGaugeSource, HotCounter, HotHistogram, Metrics, type TrafficTotals } from './metrics.js';
