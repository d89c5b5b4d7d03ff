// Public surface of upstream/: per-cluster connection pools, load balancing, circuit breaking, outlier detection.

export { classifyUpstreamError } from './classify-error.js';
export { TIMEOUTS_TO_BACK_OFF } from './cluster.js';
export { ClusterManager, type ClusterManagerOptions } from './cluster-manager.js';
export { type ConnectBackoffOptions, DEFAULT_CONNECT_BACKOFF } from './connect-backoff.js';
export { FAILURES, type FailureFlag, type FailureNames, PICK_ABANDON, type RetriableFailure, type UpstreamFailure } from './failure.js';
export { DEFAULT_CONSECUTIVE_5XX, DEFAULT_MAX_EJECTION_TIME_MS } from './outlier.js';
export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS } from './pool-options.js';
export { skipContinue } from './skip-continue.js';
export { releaseFromSilenceBound } from './socket-idle.js';
export type {
  ClusterCounters,
  ClusterStats,
  EndpointStats,
  NotPicked,
  Outcome,
  Picked,
  PickFlag,
  PickResult,
} from './types.js';
export { Pool } from './undici-parts.js';
