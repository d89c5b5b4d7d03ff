// Public surface of gateway/: the composition root.
export { Gateway, type GatewayOptions, parseHostPort, type ReloadResult } from './gateway.js';
export { listenerSummary, reportStarted, runPrimary, serveWorkerIpc, workerLog, workerPostsEvents } from './workers.js';
