// Resolves backendRefs (and mirror backendRefs) to clusters: Service → name.namespace.svc.cluster.local, as Istio does.
import { CLUSTER_DOMAIN, clusterName } from '../hosts.js';
import type { ClusterRef, MirrorTarget, WeightedDestination } from '../model.js';
import type { ResolvedRule } from './routes.js';
import { GATEWAY_API_GROUP } from './schemas.js';
import { reasonCode } from './status.js';
import type { BackendSpec, GatewayApiResources, ReferenceGrantSpec, RouteSpec, RuleSpec } from './types.js';

export interface Registry {
  /** Ports of a service host; undefined when no ServiceEntry declares it. */
  ports(host: string): readonly number[] | undefined;
  /** The number of a service port by its name (a Service parentRef's sectionName). */
  portNamed(host: string, name: string): number | undefined;
  /** Hosts of `ServiceEntry namespace/name`, for parentRefs to a ServiceEntry. */
  entryHosts(namespace: string, name: string): readonly string[] | undefined;
  /** Ports a ServiceEntry already listens on: a Gateway listener cannot take them. */
  listenPorts: ReadonlySet<number>;
  /**
   * The cluster a GRPCRoute reaches a service port by, speaking HTTP/2 (h2c) whatever the port's HTTP protocol says,
   * or the port's protocol when it cannot carry HTTP/2 (TCP, TLS, HTTPS...); undefined when there is no such port.
   */
  grpcCluster(host: string, port: number): { cluster: string } | { protocol: string } | undefined;
}

export type Resolved =
  | { ok: true; ref: ClusterRef }
  | { ok: false; reason: 'InvalidKind' | 'RefNotPermitted' | 'BackendNotFound' | 'UnsupportedProtocol'; message: string };

const isCore = (group: string) => group === '' || group === 'core';

/** A cross-namespace reference needs a ReferenceGrant in the target namespace (GEP-709). */
export function permitted(
  grants: readonly ReferenceGrantSpec[],
  fromKind: string,
  fromNs: string,
  toGroup: string,
  toKind: string,
  toNs: string,
  toName: string,
): boolean {
  if (fromNs === toNs) return true;
  return grants.some(
    (g) =>
      g.namespace === toNs &&
      g.from.some((f) => f.group === GATEWAY_API_GROUP && f.kind === fromKind && f.namespace === fromNs) &&
      g.to.some((t) => (isCore(t.group) ? isCore(toGroup) : t.group === toGroup) && t.kind === toKind && (t.name === undefined || t.name === toName)),
  );
}

export function resolveBackend(b: BackendSpec, route: RouteSpec, listenerPort: number, registry: Registry, grants: readonly ReferenceGrantSpec[]): Resolved {
  let host: string;
  if (isCore(b.group) && b.kind === 'Service') {
    host = `${b.name}.${b.namespace}.${CLUSTER_DOMAIN}`;
    if (!permitted(grants, route.kind, route.namespace, '', 'Service', b.namespace, b.name)) {
      return {
        ok: false,
        reason: 'RefNotPermitted',
        message: `no ReferenceGrant in namespace ${b.namespace} lets ${route.kind}s of ${route.namespace} refer to Service ${b.name}`,
      };
    }
  } else if (b.group === 'networking.istio.io' && b.kind === 'Hostname') {
    // Istio's extension: a backendRef naming a ServiceEntry host directly.
    host = b.name.toLowerCase();
  } else {
    return {
      ok: false,
      reason: 'InvalidKind',
      message: `backendRef kind ${b.group ? `${b.group}/` : ''}${b.kind} is not supported (use a Service, or networking.istio.io Hostname)`,
    };
  }
  const ports = registry.ports(host);
  if (!ports) return { ok: false, reason: 'BackendNotFound', message: `no ServiceEntry declares host ${host}` };
  const port = b.port ?? (ports.length === 1 ? ports[0]! : listenerPort);
  if (!ports.includes(port)) return { ok: false, reason: 'BackendNotFound', message: `${host} has no port ${port}` };
  if (route.kind === 'GRPCRoute') {
    // gRPC needs HTTP/2. The spec lets an implementation infer the backend protocol from the route's type; a port
    // that cannot carry it is an invalid backend with ResolvedRefs UnsupportedProtocol (GRPCBackendRef).
    const grpc = registry.grpcCluster(host, port);
    if (grpc && 'protocol' in grpc) {
      return { ok: false, reason: 'UnsupportedProtocol', message: `${host} port ${port} speaks ${grpc.protocol}, not HTTP/2: gRPC cannot reach it` };
    }
    if (grpc) return { ok: true, ref: { cluster: grpc.cluster, host, subset: '', port } };
  }
  return { ok: true, ref: { cluster: clusterName(port, '', host), host, subset: '', port } };
}

/** A cluster name no snapshot defines: an invalid backend's share of traffic fails instead of reaching anything. */
export function unresolvedCluster(b: BackendSpec, reason: string): ClusterRef {
  return { cluster: `unresolved|${reason}|${b.namespace}/${b.name}`, host: `${b.name}.${b.namespace}`, subset: '', port: b.port ?? 0 };
}

/** What becomes of the traffic an invalid backend would have had, by route kind. */
const FAILS: Readonly<Record<RouteSpec['kind'], string>> = {
  HTTPRoute: 'requests to it fail (500 when no backend is left)',
  GRPCRoute: 'requests to it fail (UNAVAILABLE when no backend is left)',
  TLSRoute: 'connections to it are refused',
};

/** ResolvedRefs of a route: every backendRef and mirror backendRef resolves (checked with the first listener port). */
export function checkRefs(route: RouteSpec, registry: Registry, res: GatewayApiResources): { ok: boolean; reason: string; message: string } {
  let first: { ok: boolean; reason: string; message: string } | undefined;
  for (const rule of route.rules) {
    for (const b of [...rule.backends, ...rule.mirrors]) {
      // A Hostname backend without port takes the listener's: checked per listener when compiled, not here.
      const r = resolveBackend(b, route, b.port ?? registry.ports(b.name)?.[0] ?? 0, registry, res.grants);
      if (r.ok) continue;
      route.ctx.reference('error', reasonCode(r.reason), b.path, `${r.message}: ${FAILS[route.kind]}`);
      first ??= { ok: false, reason: r.reason, message: r.message };
    }
  }
  return first ?? { ok: true, reason: 'ResolvedRefs', message: 'all references resolved' };
}

export function resolveRule(route: RouteSpec, rule: RuleSpec, port: number, registry: Registry, res: GatewayApiResources): ResolvedRule {
  const destinations: WeightedDestination[] = [];
  const mirrors: MirrorTarget[] = [];
  let invalid = false;
  for (const b of rule.backends) {
    if (b.weight === 0) continue;
    const r = resolveBackend(b, route, port, registry, res.grants);
    if (!r.ok) invalid = true;
    // An invalid backend keeps its share of traffic, on a cluster that does not exist: it fails, never reaches anything.
    destinations.push({ ...(r.ok ? r.ref : unresolvedCluster(b, r.reason)), weight: b.weight, headers: b.headers });
  }
  for (const m of rule.mirrors) {
    const r = resolveBackend(m, route, port, registry, res.grants);
    if (r.ok) mirrors.push({ ...r.ref, percentage: m.percentage });
  }
  // Every backend invalid: nothing left to forward to, the rule answers 500.
  return { destinations: invalid && destinations.every((d) => d.cluster.startsWith('unresolved|')) ? [] : destinations, mirrors, invalid };
}
