// fleet/: one verdict for every replica, from Prometheus, and the gate rollout tools ask (issue 13).
export { type BlamedField, bucketQuantile, DEFAULT_WINDOW_MS, exactIncreases, type FleetRun, type FleetVerdict, fleetVerdict } from './fleet-verdict.js';
export { type GateDeps, type GateRequest, handleGate } from './gate.js';
export { checkSelector, type FleetSource, promDuration, promQuery } from './prometheus-client.js';
export { type Claim, type ClaimSink, DEFAULT_REVISION_LIMITS, type RevisionAnswer, RevisionBook, type SeenRun } from './revisions.js';
export { handleFleetVerdict } from './verdict-api.js';
