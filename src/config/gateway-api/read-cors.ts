// Reads an HTTPRoute `CORS` filter (HTTPCORSFilter, GEP-1767) with the CRD's rules, into a CorsPolicy with Gateway
// API's semantics (`gatewayApi`; src/proxy/cors.ts applies it).
import type { Fields } from '../fields.js';
import type { CorsOrigin, CorsPolicy } from '../model.js';
import { HEADER_NAME } from './common.js';

/** The CRD's `CORSOrigin` pattern: `*`, or http(s)://host[:port], the host `*`, or DNS labels after an optional `*.`. */
const CORS_ORIGIN = /^(https?):\/\/((?:\*\.)?(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+|\*)(?::([0-9]{1,5}))?$/;
/** `HTTPMethodWithWildcard`. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', '*']);

/**
 * A `listType=set` list of at most `max` strings, each checked by `valid` (a message when not); `*` alone when it is
 * there and `wildcardAlone` (the CRD's "cannot contain '*' alongside other ..." rules).
 */
function set(f: Fields, name: string, max: number, valid: (s: string) => string | undefined, wildcardAlone = true): string[] {
  const items = f.strings(name);
  if (items.length > max) f.ctx.error('too-many', f.at(name), `at most ${max} entries, not ${items.length}`);
  const seen = new Set<string>();
  items.forEach((s, i) => {
    const why = valid(s);
    if (why) f.ctx.error('invalid-value', [...f.at(name), i], why);
    else if (seen.has(s)) f.ctx.error('invalid-value', [...f.at(name), i], `"${s}" is listed twice`);
    seen.add(s);
  });
  if (wildcardAlone && seen.has('*') && items.length > 1) f.ctx.error('invalid-value', f.at(name), `${name} cannot contain '*' alongside other values`);
  return items;
}

function headerName(s: string): string | undefined {
  if (s.length > 256) return 'a header name is at most 256 characters';
  return HEADER_NAME.test(s) ? undefined : `"${s}" is not a valid header name`;
}

function origin(s: string): string | undefined {
  if (s.length > 253) return 'an origin is at most 253 characters';
  if (s === '*') return undefined;
  const m = CORS_ORIGIN.exec(s);
  if (!m) return `"${s}" is not an origin (http(s)://host[:port], the host may start with "*."), nor "*"`;
  // The type's doc: a port is from 1 to 65535.
  if (m[3] !== undefined && (Number(m[3]) < 1 || Number(m[3]) > 65535)) return `port ${m[3]} is not from 1 to 65535`;
  return undefined;
}

function toOrigin(s: string): CorsOrigin {
  const m = CORS_ORIGIN.exec(s)!;
  const scheme = m[1] === 'https' ? 'https' : 'http';
  return { scheme, host: m[2]!.toLowerCase(), port: m[3] === undefined ? (scheme === 'https' ? 443 : 80) : Number(m[3]) };
}

export function readCorsFilter(f: Fields): CorsPolicy {
  const origins = set(f, 'allowOrigins', 64, origin);
  const methods = set(f, 'allowMethods', 9, (m) => (METHODS.has(m) ? undefined : `"${m}" is not an HTTP method (${[...METHODS].join(', ')})`));
  const allowHeaders = set(f, 'allowHeaders', 64, headerName);
  // No rule keeps `*` alone here; with it, the others are exposed anyway.
  const expose = set(f, 'exposeHeaders', 64, headerName, false);
  const credentials = f.bool('allowCredentials');
  const policy: CorsPolicy = {
    allowOrigins: [],
    allowMethods: methods.join(', '),
    allowHeaders: allowHeaders.join(', '),
    exposeHeaders: expose.includes('*') ? '*' : expose.join(', '),
    // The CRD's default: 5 seconds.
    maxAge: String(f.int('maxAge', 1, 2 ** 31 - 1) ?? 5),
    forwardUnmatchedPreflights: false,
    gatewayApi: { origins: origins.includes('*') ? '*' : origins.filter((o) => !origin(o)).map(toOrigin) },
  };
  if (credentials) policy.allowCredentials = true;
  return policy;
}
