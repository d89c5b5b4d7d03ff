// Precedence across rules and routes (HTTPRouteRule.matches in the spec), as one total order; not Istio's first match.
import type { HTTPRouteSpec, MatchSpec, RuleSpec } from './types.js';

export interface Entry {
  route: HTTPRouteSpec;
  rule: RuleSpec;
  /** undefined: a rule without matches, which is PathPrefix "/". */
  match: MatchSpec | undefined;
  /** From the hostname the route matched with (see hostnames.ts); [0, 0] for mesh routes. */
  host: [number, number];
}

const ALL: Omit<MatchSpec, 'match'> = { index: 0, pathRank: 2, pathLength: 0, prefix: '' };

function facts(e: Entry) {
  const m = e.match;
  return {
    rank: (m ?? ALL).pathRank,
    length: (m ?? ALL).pathLength,
    method: m?.match.method ? 1 : 0,
    headers: m?.match.headers.length ?? 0,
    query: m?.match.queryParams.length ?? 0,
  };
}

/**
 * Sorts most specific first. The spec, on ties, continuing: exact path, longest prefix (by characters of
 * the normalized prefix), method, most headers, most query params; across routes the oldest
 * creationTimestamp, then "{namespace}/{name}" alphabetically; within a route the first rule, then (our
 * choice, as Istio) the first match. RegularExpression paths are "implementation-specific": ranked after
 * PathPrefix, by length, as Istio does (pilot/pkg/config/kube/gateway/conversion.go, sortHTTPRoutes and
 * getURIRank: Exact > Prefix > Regex). Hostname specificity comes first (HTTPRouteSpec.hostnames).
 */
export function compareEntries(a: Entry, b: Entry): number {
  if (a.host[0] !== b.host[0]) return b.host[0] - a.host[0];
  if (a.host[1] !== b.host[1]) return b.host[1] - a.host[1];
  const fa = facts(a);
  const fb = facts(b);
  if (fa.rank !== fb.rank) return fb.rank - fa.rank;
  if (fa.length !== fb.length) return fb.length - fa.length;
  if (fa.method !== fb.method) return fb.method - fa.method;
  if (fa.headers !== fb.headers) return fb.headers - fa.headers;
  if (fa.query !== fb.query) return fb.query - fa.query;
  if (a.route !== b.route) {
    if (a.route.created !== b.route.created) return a.route.created < b.route.created ? -1 : 1;
    const ka = `${a.route.namespace}/${a.route.name}`;
    const kb = `${b.route.namespace}/${b.route.name}`;
    if (ka !== kb) return ka < kb ? -1 : 1;
  }
  if (a.rule.index !== b.rule.index) return a.rule.index - b.rule.index;
  return (a.match?.index ?? 0) - (b.match?.index ?? 0);
}
