// What each run compares, read off a config snapshot: per mirrored route, its candidate and primary with a
// fingerprint of their endpoints, and of the route's mirror config. A change in any of them starts a new run.
import { createHash } from 'node:crypto';
import type { RunIdentity } from '../compare/index.js';
import type { Cluster, Route, Snapshot } from '../config/index.js';

/** `<VirtualService namespace/name>#<route name or index>`, the run's route (docs/admin-api.md). */
export function runRouteKey(route: Route): string {
  const vs = route.source.replace(/^VirtualService /, '');
  const vsName = vs.slice(vs.indexOf('/') + 1);
  const unnamed = route.name === `${vsName}.${route.index}`;
  return `${vs}#${unnamed ? route.index : route.name}`;
}

function hash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/**
 * Endpoints' addresses, ports and every label, sorted: a new pod (address), a new ReplicaSet
 * (`pod-template-hash`), a new `version` label each give a new fingerprint. Weights and the source file do not.
 */
function endpointsFingerprint(clusters: readonly (Cluster | undefined)[]): string {
  const parts: string[] = [];
  for (const c of clusters) {
    if (!c) continue;
    for (const e of c.endpoints) {
      const labels = Object.keys(e.labels)
        .sort()
        .map((k) => `${k}=${e.labels[k]}`)
        .join(',');
      parts.push(`${c.name} ${e.address}:${e.port} {${labels}}`);
    }
  }
  return hash(parts.sort());
}

const side = (host: string, subset: string, fingerprint: string) => (subset === '' ? { host, fingerprint } : { host, subset, fingerprint });

/** One identity per route that mirrors to a candidate (a mirror to a subset other than the primary's). */
export function runIdentities(snapshot: Snapshot): RunIdentity[] {
  const out = new Map<string, RunIdentity>();
  for (const listener of snapshot.listeners) {
    for (const vh of listener.virtualHosts) {
      for (const route of vh.routes) {
        if (route.action.kind !== 'route' || route.mirrors.length === 0) continue;
        const destinations = route.action.destinations;
        const main = destinations.reduce((a, b) => (b.weight > a.weight ? b : a), destinations[0]!);
        if (!main) continue;
        // The handler's rule (proxy/handler.ts): the first mirror away from the primary's subset is the candidate.
        // A mirror at 0% never fires; a request on which this one does not fire but a later one does is not
        // compared (Comparator.begin), so a run never mixes two candidates.
        const candidate = route.mirrors.find((m) => m.percentage > 0 && !(m.host === main.host && m.subset === main.subset));
        if (!candidate) continue;
        const key = runRouteKey(route);
        if (out.has(key)) continue;
        const primaryFp = endpointsFingerprint(destinations.map((d) => snapshot.clusters[d.cluster]));
        const candidateFp = endpointsFingerprint([snapshot.clusters[candidate.cluster]]);
        const mirrorFp = hash(route.mirrors.map((m) => [m.cluster, m.percentage]).concat(destinations.map((d) => [d.cluster, d.weight])));
        out.set(key, {
          route: key,
          fingerprint: hash([candidateFp, primaryFp, mirrorFp]),
          candidate: side(candidate.host, candidate.subset, candidateFp),
          primary: side(main.host, main.subset, primaryFp),
          mirrorFingerprint: mirrorFp,
        });
      }
    }
  }
  return [...out.values()];
}
