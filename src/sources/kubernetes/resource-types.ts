// The kinds Shadowgate reads from the cluster, which versions of each it can read, and where their collections live.
//
// To read a new kind, add it to CONFIG_TYPES with the versions this code understands: it is discovered (once per
// start, with every other kind: see ./discovery.ts), watched, and handed to the snapshot as it is.

export const ISTIO_GROUP = 'networking.istio.io';
/** The Istio versions this code reads (their schemas are the same for the fields Shadowgate uses). */
export const ISTIO_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'] as const;

export interface ResourceType {
  /** '' for the core group. */
  group: string;
  /**
   * The versions this code reads. A built-in kind uses its only version without asking; any other kind is
   * discovered: the server's preferred version when it is listed here, else the first version the server lists
   * that is listed here (client-go's discovery order).
   */
  versions: readonly string[];
  /** Served by every Kubernetes Shadowgate supports (core v1, discovery.k8s.io/v1): no discovery needed. */
  builtIn?: boolean;
  kind: string;
  plural: string;
  /** Only metadata is kept (and asked for). */
  metadataOnly?: boolean;
  /** Most clusters do not serve it: not being served is not worth a problem. */
  optional?: boolean;
  /** Cluster-scoped (GatewayClass): listed across the cluster whatever `--namespace` says (a ClusterRole grants it). */
  clusterScoped?: boolean;
  /** Its name in logs and metrics when another group has a kind of the same name (Istio's Gateway). */
  label?: string;
}

/** How logs and metrics name a watched kind. */
export function kindLabel(t: ResourceType): string {
  return t.label ?? t.kind;
}

export const ISTIO_TYPES: readonly ResourceType[] = [
  { group: ISTIO_GROUP, versions: ISTIO_VERSIONS, kind: 'VirtualService', plural: 'virtualservices' },
  { group: ISTIO_GROUP, versions: ISTIO_VERSIONS, kind: 'DestinationRule', plural: 'destinationrules' },
  { group: ISTIO_GROUP, versions: ISTIO_VERSIONS, kind: 'ServiceEntry', plural: 'serviceentries' },
  { group: ISTIO_GROUP, versions: ISTIO_VERSIONS, kind: 'WorkloadEntry', plural: 'workloadentries' },
  // Issue 17: Istio Gateways served (TLS termination); optional, as an Istio without ingress may lack them.
  { group: ISTIO_GROUP, versions: ISTIO_VERSIONS, kind: 'Gateway', plural: 'gateways', optional: true, label: 'Gateway.networking.istio.io' },
];

// Gateway API (issue 18): a cluster without its CRDs serves none, and that is fine. GatewayClass is cluster-scoped:
// Gateways of a class whose controllerName is Shadowgate's are served (and of class `shadowgate` without one).
const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
export const GATEWAY_CLASS: ResourceType = {
  group: GATEWAY_API_GROUP,
  versions: ['v1', 'v1beta1'],
  kind: 'GatewayClass',
  plural: 'gatewayclasses',
  optional: true,
  clusterScoped: true,
};
export const GATEWAY_API_TYPES: readonly ResourceType[] = [
  GATEWAY_CLASS,
  { group: GATEWAY_API_GROUP, versions: ['v1', 'v1beta1'], kind: 'Gateway', plural: 'gateways', optional: true },
  { group: GATEWAY_API_GROUP, versions: ['v1', 'v1beta1'], kind: 'HTTPRoute', plural: 'httproutes', optional: true },
  // GRPCRoute v1 (v1alpha2 is no longer served); a cluster with an older CRD serving only v1alpha2 is not read.
  { group: GATEWAY_API_GROUP, versions: ['v1'], kind: 'GRPCRoute', plural: 'grpcroutes', optional: true },
  // TLSRoute: v1 (standard channel since v1.5); the experimental channel's CRD also serves v1alpha3 and v1alpha2,
  // which an older cluster may serve alone.
  { group: GATEWAY_API_GROUP, versions: ['v1', 'v1alpha3', 'v1alpha2'], kind: 'TLSRoute', plural: 'tlsroutes', optional: true },
  { group: GATEWAY_API_GROUP, versions: ['v1beta1', 'v1'], kind: 'ReferenceGrant', plural: 'referencegrants', optional: true },
];

/** Config kinds: discovered, watched, and passed to the snapshot as they are. */
export const CONFIG_TYPES: readonly ResourceType[] = [...ISTIO_TYPES, ...GATEWAY_API_TYPES];

/**
 * Shadowgate's own settings from the cluster (issue 20): the ShadowgateConfig CRD (deploy/k8s/crds), and one
 * ConfigMap watched by name. Both are checked before they reach the snapshot (./cluster-settings.ts).
 */
export const SHADOWGATE_CONFIG: ResourceType = {
  group: 'shadowgate.dev',
  versions: ['v1alpha1'],
  kind: 'ShadowgateConfig',
  plural: 'shadowgateconfigs',
  optional: true,
};
/** Optional: a Role from before settings came from the cluster (no configmaps) must not hold readiness back. */
export const CONFIG_MAP: ResourceType = { group: '', versions: ['v1'], builtIn: true, kind: 'ConfigMap', plural: 'configmaps', optional: true };

export const SERVICE: ResourceType = { group: '', versions: ['v1'], builtIn: true, kind: 'Service', plural: 'services' };
export const ENDPOINT_SLICE: ResourceType = { group: 'discovery.k8s.io', versions: ['v1'], builtIn: true, kind: 'EndpointSlice', plural: 'endpointslices' };
export const POD: ResourceType = { group: '', versions: ['v1'], builtIn: true, kind: 'Pod', plural: 'pods', metadataOnly: true };

/**
 * Secrets hold the certificates of Gateway servers' `credentialName` (issue 17): watched only once a server names
 * one (source.ts `secret()`), so a Role without Secrets works for everything else. Optional: a 403 leaves those
 * servers unserved (said per server), never the source unsynced.
 */
export const SECRET: ResourceType = { group: '', versions: ['v1'], builtIn: true, kind: 'Secret', plural: 'secrets', optional: true };

export const CORE_TYPES: readonly ResourceType[] = [SERVICE, ENDPOINT_SLICE, POD];

/** Every kind the source watches (the ConfigMap only when one is named: see KubernetesSourceOptions.configMap). */
export const WATCHED_TYPES: readonly ResourceType[] = [...CONFIG_TYPES, SHADOWGATE_CONFIG, ...CORE_TYPES];

export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

/** `/api/v1/namespaces/ns/pods`, `/apis/networking.istio.io/v1/virtualservices`, ... */
export function collectionPath(t: ResourceType, version: string, namespace: string | undefined): string {
  const root = t.group ? `/apis/${t.group}/${version}` : `/api/${version}`;
  return namespace && !t.clusterScoped ? `${root}/namespaces/${encodeURIComponent(namespace)}/${t.plural}` : `${root}/${t.plural}`;
}
