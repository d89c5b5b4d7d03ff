// Reads a TLSRoute (gateway.networking.k8s.io v1, and the experimental channel's deprecated v1alpha3 and v1alpha2) with
// the CRDs' validation rules: SNI hostnames (no IP addresses; required in v1 and v1alpha3), rules of weighted
// backendRefs only. Spec: https://gateway-api.sigs.k8s.io/reference/spec/#tlsroute (apis/v1/tlsroute_types.go, GEP-2643).
import { isIP } from 'node:net';
import { emptyHeaders } from '../common.js';
import type { Fields } from '../fields.js';
import type { RawResource } from '../parse.js';
import type { ResourceContext } from '../problems.js';
import { readBackend } from './read-filters.js';
import { newRule, readRoute } from './read-route.js';
import { TLS_BACKEND_REF, TLS_ROUTE, TLS_RULE } from './schemas.js';
import type { RouteSpec, RuleSpec } from './types.js';

/** A TLSRouteRule: its name and 1–16 backendRefs (`BackendRef`: no filters). */
function readRule(r: Fields, index: number, namespace: string): RuleSpec {
  const rule = newRule(r, index);
  const items = r.objects('backendRefs', TLS_BACKEND_REF);
  if (items.length === 0) r.ctx.error('missing-field', r.at('backendRefs'), 'a TLSRoute rule needs at least one backendRef');
  if (items.length > 16) r.ctx.error('too-many', r.at('backendRefs'), `at most 16 backendRefs, not ${items.length}`);
  for (const b of items) {
    const ref = readBackend(b, namespace);
    const weight = b.int('weight', 0, 1_000_000) ?? 1;
    if (ref) rule.backends.push({ ...ref, weight, headers: emptyHeaders() });
  }
  return rule;
}

/** `version`: the apiVersion's version, since v1alpha2's rules differ (hostnames optional, up to 16 rules). */
export function readTLSRoute(res: RawResource, ctx: ResourceContext, version: string): RouteSpec {
  const route = readRoute(res, ctx, 'TLSRoute', TLS_ROUTE, TLS_RULE, (r, i) => readRule(r, i, res.namespace), 1024);
  const spec = (res.object.spec ?? {}) as Record<string, unknown>;
  // CEL: "Hostnames cannot contain an IP" (RFC 6066 §3: SNI carries no IP literal). The hostname pattern lets
  // dotted digits through, so it is checked here.
  route.hostnames.forEach((h, i) => {
    if (isIP(h)) ctx.error('invalid-hostname', ['spec', 'hostnames', i], `"${h}" is an IP address: an SNI hostname cannot be one`);
  });
  const v1 = version !== 'v1alpha2';
  if (v1 && route.hostnames.length === 0) ctx.error('missing-field', ['spec', 'hostnames'], `a ${res.apiVersion} TLSRoute needs at least one hostname`);
  const rules = Array.isArray(spec.rules) ? spec.rules.length : 0;
  if (rules === 0) ctx.error('missing-field', ['spec', 'rules'], 'a TLSRoute needs a rule with backendRefs');
  else if (v1 && rules > 1) ctx.error('too-many', ['spec', 'rules'], `a ${res.apiVersion} TLSRoute has exactly one rule, not ${rules}`);
  else if (rules > 1) {
    // v1alpha2: rules have no matches, so every rule takes every connection; the first one is served.
    ctx.warn('unreachable-route', ['spec', 'rules', 1], 'TLSRoute rules have no matches: the first rule takes every connection and the others are never used');
  }
  return route;
}
