// A route's `corsPolicy`, as Envoy's CORS filter applies it (Istio puts that filter before fault injection and the
// router): a preflight from an allowed origin is answered here and goes no further (not forwarded, not mirrored);
// any answer to a request from an allowed origin carries the allow headers, overriding what the upstream said.
// An HTTPRoute `CORS` filter runs the same code with Gateway API's differences (`CorsPolicy.gatewayApi`, GEP-1767).
import type { IncomingMessage } from 'node:http';
import type { CorsOrigin, CorsPolicy } from '../config/model.js';
import { compileStringMatch, type StringTest } from '../routing/index.js';
import { firstValue } from './headers.js';

/** A serialized origin, `scheme://host[:port]` (an IPv6 host in brackets); anything else (`null`) is no origin. */
const ORIGIN = /^(https?):\/\/(\[[0-9A-Fa-f:.]+\]|[^\s:/?#[\]@]+)(?::(\d{1,5}))?$/i;

function parseOrigin(origin: string): CorsOrigin | undefined {
  const m = ORIGIN.exec(origin);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase() === 'https' ? 'https' : 'http';
  return { scheme, host: m[2]!.toLowerCase(), port: m[3] === undefined ? (scheme === 'https' ? 443 : 80) : Number(m[3]) };
}

/** Gateway API: `*` any host; `*.suffix` one or more labels before `.suffix`; otherwise the same host. */
function originMatches(allowed: CorsOrigin, o: CorsOrigin): boolean {
  if (allowed.scheme !== o.scheme || allowed.port !== o.port) return false;
  if (allowed.host === '*') return true;
  if (allowed.host.startsWith('*.')) return o.host.length > allowed.host.length - 1 && o.host.endsWith(allowed.host.slice(1));
  return allowed.host === o.host;
}

class CompiledCors {
  readonly #origins: StringTest[];

  constructor(readonly policy: CorsPolicy) {
    this.#origins = policy.allowOrigins.map((m) => compileStringMatch(m));
  }

  /**
   * Envoy: an origin is allowed when a matcher takes it, or takes the literal `*` (then every origin is). Gateway
   * API: when one of `allowOrigins` has its scheme, host (pattern) and port, or it is `*`.
   */
  allows(origin: string): boolean {
    const g = this.policy.gatewayApi;
    if (g) {
      if (g.origins === '*') return true;
      const o = parseOrigin(origin);
      return o !== undefined && g.origins.some((a) => originMatches(a, o));
    }
    for (const test of this.#origins) if (test('*') || test(origin)) return true;
    return false;
  }
}

// The snapshot is immutable: a policy is compiled once, on its first request.
const compiled = new WeakMap<CorsPolicy, CompiledCors>();
function compile(policy: CorsPolicy): CompiledCors {
  let c = compiled.get(policy);
  if (c === undefined) {
    c = new CompiledCors(policy);
    compiled.set(policy, c);
  }
  return c;
}

/** What the CORS filter decided for one request. */
export type CorsDecision =
  /** Not a CORS request (no policy, no Origin): nothing to do. */
  | undefined
  /** Answer the preflight here with these headers. */
  | { kind: 'preflight'; headers: Record<string, string> }
  /** Serve it; `origin` (when allowed) is the answer's Access-Control-Allow-Origin (the request's, or `*`). */
  | { kind: 'request'; policy: CorsPolicy; origin: string | undefined };

/** Envoy echoes an allowed origin; Gateway API says `*` for `allowOrigins: ["*"]` when credentials are not allowed. */
function allowOrigin(policy: CorsPolicy, origin: string): string {
  return policy.gatewayApi?.origins === '*' && !policy.allowCredentials ? '*' : origin;
}

/**
 * Access-Control-Expose-Headers. Gateway API: with credentials `*` is no wildcard to a browser, so the answer's own
 * header names (`answer`; none on a preflight) are exposed instead.
 */
function exposeHeaders(policy: CorsPolicy, answer: Record<string, unknown> | undefined): string {
  if (!policy.gatewayApi || !policy.allowCredentials || policy.exposeHeaders !== '*') return policy.exposeHeaders;
  return Object.keys(answer ?? {})
    .filter((name) => !name.startsWith('access-control-'))
    .join(', ');
}

export function corsDecision(policy: CorsPolicy | undefined, req: IncomingMessage): CorsDecision {
  if (!policy) return undefined;
  const origin = firstValue(req.headers.origin);
  if (!origin) return undefined;
  const g = policy.gatewayApi;
  let allowed = compile(policy).allows(origin);
  const requestMethod = firstValue(req.headers['access-control-request-method']);
  const preflight = req.method === 'OPTIONS' && !!requestMethod;
  if (!preflight) {
    // Gateway API (GEP-1767): a credentialed request (a browser sends cookies cross-origin only then; a preflight
    // never is one) gets no CORS header unless credentials are allowed.
    if (g && !policy.allowCredentials && req.headers.cookie !== undefined) allowed = false;
    return { kind: 'request', policy, origin: allowed ? allowOrigin(policy, origin) : undefined };
  }
  if (!allowed && policy.forwardUnmatchedPreflights) return { kind: 'request', policy, origin: undefined };
  // A preflight: answered here. From an origin not allowed (unmatchedPreflights IGNORE), without the allow headers;
  // Gateway API's is answered without any CORS header.
  const headers: Record<string, string> = {};
  if (!allowed && g) return { kind: 'preflight', headers };
  if (allowed) headers['access-control-allow-origin'] = allowOrigin(policy, origin);
  if (policy.allowCredentials) headers['access-control-allow-credentials'] = 'true';
  // `*` in Envoy's joined list echoes what the browser asked for (as Gateway API requires with credentials).
  if (policy.allowMethods) headers['access-control-allow-methods'] = policy.allowMethods === '*' ? requestMethod! : policy.allowMethods;
  if (policy.allowHeaders) {
    const asked = firstValue(req.headers['access-control-request-headers']) ?? '';
    if (policy.allowHeaders !== '*') headers['access-control-allow-headers'] = policy.allowHeaders;
    else if (asked) headers['access-control-allow-headers'] = asked;
  }
  if (g) {
    const expose = exposeHeaders(policy, undefined);
    if (expose) headers['access-control-expose-headers'] = expose;
  }
  if (policy.maxAge !== undefined) headers['access-control-max-age'] = policy.maxAge;
  return { kind: 'preflight', headers };
}

/** What an answer says of CORS; Gateway API's filter is the only one to say it. */
const ANSWER_HEADERS = ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers'];

/** The allow headers on an answer to an allowed origin (Envoy sets them over the upstream's own). */
export function addCorsHeaders(out: Record<string, string | string[] | number | undefined>, d: CorsDecision): void {
  if (d?.kind !== 'request') return;
  if (d.policy.gatewayApi) for (const name of ANSWER_HEADERS) delete out[name];
  if (d.origin === undefined) return;
  out['access-control-allow-origin'] = d.origin;
  if (d.policy.allowCredentials) out['access-control-allow-credentials'] = 'true';
  const expose = exposeHeaders(d.policy, out);
  if (expose) out['access-control-expose-headers'] = expose;
}
