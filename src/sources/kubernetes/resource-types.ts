// The kinds Shadowgate reads from the cluster, where their collections live, and which Istio version is served.
import { isNotFound, type KubeHttp } from './http.js';

export const ISTIO_GROUP = 'networking.istio.io';
/** Tried in this order when discovery does not say (or is not allowed). */
export const ISTIO_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'] as const;

export interface ResourceType {
  /** '' for the core group. */
  group: string;
  /** Fixed version; undefined for Istio kinds, whose version is discovered. */
  version?: string;
  kind: string;
  plural: string;
  /** Only metadata is kept (and asked for). */
  metadataOnly?: boolean;
  /** Most clusters do not serve it: not being served is not worth a problem. */
  optional?: boolean;
}

export const ISTIO_TYPES: readonly ResourceType[] = [
  { group: ISTIO_GROUP, kind: 'VirtualService', plural: 'virtualservices' },
  { group: ISTIO_GROUP, kind: 'DestinationRule', plural: 'destinationrules' },
  { group: ISTIO_GROUP, kind: 'ServiceEntry', plural: 'serviceentries' },
  { group: ISTIO_GROUP, kind: 'WorkloadEntry', plural: 'workloadentries' },
  // Gateway API (issue 18), read like the Istio kinds; a cluster without its CRDs serves none, and that is fine.
  // GatewayClass is cluster-scoped and not watched: Gateways of class `shadowgate` are served.
  { group: 'gateway.networking.k8s.io', kind: 'Gateway', plural: 'gateways', optional: true },
  { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', plural: 'httproutes', optional: true },
  { group: 'gateway.networking.k8s.io', kind: 'ReferenceGrant', plural: 'referencegrants', optional: true },
];

export const SERVICE: ResourceType = { group: '', version: 'v1', kind: 'Service', plural: 'services' };
export const ENDPOINT_SLICE: ResourceType = { group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices' };
export const POD: ResourceType = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', metadataOnly: true };

export const CORE_TYPES: readonly ResourceType[] = [SERVICE, ENDPOINT_SLICE, POD];

export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

/** `/api/v1/namespaces/ns/pods`, `/apis/networking.istio.io/v1/virtualservices`, ... */
export function collectionPath(t: ResourceType, version: string, namespace: string | undefined): string {
  const root = t.group ? `/apis/${t.group}/${version}` : `/api/${version}`;
  return namespace ? `${root}/namespaces/${encodeURIComponent(namespace)}/${t.plural}` : `${root}/${t.plural}`;
}

/**
 * The version of `t` the server serves: the group's preferred version first, then the others it lists, each
 * checked for the resource. Undefined when the group or the resource is not served (no Istio CRDs installed).
 * When discovery is refused, probes a list of each known version instead.
 */
export async function discoverVersion(api: KubeHttp, t: ResourceType, namespace: string | undefined, signal: AbortSignal, timeoutMs: number): Promise<string | undefined> {
  if (t.version) return t.version;
  let versions: string[];
  try {
    const group = await api.getJson(`/apis/${t.group}`, {}, 'application/json', signal, timeoutMs);
    const listed = Array.isArray(group.versions) ? group.versions : [];
    const names = listed.flatMap((v: unknown) => (v && typeof v === 'object' && typeof (v as { version?: unknown }).version === 'string' ? [(v as { version: string }).version] : []));
    const preferred = (group.preferredVersion as { version?: unknown } | undefined)?.version;
    versions = typeof preferred === 'string' ? [preferred, ...names.filter((n) => n !== preferred)] : names;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    if (signal.aborted) throw err;
    return await probeVersions(api, t, namespace, signal, timeoutMs);
  }
  for (const version of versions) {
    try {
      const list = await api.getJson(`/apis/${t.group}/${version}`, {}, 'application/json', signal, timeoutMs);
      const resources = Array.isArray(list.resources) ? list.resources : [];
      if (resources.some((r: unknown) => (r as { name?: unknown } | null)?.name === t.plural)) return version;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return undefined;
}

async function probeVersions(api: KubeHttp, t: ResourceType, namespace: string | undefined, signal: AbortSignal, timeoutMs: number): Promise<string | undefined> {
  for (const version of ISTIO_VERSIONS) {
    try {
      await api.getJson(collectionPath(t, version, namespace), { limit: 1 }, 'application/json', signal, timeoutMs);
      return version;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return undefined;
}
