// Precedence across rules and routes (HTTPRouteRule.matches, GRPCRouteRule.matches in the spec), as one total order;
// not Istio's first match.
import type { MatchSpec, RouteSpec, RuleSpec } from './types.js';

export interface Entry {
  route: RouteSpec;
  rule: RuleSpec;
  /** undefined: a rule without matches, which is PathPrefix "/". */
  match: MatchSpec | undefined;
  /** From the hostname the route matched with (see hostnames.ts); [0, 0] for mesh routes. */
  host: [number, number];
}

const ALL: Omit<MatchSpec, 'match'> = { index: 0, pathRank: 2, pathLength: 0, prefix: '' };

/** The facts an HTTPRoute match ranks by, most significant first. */
function httpFacts(m: MatchSpec | undefined): number[] {
  return [(m ?? ALL).pathRank, (m ?? ALL).pathLength, m?.match.method ? 1 : 0, m?.match.headers.length ?? 0, m?.match.queryParams.length ?? 0];
}

/**
 * A GRPCRoute match's (GRPCRouteRule.matches): "characters in a matching service", "characters in a matching
 * method", "header matches". A rule without matches has none of them.
 */
function grpcFacts(m: MatchSpec | undefined): number[] {
  return [m?.grpc?.service ?? 0, m?.grpc?.method ?? 0, m?.match.headers.length ?? 0];
}

/** Older first: creationTimestamp (undated routes, as in files, last), then `namespace/name` alphabetically. */
export function byAge(a: RouteSpec, b: RouteSpec): number {
  if (a.created !== b.created) return a.created < b.created ? -1 : 1;
  const ka = `${a.namespace}/${a.name}`;
  const kb = `${b.namespace}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/**
 * Sorts most specific first. GRPCRoutes: hostname, then service, method and header matches (grpcFacts), then the
 * same tie-breaks across routes and within one. HTTPRoutes: the spec, on ties, continuing: exact path, longest prefix (by characters of
 * the normalized prefix), method, most headers, most query params; across routes the oldest
 * creationTimestamp, then "{namespace}/{name}" alphabetically; within a route the first rule, then (our
 * choice, as Istio) the first match. RegularExpression paths are "implementation-specific": ranked after
 * PathPrefix, by length, as Istio does (pilot/pkg/config/kube/gateway/conversion.go, sortHTTPRoutes and
 * getURIRank: Exact > Prefix > Regex). Hostname specificity comes first (RouteSpec.hostnames).
 */
export function compareEntries(a: Entry, b: Entry): number {
  if (a.host[0] !== b.host[0]) return b.host[0] - a.host[0];
  if (a.host[1] !== b.host[1]) return b.host[1] - a.host[1];
  // "Merging MUST not be done between GRPCRoutes and HTTPRoutes": routes of both kinds never share hostnames on a
  // listener (compile.ts keeps one of two that would), so this only keeps the order total.
  if (a.route.kind !== b.route.kind) return a.route.kind < b.route.kind ? -1 : 1;
  const facts = a.route.kind === 'GRPCRoute' ? grpcFacts : httpFacts;
  const fa = facts(a.match);
  const fb = facts(b.match);
  for (let i = 0; i < fa.length; i++) if (fa[i] !== fb[i]) return fb[i]! - fa[i]!;
  if (a.route !== b.route) {
    const age = byAge(a.route, b.route);
    if (age !== 0) return age;
  }
  if (a.rule.index !== b.rule.index) return a.rule.index - b.rule.index;
  return (a.match?.index ?? 0) - (b.match?.index ?? 0);
}
