// Turns one (rule, match) of an HTTPRoute or GRPCRoute into a model Route: the same compiled route table serves it.
import type { MirrorTarget, Redirect, Rewrite, Route, RouteAction, WeightedDestination } from '../model.js';
import { re2Quote } from './common.js';
import type { Entry } from './precedence.js';
import type { PathModifier } from './types.js';

/** Backends and mirrors of a rule as resolved for one listener port. */
export interface ResolvedRule {
  destinations: WeightedDestination[];
  mirrors: MirrorTarget[];
  /** Some backendRef could not be resolved. */
  invalid: boolean;
}

/** RE2 rewrite strings treat "\" as an escape. */
const literal = (s: string) => s.replace(/\\/g, '\\\\');

/**
 * HTTPPathModifier as a regex rewrite over the path (query kept), for URLRewrite and RequestRedirect alike.
 * ReplacePrefixMatch follows the spec's table: the matched prefix, without its trailing "/", is replaced, and an
 * empty result becomes "/" (`/foo/bar` with prefix `/foo` and replacement `/` gives `/bar`, `/foo` gives `/`);
 * a prefix of `/` keeps the whole path after the replacement (`/xyz` + `/foo` = `/xyz/foo`).
 */
function pathRewrite(mod: PathModifier, prefix: string | undefined): Rewrite['uriRegex'] {
  if (mod.type === 'ReplaceFullPath') return { match: '^.*$', rewrite: literal(mod.value || '/') };
  const p = prefix ?? '';
  const r = mod.value.endsWith('/') ? mod.value.slice(0, -1) : mod.value;
  return r === '' ? { match: `^${re2Quote(p)}/?`, rewrite: '/' } : { match: `^${re2Quote(p)}`, rewrite: literal(r) };
}

const INTERNAL_ERROR: RouteAction = { kind: 'directResponse', response: { status: 500 } };
/** GRPCRouteRule.backendRefs: with no valid backend, "all traffic which matches this rule MUST receive an UNAVAILABLE status" (503). */
const UNAVAILABLE: RouteAction = { kind: 'directResponse', response: { status: 503 } };

/** `https`: the listener terminates TLS, so its requests' scheme is https. */
export function buildRoute(e: Entry, resolved: ResolvedRule, listenerPort: number, https = false): Route {
  const { route, rule, match } = e;
  let action: RouteAction;
  let mirrors: MirrorTarget[] = [];
  const prefix = match ? match.prefix : '';
  if (rule.unsupported) action = INTERNAL_ERROR;
  else if (rule.redirect) {
    const red: Redirect = { ...rule.redirect.redirect };
    // HTTPRequestRedirectFilter.scheme: "When empty, the scheme of the request is used": the listener's (an HTTPS
    // listener's redirects stay on https; the data path would otherwise write http). Port: without port or scheme,
    // the listener's port; a scheme alone means its well-known port; the well-known port of Location's scheme is left
    // out (http:80, https:443). Conformance: HTTPRouteRedirectPortAndScheme's HTTPS listener cases.
    red.scheme ??= https ? 'https' : 'http';
    const wellKnown = red.scheme === 'https' ? 443 : 80;
    if (rule.redirect.portSet) {
      if (red.port === wellKnown) delete red.port;
    } else if (!rule.redirect.schemeSet && listenerPort !== wellKnown) red.port = listenerPort;
    const path = rule.redirect.path;
    if (path?.type === 'ReplaceFullPath') red.uri = path.value;
    action = { kind: 'redirect', redirect: red };
  } else if (resolved.destinations.length === 0) {
    // The spec: no (valid) backendRefs, or all of weight 0, and no filter answering: 500 (UNAVAILABLE for gRPC).
    action = route.kind === 'GRPCRoute' ? UNAVAILABLE : INTERNAL_ERROR;
  } else {
    action = { kind: 'route', destinations: resolved.destinations };
    mirrors = resolved.mirrors;
  }
  const out: Route = {
    name: `${route.name}.${rule.name ?? rule.index}`,
    source: route.ref,
    index: rule.index,
    matches: match ? [match.match] : [],
    action,
    mirrors,
    retries: rule.retries,
    headers: rule.headers,
  };
  // A prefix-replacing redirect: Location's path is the request's with the matched prefix replaced, as the same
  // rewrite a URLRewrite would send upstream (Envoy's redirect prefix_rewrite).
  if (rule.redirect?.path?.type === 'ReplacePrefixMatch' && action.kind === 'redirect') out.rewrite = { uriRegex: pathRewrite(rule.redirect.path, prefix) };
  if (rule.rewrite && action.kind === 'route') {
    const rw: Rewrite = {};
    if (rule.rewrite.authority !== undefined) rw.authority = rule.rewrite.authority;
    if (rule.rewrite.path) rw.uriRegex = pathRewrite(rule.rewrite.path, prefix);
    out.rewrite = rw;
  }
  if (rule.timeoutMs !== undefined) out.timeoutMs = rule.timeoutMs;
  // Whatever answers (the backend, a redirect, a 500), the rule's CORS filter answers preflights and adds its headers.
  if (rule.cors) out.cors = rule.cors;
  return out;
}
