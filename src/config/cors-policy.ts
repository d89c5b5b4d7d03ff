// Reads a VirtualService route's `corsPolicy` with Istio's validation, into what Istio gives Envoy's CORS filter.
import { HEADER_NAME, readStringMatch, STRING_MATCH } from './common.js';
import type { Fields, Schema } from './fields.js';
import type { CorsPolicy, StringMatch } from './model.js';

export const CORS_POLICY: Schema = {
  name: 'CorsPolicy',
  fields: ['allowOrigins', 'allowOrigin', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'maxAge', 'allowCredentials', 'unmatchedPreflights'],
};

/** The methods Istio's validation accepts in `allowMethods` (Go's net/http method constants). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE']);
const UNMATCHED_PREFLIGHTS = ['UNSPECIFIED', 'FORWARD', 'IGNORE'];

function headerNames(f: Fields, name: string): string {
  const names = f.strings(name);
  names.forEach((h, i) => {
    if (!HEADER_NAME.test(h)) f.ctx.error('invalid-header-name', [...f.at(name), i], `"${h}" is not a valid header name`);
  });
  return names.join(',');
}

export function readCorsPolicy(f: Fields | undefined): CorsPolicy | undefined {
  if (!f) return undefined;
  const allowOrigins: StringMatch[] = [];
  for (const o of f.objects('allowOrigins', STRING_MATCH)) {
    const m = readStringMatch(o);
    // Istio: "'' is not a valid match type for CORS allow origins" — an empty match would allow nothing or all.
    if (!m || m.value === '') o.ctx.error('invalid-value', o.path, 'an allowed origin needs a non-empty exact, prefix or regex');
    else allowOrigins.push(m);
  }
  if (f.has('allowOrigin')) {
    f.ctx.warn('deprecated-field', f.at('allowOrigin'), 'allowOrigin is deprecated; use allowOrigins (a list of exact/prefix/regex)');
    // Istio uses allowOrigin only when allowOrigins is absent, each entry as an exact match.
    const legacy = f.strings('allowOrigin');
    if (!f.has('allowOrigins')) for (const value of legacy) allowOrigins.push({ kind: 'exact', value });
  }
  const methods = f.strings('allowMethods');
  methods.forEach((m, i) => {
    if (!METHODS.has(m)) f.ctx.error('invalid-value', [...f.at('allowMethods'), i], `"${m}" is not a supported HTTP method`);
  });
  const policy: CorsPolicy = {
    allowOrigins,
    allowMethods: methods.join(','),
    allowHeaders: headerNames(f, 'allowHeaders'),
    exposeHeaders: headerNames(f, 'exposeHeaders'),
    forwardUnmatchedPreflights: true,
  };
  const maxAgeMs = f.durationMs('maxAge');
  if (maxAgeMs !== undefined) {
    if (maxAgeMs % 1000 !== 0) f.ctx.error('invalid-value', f.at('maxAge'), 'maxAge is accurate only to seconds precision');
    else policy.maxAge = String(maxAgeMs / 1000);
  }
  const credentials = f.bool('allowCredentials');
  if (credentials !== undefined) policy.allowCredentials = credentials;
  const unmatched = f.string('unmatchedPreflights');
  if (unmatched !== undefined) {
    if (!UNMATCHED_PREFLIGHTS.includes(unmatched)) {
      f.ctx.error('invalid-enum', f.at('unmatchedPreflights'), `unmatchedPreflights must be ${UNMATCHED_PREFLIGHTS.join(', ')}, not "${unmatched}"`);
    }
    policy.forwardUnmatchedPreflights = unmatched !== 'IGNORE';
  }
  return policy;
}
