// Public surface of proxy/: the data path and its listeners.

export { BodyQueue, type BodySink, RequestBodyTee } from '../body/index.js';
export { type DownstreamRejectReason, DownstreamStats } from './downstream-stats.js';
export { type ProxyDeps, ProxyHandler, type RoutingState } from './handler.js';
export { type DownstreamLimits, downstreamLimits } from './limits.js';
export { type BindFailure, ListenerSet, MAX_HEADER_BYTES } from './listeners.js';
export { ClientHelloReader, clientHelloSni, Passthrough, type PassthroughDeps } from './passthrough.js';
