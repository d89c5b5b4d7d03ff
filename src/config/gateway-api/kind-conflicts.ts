// HTTPRoutes and GRPCRoutes never share a hostname on a listener. The spec (GRPCRouteSpec.hostnames): "If a Route (A)
// of type HTTPRoute or GRPCRoute is attached to a Listener and that listener already has another Route (B) of the
// other type attached and the intersection of the hostnames of A and B is non-empty, then the implementation MUST
// accept exactly one of these two routes": the oldest by creationTimestamp, then the first by "{namespace}/{name}".
// The same holds here for routes bound to one Service port (GAMMA), where hostnames do not apply: any two overlap.
import type { Attachment, MeshBinding } from './attach.js';
import { covers } from './hostnames.js';
import { byAge } from './precedence.js';
import type { RouteSpec } from './types.js';

const overlap = (a: readonly string[], b: readonly string[]) => a.some((x) => b.some((y) => covers(x, y) || covers(y, x)));

/** The route each rejected attachment or binding lost to. */
export type Losers = Map<Attachment | MeshBinding, RouteSpec>;

/** Keeps, among attachments of both kinds to one listener (or bindings to one service port), the older route's. */
export function resolveKindConflicts(attachments: readonly Attachment[], mesh: readonly MeshBinding[]): Losers {
  const losers: Losers = new Map();
  const kept: Attachment[] = [];
  for (const a of [...attachments].sort((x, y) => byAge(x.route, y.route))) {
    const winner = kept.find((k) => k.listener === a.listener && k.route.kind !== a.route.kind && overlap(k.hostnames, a.hostnames));
    if (winner) losers.set(a, winner.route);
    else kept.push(a);
  }
  const bound: MeshBinding[] = [];
  for (const m of [...mesh].sort((x, y) => byAge(x.route, y.route))) {
    const winner = bound.find((k) => k.host === m.host && k.route.kind !== m.route.kind && (k.port === undefined || m.port === undefined || k.port === m.port));
    if (winner) losers.set(m, winner.route);
    else bound.push(m);
  }
  return losers;
}
