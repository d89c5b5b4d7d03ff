// Public surface of telemetry/: metrics and access logs.
export { type AbandonReason, ENVOY_BUCKETS_MS, Metrics } from './metrics.js';
export { type AccessLog, type AccessLogEntry, MemoryAccessLog, openAccessLog } from './access-log.js';
