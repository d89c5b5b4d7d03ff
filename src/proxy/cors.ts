// A route's `corsPolicy`, as Envoy's CORS filter applies it (Istio puts that filter before fault injection and the
// router): a preflight from an allowed origin is answered here and goes no further (not forwarded, not mirrored);
// any answer to a request from an allowed origin carries the allow headers, overriding what the upstream said.
import type { IncomingMessage } from 'node:http';
import type { CorsPolicy } from '../config/model.js';
import { compileStringMatch, type StringTest } from '../routing/index.js';
import { firstValue } from './headers.js';

class CompiledCors {
  readonly #origins: StringTest[];

  constructor(readonly policy: CorsPolicy) {
    this.#origins = policy.allowOrigins.map((m) => compileStringMatch(m));
  }

  /** Envoy: an origin is allowed when a matcher takes it, or takes the literal `*` (then every origin is). */
  allows(origin: string): boolean {
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
  /** Serve it; `origin` (when allowed) is echoed on the answer. */
  | { kind: 'request'; policy: CorsPolicy; origin: string | undefined };

export function corsDecision(policy: CorsPolicy | undefined, req: IncomingMessage): CorsDecision {
  if (!policy) return undefined;
  const origin = firstValue(req.headers.origin);
  if (!origin) return undefined;
  const allowed = compile(policy).allows(origin);
  const requestMethod = firstValue(req.headers['access-control-request-method']);
  const preflight = req.method === 'OPTIONS' && !!requestMethod;
  if (!preflight || (!allowed && policy.forwardUnmatchedPreflights)) return { kind: 'request', policy, origin: allowed ? origin : undefined };
  // A preflight: answered here. From an origin not allowed (unmatchedPreflights IGNORE), without the allow headers.
  const headers: Record<string, string> = {};
  if (allowed) headers['access-control-allow-origin'] = origin;
  if (policy.allowCredentials) headers['access-control-allow-credentials'] = 'true';
  // `*` in Envoy's joined list echoes what the browser asked for.
  if (policy.allowMethods) headers['access-control-allow-methods'] = policy.allowMethods === '*' ? requestMethod! : policy.allowMethods;
  if (policy.allowHeaders) {
    const asked = firstValue(req.headers['access-control-request-headers']) ?? '';
    if (policy.allowHeaders !== '*') headers['access-control-allow-headers'] = policy.allowHeaders;
    else if (asked) headers['access-control-allow-headers'] = asked;
  }
  if (policy.maxAge !== undefined) headers['access-control-max-age'] = policy.maxAge;
  return { kind: 'preflight', headers };
}

/** The allow headers on an answer to an allowed origin (Envoy sets them over the upstream's own). */
export function addCorsHeaders(out: Record<string, string | string[] | number | undefined>, d: CorsDecision): void {
  if (d?.kind !== 'request' || d.origin === undefined) return;
  out['access-control-allow-origin'] = d.origin;
  if (d.policy.allowCredentials) out['access-control-allow-credentials'] = 'true';
  if (d.policy.exposeHeaders) out['access-control-expose-headers'] = d.policy.exposeHeaders;
}
