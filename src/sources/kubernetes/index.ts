// Public surface of sources/kubernetes/: Istio config, Services and endpoints read from a cluster (issues 8, 21).
//
// `KubernetesSource.start({ namespace?, kubeconfigFile?, context?, onChange })` watches the kinds of
// resource-types.ts: networking.istio.io VirtualService, DestinationRule, ServiceEntry and WorkloadEntry (the
// server's preferred version among those read, discovered once per start for every kind), Services,
// EndpointSlices and Pods (labels only), with `User-Agent: shadowgate/<version>`. A kubeconfig or API server it
// cannot use keeps it unsynced with a reason: `notReadyReason()`, one log line per cause, and the
// `shadowgate_kubernetes_*` metrics. `resources()` is what `buildSnapshot` reads: Istio objects as they are, and
// one ServiceEntry per Service (host `name.ns.svc.cluster.local`, its cluster IPs, its TCP ports, endpoints from
// its EndpointSlices labelled with their pod's labels; an endpoint is an address and its pod, never an IP alone).
// Endpoints are the ready ones; a port with none falls back to serving-and-terminating ones, labelled
// `shadowgate.dev/serving-only: "true"` so shadows can skip them. Shadowgate's own pods are never endpoints. A
// Service annotated `shadowgate.dev/backends: <service>` keeps its name and address but takes its endpoints from
// the named Service ("take over the Service"); the named Service gets no entry of its own (its pods are reached
// through the taken-over one). Problems: `takeover-selector` and `empty-backends` warnings.
//
// Also (issues 18, 20): Gateway API kinds with GatewayClass cluster-wide, and `publishStatus(resources)` writes
// their status back (./status-writer.ts); Shadowgate's own ShadowgateConfig from a ConfigMap key and from
// ShadowgateConfig objects, each version checked and the last good one kept (./cluster-settings.ts).

export { type ConfigMapRef, DEFAULT_CONFIG_MAP_KEY, DEFAULT_CONFIG_MAP_NAME } from './cluster-settings.js';
export { Discovery, type DiscoveryResult } from './discovery.js';
export { API_REASONS, type ApiProblem, type ApiReason } from './health.js';
export { AnswerTooLargeError, KubeApiError, KubeHttp, MAX_ANSWER_BYTES, MAX_WATCH_LINE_BYTES } from './http.js';
export { checkKubeConfig, type KubeConfigChoice, KubeConfigError, loadKubeConfig } from './kubeconfig.js';
export { CONFIG_TYPES, type ResourceType, WATCHED_TYPES } from './resource-types.js';
export { readyOnly } from './serving-only.js';
export { KubernetesSource, type KubernetesSourceOptions } from './source.js';
export { desiredStatus, StatusWriter, type StatusWriterStats } from './status-writer.js';
export {
  BACKENDS_ANNOTATION,
  type ClusterObjects,
  DEFAULT_OWN_POD_SELECTOR,
  isClusterSource,
  SERVING_ONLY_LABEL,
  sourceFile,
  type TranslateOptions,
  type Translation,
  translate,
} from './translate.js';
export { DEFAULT_TUNING, type KubeObject, ListWatcher, type WatcherStats, type WatchTuning } from './watcher.js';
