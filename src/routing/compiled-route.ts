// A Route compiled once per snapshot: its match predicates, path rewrite and authority rewrite.

import type { HeaderOps, Route, RouteMatch, WeightedDestination } from '../config/model.js';
import type { MatchInput } from './facts.js';
import { splitPath } from './facts.js';
import { applyRegexRewrite, compileRegexRewrite, type RegexRewrite } from './regex-rewrite.js';
import { compileRouteMatch, type MatchTest } from './route-match.js';

/** What `CompiledVirtualHost.match` returns. Prepared at build time: matching allocates nothing. */
export interface RouteMatchResult {
  readonly route: Route;
  /** Index into `route.matches` of the match that held; -1 when the route has no matches. */
  readonly matchIndex: number;
  readonly compiled: CompiledRoute;
}

/**
 * How many leading characters of the path Istio's `rewrite.uri` replaces for each match. Istio
 * always emits it as Envoy `prefix_rewrite`, which swaps the *matched* part:
 * - `prefix` uri: the configured prefix;
 * - `exact` or `regex` uri: the whole path (query kept);
 * - no uri: Istio's route matches with `prefix: "/"`, so only the leading "/" is replaced
 *   (`rewrite.uri: /v2` turns `/foo` into `/v2foo`).
 */
const WHOLE_PATH = -1;
function replacedLength(m: RouteMatch | undefined): number {
  if (m?.uri === undefined) return 1;
  return m.uri.kind === 'prefix' ? m.uri.value.length : WHOLE_PATH;
}

/** Istio turns a `:authority`/`host` entry of a headers policy into a host rewrite; `set` wins. */
export function authorityFromOps(ops: HeaderOps): string | undefined {
  const pick = (rec: Record<string, string>): string | undefined => {
    let found: string | undefined;
    for (const [k, v] of Object.entries(rec)) {
      const key = k.toLowerCase();
      if ((key === ':authority' || key === 'host') && v !== '') found = v;
    }
    return found;
  };
  return pick(ops.set) ?? pick(ops.add);
}

export class CompiledRoute {
  readonly route: Route;
  /** Why the route was disabled (a regex that is not RE2); it then never matches. */
  readonly error: string | undefined;
  readonly #tests: readonly MatchTest[];
  readonly #results: readonly RouteMatchResult[];
  readonly #catchAll: RouteMatchResult | undefined;
  readonly #regexRewrite: RegexRewrite | undefined;
  readonly #replaced: readonly number[];
  readonly #authority: string | undefined;
  readonly #destAuthority: ReadonlyMap<WeightedDestination, string>;

  constructor(route: Route) {
    this.route = route;
    let tests: MatchTest[] = [];
    let regexRewrite: RegexRewrite | undefined;
    let error: string | undefined;
    try {
      tests = route.matches.map(compileRouteMatch);
      const rr = route.rewrite?.uriRegex;
      if (rr) regexRewrite = compileRegexRewrite(rr.match, rr.rewrite);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      tests = [];
    }
    this.error = error;
    this.#tests = tests;
    this.#regexRewrite = regexRewrite;
    this.#results = route.matches.map((_, matchIndex) => ({ route, matchIndex, compiled: this }));
    this.#catchAll = route.matches.length === 0 && error === undefined ? { route, matchIndex: -1, compiled: this } : undefined;
    this.#replaced = route.matches.map(replacedLength);

    // Istio: rewrite.authority beats the route's headers policy, which beats a destination's.
    this.#authority = route.rewrite?.authority || authorityFromOps(route.headers.request);
    const dest = new Map<WeightedDestination, string>();
    if (route.action.kind === 'route') {
      for (const d of route.action.destinations) {
        const a = authorityFromOps(d.headers.request);
        if (a !== undefined) dest.set(d, a);
      }
    }
    this.#destAuthority = dest;
  }

  /** The first match (in order) that holds, or undefined. */
  match(input: MatchInput): RouteMatchResult | undefined {
    if (this.#catchAll) return this.#catchAll;
    const tests = this.#tests;
    for (let i = 0; i < tests.length; i++) if (tests[i]!(input)) return this.#results[i];
    return undefined;
  }

  /** Applies `rewrite.uriRegex` or `rewrite.uri` to a request-target; the query is kept. */
  rewritePath(matchIndex: number, path: string): string {
    const rw = this.route.rewrite;
    if (this.#regexRewrite) {
      // Istio gives uriRegexRewrite precedence over uri (validation forbids both anyway).
      const [pathOnly, rest] = splitPath(path);
      return applyRegexRewrite(this.#regexRewrite, pathOnly) + rest;
    }
    if (rw?.uri === undefined || rw.uri === '') return path;
    const [pathOnly, rest] = splitPath(path);
    const n = this.#replaced[matchIndex] ?? 1;
    const cut = n === WHOLE_PATH ? pathOnly.length : Math.min(n, pathOnly.length);
    return rw.uri + pathOnly.slice(cut) + rest;
  }

  /** The authority to send upstream. */
  rewriteAuthority(authority: string, destination?: WeightedDestination): string {
    if (this.#authority !== undefined) return this.#authority;
    if (destination) return this.#destAuthority.get(destination) ?? authority;
    return authority;
  }
}

// Callers holding only the model Route get the compiled form from here; the snapshot is immutable,
// so identity is a safe cache key and each Route is compiled once.
const cache = new WeakMap<Route, CompiledRoute>();

export function compiledRoute(route: Route | CompiledRoute): CompiledRoute {
  if (route instanceof CompiledRoute) return route;
  let c = cache.get(route);
  if (c === undefined) {
    c = new CompiledRoute(route);
    cache.set(route, c);
  }
  return c;
}

/** `rewrite.uri` / `rewrite.uriRegex` of the route, for the match that selected it. */
export function rewritePath(route: Route | CompiledRoute, matchIndex: number, path: string): string {
  return compiledRoute(route).rewritePath(matchIndex, path);
}

/** The upstream authority: rewrite.authority, else a headers-policy `:authority`/`host`, else as is. */
export function rewriteAuthority(route: Route | CompiledRoute, authority: string, destination?: WeightedDestination): string {
  return compiledRoute(route).rewriteAuthority(authority, destination);
}
