// Reads a VirtualService with Istio's validation rules; destinations stay unresolved until the snapshot is built.
import { isIP } from 'node:net';
import {
  checkRegex,
  DESTINATION,
  type DestinationRef,
  HEADER_NAME,
  HEADERS,
  PERCENT,
  readDestination,
  readHeaders,
  readPercent,
  readStringMatch,
  readValueMatch,
  STRING_MATCH,
} from './common.js';
import { CORS_POLICY, readCorsPolicy } from './cors-policy.js';
import { Fields, isPlainObject, type Schema } from './fields.js';
import { resolveHost } from './hosts.js';
import type { CorsPolicy, DirectResponse, FaultPolicy, HeaderCondition, HeadersPolicy, Redirect, RetryPolicy, Rewrite, RouteMatch } from './model.js';
import { fqdnProblem, isDns1123Label, wildcardDomainProblem } from './names.js';
import type { RawResource } from './parse.js';
import type { PathSeg, ResourceContext } from './problems.js';

const VIRTUAL_SERVICE: Schema = {
  name: 'VirtualService',
  fields: ['hosts', 'http', 'tls', 'gateways'],
  unsupported: ['tcp'],
  ignored: { exportTo: 'every resource is visible to Shadowgate' },
};
const HTTP_ROUTE: Schema = {
  name: 'HTTPRoute',
  fields: [
    'name',
    'match',
    'route',
    'redirect',
    'directResponse',
    'rewrite',
    'timeout',
    'retries',
    'fault',
    'mirror',
    'mirrors',
    'mirrorPercent',
    'mirrorPercentage',
    'headers',
    'corsPolicy',
  ],
  unsupported: ['delegate'],
};
const MATCH: Schema = {
  name: 'HTTPMatchRequest',
  fields: ['name', 'uri', 'scheme', 'method', 'authority', 'headers', 'withoutHeaders', 'queryParams', 'ignoreUriCase', 'port'],
  unsupported: ['sourceLabels', 'gateways', 'sourceNamespace'],
  ignored: { statPrefix: 'per-route stats are not emitted' },
};
const TLS_ROUTE: Schema = { name: 'TLSRoute', fields: ['match', 'route'] };
const TLS_MATCH: Schema = {
  name: 'TLSMatchAttributes',
  fields: ['sniHosts', 'port', 'gateways'],
  unsupported: ['destinationSubnets', 'sourceLabels', 'sourceNamespace'],
};
const TLS_DESTINATION: Schema = { name: 'RouteDestination', fields: ['destination', 'weight'] };
const ROUTE_DESTINATION: Schema = { name: 'HTTPRouteDestination', fields: ['destination', 'weight', 'headers'] };
const MIRROR_POLICY: Schema = { name: 'HTTPMirrorPolicy', fields: ['destination', 'percentage'] };
const REDIRECT: Schema = {
  name: 'HTTPRedirect',
  fields: ['uri', 'prefixRewrite', 'authority', 'port', 'derivePort', 'scheme', 'redirectCode'],
};
const DIRECT_RESPONSE: Schema = { name: 'HTTPDirectResponse', fields: ['status', 'body'] };
const HTTP_BODY: Schema = { name: 'HTTPBody', fields: ['string', 'bytes'] };
const REWRITE: Schema = { name: 'HTTPRewrite', fields: ['uri', 'authority', 'uriRegexRewrite'] };
const REGEX_REWRITE: Schema = { name: 'RegexRewrite', fields: ['match', 'rewrite'] };
const RETRY: Schema = {
  name: 'HTTPRetry',
  fields: ['attempts', 'perTryTimeout', 'retryOn'],
  unsupported: ['retryRemoteLocalities', 'retryIgnorePreviousHosts', 'backoff'],
};
const FAULT: Schema = { name: 'HTTPFaultInjection', fields: ['delay', 'abort'] };
const DELAY: Schema = { name: 'Delay', fields: ['fixedDelay', 'percentage', 'percent'], unsupported: ['exponentialDelay'] };
const ABORT: Schema = { name: 'Abort', fields: ['httpStatus', 'percentage'], unsupported: ['grpcStatus', 'http2Error'] };

/** Istio's default retry policy for HTTP routes (pilot/pkg/networking/core/route/retry). */
export const DEFAULT_RETRIES: RetryPolicy = Object.freeze({
  attempts: 2,
  retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes', '503'],
}) as RetryPolicy;

const RETRY_ON = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'connect-failure',
  'envoy-ratelimited',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'http3-post-connect-failure',
  'reset-before-request',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

export interface DestinationSpec extends DestinationRef {
  weight: number;
  headers: HeadersPolicy;
}

export interface MirrorSpec extends DestinationRef {
  percentage: number;
}

export interface HttpRouteSpec {
  index: number;
  path: PathSeg[];
  name?: string;
  matches: RouteMatch[];
  matchPaths: PathSeg[][];
  destinations: DestinationSpec[];
  redirect?: Redirect;
  directResponse?: DirectResponse;
  mirrors: MirrorSpec[];
  rewrite?: Rewrite;
  timeoutMs?: number;
  retries: RetryPolicy;
  fault?: FaultPolicy;
  headers: HeadersPolicy;
  cors?: CorsPolicy;
}

export interface VirtualServiceSpec {
  ref: string;
  namespace: string;
  name: string;
  /** Resolved hosts (FQDN for short names). */
  hosts: string[];
  /**
   * `spec.gateways` as written (`mesh`, `name`, `namespace/name`); empty means the mesh only, as in Istio. The
   * snapshot binds them to Istio Gateways (gateway-bind.ts).
   */
  gateways: string[];
  http: HttpRouteSpec[];
  /** `tls:` routes: TLS passed through by SNI, on Gateway servers in `PASSTHROUGH` mode (gateway-bind.ts). */
  tls: TlsRouteSpec[];
  ctx: ResourceContext;
  res: RawResource;
}

/** One `tls:` route: the first whose match takes a connection's SNI (and port, gateway) sends it, by weight. */
export interface TlsRouteSpec {
  index: number;
  matches: Array<{ sniHosts: string[]; port?: number; gateways: string[] }>;
  route: Array<{ destination: DestinationRef; weight: number }>;
}

/**
 * Istio's TLSRoute: every match needs sniHosts, each a DNS name (an IP only warns: SNI cannot carry one) within the
 * VirtualService's hosts; the route at least one destination (weights as for http).
 */
function readTlsRoute(r: Fields, index: number, hosts: readonly string[], onGateway: boolean): TlsRouteSpec | undefined {
  const matches = r.objects('match', TLS_MATCH).map((m) => {
    const sniHosts: string[] = [];
    m.strings('sniHosts').forEach((h, i) => {
      const at = [...m.at('sniHosts'), i];
      const bad = hostProblem(h, onGateway, true);
      if (bad && isIP(h)) {
        m.ctx.warn('invalid-hostname', at, `"${h}": an IP address goes against the SNI spec and most clients never send one`);
        sniHosts.push(h);
      } else if (bad) m.ctx.error('invalid-hostname', at, bad);
      else if (!hosts.some((vh) => hostSubsetOf(h.toLowerCase(), vh.toLowerCase())))
        m.ctx.error('invalid-hostname', at, `SNI host "${h}" is not within any of the VirtualService's hosts (${hosts.join(', ')})`);
      else sniHosts.push(h.toLowerCase());
    });
    if (sniHosts.length === 0 && !m.has('sniHosts')) m.ctx.error('missing-field', m.at('sniHosts'), 'a tls match needs sniHosts');
    const out: TlsRouteSpec['matches'][number] = { sniHosts, gateways: m.strings('gateways') };
    const port = m.int('port', 0, 65535);
    if (port) out.port = port;
    return out;
  });
  if (matches.length === 0) r.ctx.error('missing-field', r.at('match'), 'a tls route needs a match with sniHosts');
  const items = r.objects('route', TLS_DESTINATION);
  const route: TlsRouteSpec['route'] = [];
  const weights: number[] = [];
  for (const d of items) {
    if (!d.has('destination')) r.ctx.error('missing-field', d.at('destination'), 'route destination is required');
    const destination = readDestination(d.object('destination', DESTINATION), d.at('destination'));
    const weight = d.int('weight', 0, 2 ** 31 - 1) ?? 0;
    weights.push(weight);
    if (destination) route.push({ destination, weight: items.length === 1 ? 100 : weight });
  }
  if (items.length > 1 && weights.every((w) => w === 0))
    r.ctx.error('zero-total-weight', r.at('route'), 'the weights of these destinations add up to 0: no traffic could be sent');
  if (items.length === 0) {
    r.ctx.error('missing-field', r.at('route'), 'a tls route needs a destination');
    return undefined;
  }
  const kept = route.filter((d) => d.weight > 0);
  return kept.length > 0 ? { index, matches, route: kept } : undefined;
}

/** `@request.auth.claims.NAME` (also `.a.b` nested): Istio's JWT claim routing, gateways only. */
const JWT_CLAIM = /^@request\.auth\.claims(\.[^.]+)+$/;
const PSEUDO_HEADERS = new Set([':method', ':scheme', ':authority', ':path', ':status']);

function readConditions(f: Fields, field: 'headers' | 'withoutHeaders' | 'queryParams', onGateway: boolean): HeaderCondition[] {
  return f.objectMap(field, STRING_MATCH).flatMap(([name, m]) => {
    if (field !== 'queryParams') {
      // Istio's ValidateHTTPHeaderNameOrJwtClaimRoute.
      if (JWT_CLAIM.test(name)) {
        if (!onGateway) f.ctx.error('invalid-header-name', m.path, `"${name}": JWT claim routing is only supported for gateways`);
        else f.ctx.warn('not-supported', m.path, `"${name}": JWT claim routing is not supported yet; this match never holds`);
      } else if (!PSEUDO_HEADERS.has(name) && !HEADER_NAME.test(name)) {
        if (name === '') f.ctx.error('invalid-header-name', f.at(field), 'a header name cannot be empty');
        else f.ctx.error('invalid-header-name', m.path, `"${name}" is not a valid header name`);
        return [];
      }
    }
    const match = readValueMatch(m, { starIsPresent: field === 'withoutHeaders' });
    return match ? [{ name: field === 'queryParams' ? name : name.toLowerCase(), match }] : [];
  });
}

function readMatch(m: Fields, onGateway: boolean): RouteMatch {
  const match: RouteMatch = {
    headers: readConditions(m, 'headers', onGateway),
    withoutHeaders: readConditions(m, 'withoutHeaders', onGateway),
    queryParams: readConditions(m, 'queryParams', onGateway),
    ignoreUriCase: m.bool('ignoreUriCase') ?? false,
  };
  const name = m.string('name');
  if (name !== undefined) match.name = name;
  // Envoy allows an empty prefix for the path only (Istio's validateHTTPRouteMatchRequest).
  for (const k of ['uri', 'scheme', 'method', 'authority'] as const) {
    const sm = readStringMatch(m.object(k, STRING_MATCH), { emptyPrefix: k === 'uri' });
    if (sm) match[k] = sm;
  }
  // Istio: port 0 is "any port".
  const port = m.int('port', 0, 65535);
  if (port) match.port = port;
  return match;
}

/** Status codes Go's net/http names (StatusText): Istio's test for a numeric retryOn token. */
const KNOWN_STATUS = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408,
  409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

/** Istio's ValidateHTTPRetry. */
function readRetries(f: Fields | undefined): RetryPolicy {
  if (!f) return DEFAULT_RETRIES;
  const attempts = f.int('attempts', 0, 1_000) ?? DEFAULT_RETRIES.attempts;
  const policy: RetryPolicy = { attempts, retryOn: DEFAULT_RETRIES.retryOn };
  const perTry = f.durationMs('perTryTimeout');
  if (perTry !== undefined) policy.perTryTimeoutMs = perTry;
  // Not acted on (a warning says so), but Istio checks it all the same.
  f.durationMs('backoff');
  // attempts: 0 turns retries off; anything else set beside it is a mistake Istio refuses.
  if (f.has('attempts') && attempts === 0) {
    const extra = ['perTryTimeout', 'retryOn', 'retryRemoteLocalities'].filter((k) => f.has(k) && !(k === 'retryOn' && f.raw(k) === ''));
    if (extra.length > 0) f.ctx.error('conflicting-fields', f.path, `attempts: 0 turns retries off, so ${extra.join(', ')} cannot be set`);
  }
  const retryOn = f.string('retryOn');
  if (retryOn !== undefined && retryOn !== '') {
    // Split on "," only, as Istio and Envoy do: " 5xx" with its space is no condition.
    const tokens = retryOn.split(',');
    for (const t of tokens) {
      if (RETRY_ON.has(t) || (/^\d{3}$/.test(t) && KNOWN_STATUS.has(Number(t)))) continue;
      const hint = t !== t.trim() ? ' (no spaces around ",")' : '';
      f.ctx.error('invalid-retry-on', f.at('retryOn'), `"${t}" is not a retry condition Envoy knows${hint}`);
    }
    policy.retryOn = tokens;
  }
  return policy;
}

/** gRPC status names Istio accepts for a fault abort (pkg/config/protocol/grpc SupportedGRPCStatus). */
const GRPC_STATUS = new Set([
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
]);

/** Istio's validatePercentage for faults: 0, or 0.0001 to 100 (Envoy's smallest fraction). */
function readFaultPercent(f: Fields): number | undefined {
  const p = f.object('percentage', PERCENT);
  const v = readPercent(p);
  if (p && v !== undefined && v > 0 && v < 0.0001) {
    p.ctx.error('percentage-out-of-range', p.at('value'), `percentage ${v} is neither 0 nor at least 0.0001`);
    return undefined;
  }
  return v;
}

function readFault(f: Fields | undefined): FaultPolicy | undefined {
  if (!f) return undefined;
  const fault: FaultPolicy = {};
  const delay = f.object('delay', DELAY);
  if (delay) {
    const fixed = delay.durationMs('fixedDelay');
    // Istio refuses exponentialDelay ("not supported yet"), so a mesh would too.
    if (delay.has('exponentialDelay')) delay.ctx.error('invalid-value', delay.at('exponentialDelay'), 'exponentialDelay is not supported by Istio');
    else if (fixed === undefined && !delay.has('fixedDelay')) delay.ctx.error('missing-field', delay.at('fixedDelay'), 'delay.fixedDelay is required');
    let pct = readFaultPercent(delay);
    if (pct === undefined && delay.has('percent')) {
      pct = delay.int('percent', 0, 100);
      delay.ctx.warn('deprecated-field', delay.at('percent'), 'delay.percent is deprecated; use percentage: {value: N}');
    }
    if (fixed !== undefined) fault.delay = { fixedDelayMs: fixed, percentage: pct ?? 100 };
  }
  const abort = f.object('abort', ABORT);
  if (abort) {
    const status = abort.int('httpStatus', 200, 599);
    const grpc = abort.string('grpcStatus');
    if (grpc !== undefined && !GRPC_STATUS.has(grpc))
      abort.ctx.error('invalid-enum', abort.at('grpcStatus'), `"${grpc}" is not a gRPC status name (e.g. NOT_FOUND, UNAVAILABLE)`);
    // Istio refuses http2Error aborts ("not supported yet").
    if (abort.has('http2Error')) abort.ctx.error('invalid-value', abort.at('http2Error'), 'http2Error aborts are not supported by Istio');
    if (status === undefined && !abort.has('httpStatus') && !abort.has('grpcStatus') && !abort.has('http2Error')) {
      abort.ctx.error('missing-field', abort.at('httpStatus'), 'abort.httpStatus is required');
    }
    const pct = readFaultPercent(abort);
    if (status !== undefined) fault.abort = { httpStatus: status, percentage: pct ?? 100 };
  }
  if (!delay && !abort) f.ctx.error('empty-fault', f.path, 'fault needs a delay or an abort');
  return fault;
}

/** Istio's validateHTTPRedirect; `prefixRewrite` becomes the route's prefix rewrite, which the redirect's path takes. */
function readRedirect(redirect: Fields, matches: readonly RouteMatch[]): Redirect {
  // redirectCode 0 (or absent) is Envoy's default, 301.
  const code = redirect.int('redirectCode', 0, 2 ** 31 - 1);
  if (code !== undefined && code !== 0 && (code < 300 || code > 399))
    redirect.ctx.error('out-of-range', redirect.at('redirectCode'), `redirectCode must be a 3xx status, not ${code}`);
  const red: Redirect = { redirectCode: code && code >= 300 && code <= 399 ? code : 301 };
  const uri = redirect.string('uri') || undefined;
  const prefix = redirect.string('prefixRewrite') || undefined;
  const authority = redirect.string('authority') || undefined;
  const port = redirect.int('port', 1, 65535);
  const scheme = redirect.string('scheme') || undefined;
  if (uri !== undefined && prefix !== undefined) redirect.ctx.error('conflicting-fields', redirect.path, 'a redirect may have uri or prefixRewrite, not both');
  // Envoy's prefix_rewrite swaps the matched prefix: an exact or regex uri match has none.
  if (prefix !== undefined && matches.some((m) => m.uri !== undefined && m.uri.kind !== 'prefix'))
    redirect.ctx.error('invalid-value', redirect.at('prefixRewrite'), 'prefixRewrite needs every uri match of the route to be a prefix match');
  if (uri === undefined && prefix === undefined && authority === undefined && !redirect.has('port') && !redirect.has('derivePort') && scheme === undefined)
    redirect.ctx.error('missing-field', redirect.path, 'a redirect must set uri, prefixRewrite, authority, scheme or port');
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https')
    redirect.ctx.error('invalid-enum', redirect.at('scheme'), `scheme must be "http" or "https", not "${scheme}"`);
  if (uri !== undefined) red.uri = uri;
  if (authority !== undefined) red.authority = authority;
  if (port !== undefined) red.port = port;
  if (scheme !== undefined) red.scheme = scheme;
  if (redirect.has('derivePort')) redirect.ctx.warn('not-supported', redirect.at('derivePort'), 'HTTPRedirect.derivePort is not supported yet and is ignored');
  return red;
}

/** Istio: a direct response body over 1 MiB is refused, over 100 KiB warned about (it rides in every config push). */
const BODY_WARN = 100 * 1024;
const BODY_MAX = 1024 * 1024;

/** Istio's validateAuthorityRewrite: the authority is rewritten in one place only (read raw: the fields are read once). */
function checkAuthorityOnce(r: Fields): void {
  const obj = (v: unknown): Record<string, unknown> => (isPlainObject(v) ? v : {});
  const request = obj(obj(r.raw('headers')).request);
  const names = [...Object.keys(obj(request.set)), ...Object.keys(obj(request.add))].filter(
    (k) => k.toLowerCase() === ':authority' || k.toLowerCase() === 'host',
  );
  const count = names.length + (obj(r.raw('rewrite')).authority ? 1 : 0);
  if (count > 1)
    r.ctx.error('conflicting-fields', r.path, 'the authority is rewritten more than once (rewrite.authority, headers :authority/host): set it in one place');
}

/** One `http[]` route; undefined for a delegating route (delegation is not supported: a warning says so). */
function readHttpRoute(r: Fields, index: number, onGateway: boolean): HttpRouteSpec | undefined {
  const ctx = r.ctx;
  const spec: HttpRouteSpec = {
    index,
    path: [...r.path],
    matches: [],
    matchPaths: [],
    destinations: [],
    mirrors: [],
    retries: readRetries(r.object('retries', RETRY)),
    headers: readHeaders(r.object('headers', HEADERS)),
  };
  const name = r.string('name');
  if (name !== undefined) spec.name = name;
  for (const m of r.objects('match', MATCH)) {
    spec.matches.push(readMatch(m, onGateway));
    spec.matchPaths.push([...m.path]);
  }
  checkAuthorityOnce(r);

  const items = r.objects('route', ROUTE_DESTINATION);
  const weights: number[] = [];
  for (const d of items) {
    const dest = readDestination(d.object('destination', DESTINATION), d.at('destination'));
    if (!d.has('destination')) ctx.error('missing-field', d.at('destination'), 'route destination is required');
    const weight = d.int('weight', 0, 2 ** 31 - 1) ?? 0;
    weights.push(weight);
    if (dest) spec.destinations.push({ ...dest, weight, headers: readHeaders(d.object('headers', HEADERS)) });
  }
  // Istio: a lone destination takes all traffic whatever its weight; several need a positive total.
  if (items.length === 1 && spec.destinations.length === 1) spec.destinations[0]!.weight = 100;
  else if (items.length > 1) {
    if (weights.every((w) => w === 0)) {
      ctx.error('zero-total-weight', r.at('route'), 'the weights of these destinations add up to 0: no traffic could be sent');
    }
    spec.destinations = spec.destinations.filter((d) => d.weight > 0);
  }

  const redirect = r.object('redirect', REDIRECT);
  if (redirect) {
    spec.redirect = readRedirect(redirect, spec.matches);
    const prefix = redirect.string('prefixRewrite');
    if (prefix) spec.rewrite = { uri: prefix };
  }
  const direct = r.object('directResponse', DIRECT_RESPONSE);
  if (direct) {
    const status = direct.int('status', 200, 599);
    if (status === undefined && !direct.has('status')) ctx.error('missing-field', direct.at('status'), 'directResponse.status is required (200–599)');
    const body = direct.object('body', HTTP_BODY);
    const resp: DirectResponse = { status: status ?? 200 };
    const text = body?.string('string');
    const bytes = body?.string('bytes');
    if (text !== undefined) resp.body = text;
    else if (bytes !== undefined) resp.body = Buffer.from(bytes, 'base64').toString('latin1');
    const size = text !== undefined ? Buffer.byteLength(text) : (resp.body?.length ?? 0);
    if (body && size > BODY_MAX) ctx.error('too-long', body.path, `the body is ${size} bytes; at most 1 MiB is allowed`);
    else if (body && size > BODY_WARN) ctx.warn('too-long', body.path, `the body is ${size} bytes: bodies over 100 KiB slow every config push`);
    spec.directResponse = resp;
  }

  // Istio's exclusivity rules between the three actions and delegation (validateHTTPRouteConflict).
  if (r.has('delegate')) {
    const also = [r.has('route') && 'route', redirect && 'redirect'].filter(Boolean);
    if (also.length > 0) ctx.error('conflicting-actions', r.path, `a delegating route cannot also have ${also.join(' or ')}`);
    return undefined;
  }
  const actions = [r.has('route') && 'route', redirect && 'redirect', direct && 'directResponse'].filter(Boolean);
  if (actions.length === 0) ctx.error('no-action', r.path, 'an HTTP route needs one of route, redirect or directResponse');
  if (actions.length > 1)
    ctx.error('conflicting-actions', r.path, `an HTTP route can have only one of route, redirect and directResponse (found ${actions.join(', ')})`);
  if ((redirect || direct) && r.has('rewrite')) ctx.error('conflicting-actions', r.at('rewrite'), 'rewrite cannot be combined with redirect or directResponse');
  if ((redirect || direct) && r.has('fault')) ctx.error('conflicting-actions', r.at('fault'), 'fault cannot be combined with redirect or directResponse');

  // Mirroring: `mirror` (+ `mirrorPercentage` or the legacy integer), or `mirrors[]`, never both. Istio checks the
  // percentages whether or not a mirror is set.
  const mirror = r.object('mirror', DESTINATION);
  const mirrors = r.objects('mirrors', MIRROR_POLICY);
  if (mirror && mirrors.length > 0) ctx.error('mirror-and-mirrors', r.at('mirrors'), 'use either mirror or mirrors, not both');
  let pct = readPercent(r.object('mirrorPercentage', PERCENT));
  if (r.has('mirrorPercent')) {
    const legacy = r.int('mirrorPercent', 0, 100);
    ctx.warn('deprecated-field', r.at('mirrorPercent'), 'mirror_percent is deprecated; use mirrorPercentage: {value: N}');
    // mirrorPercentage wins over the legacy field when both are set, as in Istio.
    if (!r.has('mirrorPercentage')) pct = legacy;
  }
  if (mirror) {
    const dest = readDestination(mirror, r.at('mirror'));
    if (dest) spec.mirrors.push({ ...dest, percentage: pct ?? 100 });
  } else if (r.has('mirrorPercentage') || r.has('mirrorPercent')) {
    const field = r.has('mirrorPercentage') ? 'mirrorPercentage' : 'mirrorPercent';
    ctx.warn('percentage-without-mirror', r.at(field), `${field} has no effect without mirror`);
  }
  mirrors.forEach((m, i) => {
    const dest = readDestination(m.object('destination', DESTINATION), [...r.at('mirrors'), i, 'destination']);
    if (!m.has('destination')) ctx.error('missing-field', m.at('destination'), 'mirrors[].destination is required');
    const pct = readPercent(m.object('percentage', PERCENT));
    if (dest) spec.mirrors.push({ ...dest, percentage: pct ?? 100 });
  });
  if ((mirror || mirrors.length > 0) && !r.has('route')) {
    ctx.warn('mirror-without-route', r.at(mirror ? 'mirror' : 'mirrors'), 'redirect and directResponse answers are not mirrored: this mirror never fires');
  }

  const rewrite = r.object('rewrite', REWRITE);
  if (rewrite) {
    const rw: Rewrite = {};
    const uri = rewrite.string('uri');
    const authority = rewrite.string('authority');
    const rx = rewrite.object('uriRegexRewrite', REGEX_REWRITE);
    if (uri !== undefined) rw.uri = uri;
    if (authority !== undefined) rw.authority = authority;
    if (rx) {
      const match = rx.string('match');
      const replacement = rx.string('rewrite');
      if (!match || !replacement) rx.ctx.error('missing-field', rx.path, 'uriRegexRewrite needs match and rewrite');
      else if (checkRegex(rx.ctx, rx.at('match'), match)) rw.uriRegex = { match, rewrite: replacement };
    }
    if (uri !== undefined && rx) ctx.error('conflicting-rewrite', rewrite.path, 'rewrite can have uri or uriRegexRewrite, not both');
    if (uri === undefined && authority === undefined && !rx) ctx.error('empty-rewrite', rewrite.path, 'rewrite must set uri, uriRegexRewrite or authority');
    spec.rewrite = rw;
  }
  const timeout = r.durationMs('timeout');
  if (timeout !== undefined) spec.timeoutMs = timeout;
  const fault = readFault(r.object('fault', FAULT));
  if (fault) spec.fault = fault;
  const cors = readCorsPolicy(r.object('corsPolicy', CORS_POLICY));
  if (cors) spec.cors = cors;
  return spec;
}

/** Istio's host.Name.Matches: two hosts, either possibly `*`-led, that some name could match both. */
function hostsOverlap(a: string, b: string): boolean {
  const aw = a.startsWith('*');
  const bw = b.startsWith('*');
  if (aw && bw) return a.length < b.length ? b.slice(1).endsWith(a.slice(1)) : a.slice(1).endsWith(b.slice(1));
  if (aw) return b.endsWith(a.slice(1));
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

/** Istio's host.Name.SubsetOf: every name `n` matches, `o` matches too. */
function hostSubsetOf(n: string, o: string): boolean {
  const nw = n.startsWith('*');
  const ow = o.startsWith('*');
  if (nw) return ow && n.length >= o.length && n.slice(1).endsWith(o.slice(1));
  if (ow) return n.endsWith(o.slice(1));
  return n === o;
}

/**
 * Istio's host rule for a VirtualService host or SNI host: a DNS name led by an optional wildcard label; bound to a
 * gateway, an SNI host may be one of the `outbound_.PORT_._.HOST` names AUTO_PASSTHROUGH servers generate.
 */
function hostProblem(host: string, onGateway: boolean, sni: boolean): string | undefined {
  if (onGateway && sni && host.startsWith('outbound_')) {
    const parts = host.split('_');
    if (parts.length >= 4 && parts[0] === 'outbound' && /\d/.test(parts[1]!) && /[a-zA-Z]/.test(parts[3]!)) return undefined;
    return `"${host}" does not follow the outbound_.<port>_._.<hostname> form`;
  }
  return wildcardDomainProblem(host);
}

/** Istio's validateGatewayNames: `name` (or a legacy FQDN, warned about) or `namespace/name`, each part a DNS label. */
function checkGatewayNames(f: Fields, names: readonly string[]): void {
  names.forEach((g, i) => {
    const at = [...f.at('gateways'), i];
    const slash = g.indexOf('/');
    if (slash === -1) {
      const bad = fqdnProblem(g);
      if (bad) f.ctx.error('invalid-name', at, `"${g}" is not a gateway name (name or namespace/name): ${bad}`);
      else if (g.includes('.')) {
        const [name, ns] = g.split('.');
        f.ctx.warn('deprecated-field', at, `"${g}" is the legacy FQDN form; write "${ns}/${name}"`);
      }
      return;
    }
    const ns = g.slice(0, slash);
    const name = g.slice(slash + 1);
    if (!isDns1123Label(ns) || !isDns1123Label(name))
      f.ctx.error('invalid-name', at, `"${g}": the namespace and the name must both be DNS-1123 labels (no wildcards)`);
  });
}

export function readVirtualService(res: RawResource, ctx: ResourceContext): VirtualServiceSpec | undefined {
  const spec = new Fields(ctx, (res.object.spec as Record<string, unknown>) ?? {}, ['spec'], VIRTUAL_SERVICE);
  const hosts = spec.strings('hosts');
  const gateways = spec.strings('gateways');
  checkGatewayNames(spec, gateways);
  // Istio: no gateways means the mesh; a list without "mesh" binds to gateways only.
  const onGateway = gateways.length > 0 && !gateways.includes('mesh');
  // Read raw: the tls routes are read (and their problems reported) once, below.
  const rawTls = spec.raw('tls');
  const sni =
    Array.isArray(rawTls) &&
    rawTls.some(
      (r) => isPlainObject(r) && Array.isArray(r.match) && r.match.some((m) => isPlainObject(m) && Array.isArray(m.sniHosts) && m.sniHosts.length > 0),
    );
  let hostsValid = true;
  hosts.forEach((h, i) => {
    const at = [...spec.at('hosts'), i];
    const bad = hostProblem(h, onGateway, sni);
    if (bad && !isIP(h)) {
      ctx.error('invalid-hostname', at, bad);
      hostsValid = false;
    } else if (h === '*' && !onGateway) {
      ctx.error('invalid-hostname', at, 'the wildcard host "*" is not allowed for a VirtualService bound to the mesh (list gateways, or name hosts)');
      hostsValid = false;
    }
  });
  if (hostsValid) {
    for (let i = 0; i < hosts.length; i++)
      for (let j = i + 1; j < hosts.length; j++)
        if (hostsOverlap(hosts[i]!, hosts[j]!))
          ctx.error('invalid-hostname', [...spec.at('hosts'), j], `hosts "${hosts[i]}" and "${hosts[j]}" overlap: list each name once`);
  }

  const http = spec.objects('http', HTTP_ROUTE).flatMap((r, i) => readHttpRoute(r, i, onGateway) ?? []);
  const tls = spec.objects('tls', TLS_ROUTE).flatMap((r, i) => readTlsRoute(r, i, hosts, onGateway) ?? []);
  // tcp routes are not acted on (a warning says so), but a mesh refuses one without a route.
  const tcp = spec.raw('tcp');
  if (Array.isArray(tcp))
    tcp.forEach((t, i) => {
      const route = isPlainObject(t) ? t.route : undefined;
      if (!Array.isArray(route) || route.length === 0) ctx.error('missing-field', [...spec.at('tcp'), i, 'route'], 'a tcp route needs a destination');
    });
  if (!spec.has('http') && !spec.has('tcp') && !spec.has('tls')) ctx.error('no-routes', spec.path, 'a VirtualService needs http, tcp or tls routes');

  if (hosts.length === 0) {
    // Istio: a VirtualService without hosts is a delegate, routed to from another's `delegate`; it can name no
    // gateways and hold no tls or tcp routes.
    for (const k of ['gateways', 'tls', 'tcp'] as const)
      if ((spec.raw(k) as unknown[] | undefined)?.length) ctx.error('invalid-value', spec.at(k), `a delegate VirtualService (no hosts) cannot have ${k}`);
    ctx.warn('not-supported', spec.at('hosts'), 'a VirtualService without hosts is a delegate; delegation is not supported yet, so it routes nothing');
    return undefined;
  }
  return {
    ref: `VirtualService ${res.namespace}/${res.name}`,
    namespace: res.namespace,
    name: res.name,
    hosts: hosts.map((h) => resolveHost(h, res.namespace)),
    gateways,
    http,
    tls,
    ctx,
    res,
  };
}
