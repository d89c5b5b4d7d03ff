// Public surface of proxy/: the data path and its listeners.
export { type BindFailure, ListenerSet, MAX_HEADER_BYTES } from './listeners.js';
export { ProxyHandler, type ProxyDeps, type RoutingState } from './handler.js';
export { BodyQueue, type BodySink, RequestBodyTee } from '../body/index.js';
export { type DownstreamLimits, downstreamLimits } from './limits.js';
export { type DownstreamRejectReason, DownstreamStats } from './downstream-stats.js';
