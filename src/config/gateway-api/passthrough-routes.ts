// TLSRoutes on TLS listeners in Passthrough mode, compiled into a port's passthrough routes (model PassthroughRoute):
// the same ones Istio's PASSTHROUGH servers compile to, served by proxy/passthrough.ts (the ClientHello's SNI picks a
// route, an exact name before the longest wildcard, the first listed on a tie; bytes go through untouched).
import type { PassthroughRoute } from '../model.js';
import type { Attachment, LiveListener } from './attach.js';
import { type Registry, resolveBackend, unresolvedCluster } from './backends.js';
import { mostSpecific } from './hostnames.js';
import { byAge } from './precedence.js';
import type { GatewayApiResources, RouteSpec } from './types.js';

/**
 * One port's passthrough routes. `attachments`: the TLSRoutes attached to its TLS listeners; `listeners`: those live TLS
 * listeners; `portHosts`: every live listener hostname of the port (`*` for none), HTTPS ones included.
 *
 * - Listener isolation: an SNI name belongs to the most specific listener hostname covering it, and only that
 *   listener's routes take it (a route's name a more specific listener owns is left out there).
 * - Two TLSRoutes claiming the same name on a port: "only one Route hostname may match each request" (TLSRoute,
 *   Merging); the oldest (creationTimestamp, then `namespace/name`) keeps it, the other is told by a warning.
 * - Each listener hostname ends the list with a route of no destination: an SNI its routes do not take is refused
 *   there, never handed to a less specific listener's route or to a terminated server of the port.
 */
export function passthroughRoutes(
  port: number,
  attachments: readonly Attachment[],
  listeners: readonly LiveListener[],
  portHosts: ReadonlySet<string>,
  registry: Registry,
  res: GatewayApiResources,
): PassthroughRoute[] {
  const routes: PassthroughRoute[] = [];
  const claimed = new Map<string, RouteSpec>();
  for (const a of [...attachments].sort((x, y) => byAge(x.route, y.route) || x.listener.spec.index - y.listener.spec.index)) {
    const sniHosts: string[] = [];
    for (const name of a.hostnames) {
      if (mostSpecific(portHosts, name) !== a.listenerHost) continue;
      const first = claimed.get(name);
      if (first && first !== a.route) {
        a.route.ctx.reference(
          'warning',
          'hostname-conflict',
          ['spec', 'hostnames'],
          `SNI ${name} on port ${port} is also ${first.ref}'s, which is older: it takes those connections, not this route`,
        );
        continue;
      }
      if (first) continue;
      claimed.set(name, a.route);
      sniHosts.push(name);
    }
    if (sniHosts.length === 0) continue;
    routes.push({
      sniHosts,
      destinations: destinations(a.route, port, registry, res),
      source: `${a.route.ref} (${a.listener.gateway.ref} listener ${a.listener.spec.name})`,
    });
  }
  for (const l of listeners) routes.push({ sniHosts: [l.spec.hostname ?? '*'], destinations: [], source: `${l.gateway.ref} listener ${l.spec.name}` });
  return routes;
}

/**
 * The backends of the route's rule (v1 has one; of v1alpha2's several, the first takes every connection). An invalid
 * backend keeps its share of connections on a cluster that does not exist, so they are refused "respecting weight"
 * (TLSRouteRule.backendRefs); weight 0 drops a backend.
 */
function destinations(route: RouteSpec, port: number, registry: Registry, res: GatewayApiResources): PassthroughRoute['destinations'] {
  return (route.rules[0]?.backends ?? [])
    .filter((b) => b.weight > 0)
    .map((b) => {
      const r = resolveBackend(b, route, port, registry, res.grants);
      const { cluster, host, subset, port: p } = r.ok ? r.ref : unresolvedCluster(b, r.reason);
      return { cluster, host, subset, port: p, weight: b.weight };
    });
}
