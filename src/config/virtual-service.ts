// Reads a VirtualService with Istio's validation rules; destinations stay unresolved until the snapshot is built.
import {
  checkRegex,
  DESTINATION,
  type DestinationRef,
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
import { Fields, type Schema } from './fields.js';
import { resolveHost } from './hosts.js';
import type { CorsPolicy, DirectResponse, FaultPolicy, HeaderCondition, HeadersPolicy, Redirect, RetryPolicy, Rewrite, RouteMatch } from './model.js';
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
  fields: ['uri', 'authority', 'port', 'derivePort', 'scheme', 'redirectCode'],
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

/** Istio's TLSRoute: every match needs sniHosts, the route at least one destination (weights as for http). */
function readTlsRoute(r: Fields, index: number): TlsRouteSpec | undefined {
  const matches = r.objects('match', TLS_MATCH).map((m) => {
    const sniHosts = m.strings('sniHosts').map((h) => h.toLowerCase());
    if (sniHosts.length === 0) m.ctx.error('missing-field', m.at('sniHosts'), 'a tls match needs sniHosts');
    const out: TlsRouteSpec['matches'][number] = { sniHosts, gateways: m.strings('gateways') };
    const port = m.int('port', 1, 65535);
    if (port !== undefined) out.port = port;
    return out;
  });
  if (matches.length === 0) r.ctx.error('missing-field', r.at('match'), 'a tls route needs a match with sniHosts');
  const route: TlsRouteSpec['route'] = [];
  for (const d of r.objects('route', TLS_DESTINATION)) {
    const destination = readDestination(d.object('destination', DESTINATION), d.at('destination'));
    const weight = d.int('weight', 0, 100) ?? (r.objects('route', TLS_DESTINATION).length === 1 ? 100 : 0);
    if (destination && weight > 0) route.push({ destination, weight });
  }
  if (route.length === 0) {
    r.ctx.error('missing-field', r.at('route'), 'a tls route needs a destination');
    return undefined;
  }
  return { index, matches, route };
}

function readConditions(f: Fields, field: string, lowerNames: boolean): HeaderCondition[] {
  return f.objectMap(field, STRING_MATCH).flatMap(([name, m]) => {
    const match = readValueMatch(m);
    return match ? [{ name: lowerNames ? name.toLowerCase() : name, match }] : [];
  });
}

function readMatch(m: Fields): RouteMatch {
  const match: RouteMatch = {
    headers: readConditions(m, 'headers', true),
    withoutHeaders: readConditions(m, 'withoutHeaders', true),
    queryParams: readConditions(m, 'queryParams', false),
    ignoreUriCase: m.bool('ignoreUriCase') ?? false,
  };
  const name = m.string('name');
  if (name !== undefined) match.name = name;
  for (const k of ['uri', 'scheme', 'method', 'authority'] as const) {
    const sm = readStringMatch(m.object(k, STRING_MATCH));
    if (sm) match[k] = sm;
  }
  const port = m.int('port', 1, 65535);
  if (port !== undefined) match.port = port;
  return match;
}

function readRetries(f: Fields | undefined): RetryPolicy {
  if (!f) return DEFAULT_RETRIES;
  const attempts = f.int('attempts', 0, 1_000) ?? DEFAULT_RETRIES.attempts;
  const policy: RetryPolicy = { attempts, retryOn: DEFAULT_RETRIES.retryOn };
  const perTry = f.durationMs('perTryTimeout');
  if (perTry !== undefined) policy.perTryTimeoutMs = perTry;
  const retryOn = f.string('retryOn');
  if (retryOn !== undefined) {
    const tokens = retryOn
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    for (const t of tokens) {
      if (!RETRY_ON.has(t) && !/^[1-5]\d\d$/.test(t)) {
        f.ctx.error('invalid-retry-on', f.at('retryOn'), `"${t}" is not a retry condition Envoy knows`);
      }
    }
    policy.retryOn = tokens;
  }
  return policy;
}

function readFault(f: Fields | undefined): FaultPolicy | undefined {
  if (!f) return undefined;
  const fault: FaultPolicy = {};
  const delay = f.object('delay', DELAY);
  if (delay) {
    const fixed = delay.durationMs('fixedDelay');
    if (fixed === undefined) delay.ctx.error('missing-field', delay.at('fixedDelay'), 'delay.fixedDelay is required');
    let pct = readPercent(delay.object('percentage', PERCENT));
    if (pct === undefined && delay.has('percent')) {
      pct = delay.int('percent', 0, 100);
      delay.ctx.warn('deprecated-field', delay.at('percent'), 'delay.percent is deprecated; use percentage: {value: N}');
    }
    if (fixed !== undefined) fault.delay = { fixedDelayMs: fixed, percentage: pct ?? 100 };
  }
  const abort = f.object('abort', ABORT);
  if (abort) {
    const status = abort.int('httpStatus', 200, 599);
    if (status === undefined && !abort.has('grpcStatus') && !abort.has('http2Error')) {
      abort.ctx.error('missing-field', abort.at('httpStatus'), 'abort.httpStatus is required');
    }
    const pct = readPercent(abort.object('percentage', PERCENT));
    if (status !== undefined) fault.abort = { httpStatus: status, percentage: pct ?? 100 };
  }
  if (!delay && !abort) f.ctx.error('empty-fault', f.path, 'fault needs a delay or an abort');
  return fault;
}

function readHttpRoute(r: Fields, index: number): HttpRouteSpec {
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
    spec.matches.push(readMatch(m));
    spec.matchPaths.push([...m.path]);
  }

  r.objects('route', ROUTE_DESTINATION).forEach((d) => {
    const dest = readDestination(d.object('destination', DESTINATION), d.at('destination'));
    if (!d.has('destination')) ctx.error('missing-field', d.at('destination'), 'route destination is required');
    const weight = d.int('weight', 0, 2 ** 31 - 1);
    if (dest) spec.destinations.push({ ...dest, weight: weight ?? 0, headers: readHeaders(d.object('headers', HEADERS)) });
  });
  // Istio: a lone destination takes all traffic whatever its weight; several need a positive total.
  if (spec.destinations.length === 1) spec.destinations[0]!.weight = 100;
  else if (spec.destinations.length > 1) {
    if (spec.destinations.every((d) => d.weight === 0)) {
      ctx.error('zero-total-weight', r.at('route'), 'the weights of these destinations add up to 0: no traffic could be sent');
    }
    spec.destinations = spec.destinations.filter((d) => d.weight > 0);
  }

  const redirect = r.object('redirect', REDIRECT);
  if (redirect) {
    const red: Redirect = { redirectCode: redirect.int('redirectCode', 300, 399) ?? 301 };
    const uri = redirect.string('uri');
    const authority = redirect.string('authority');
    const port = redirect.int('port', 1, 65535);
    const scheme = redirect.string('scheme');
    if (uri !== undefined) red.uri = uri;
    if (authority !== undefined) red.authority = authority;
    if (port !== undefined) red.port = port;
    if (scheme !== undefined) red.scheme = scheme;
    if (redirect.has('derivePort'))
      redirect.ctx.warn('not-supported', redirect.at('derivePort'), 'HTTPRedirect.derivePort is not supported yet and is ignored');
    spec.redirect = red;
  }
  const direct = r.object('directResponse', DIRECT_RESPONSE);
  if (direct) {
    const status = direct.int('status', 200, 599);
    if (status === undefined) ctx.error('missing-field', direct.at('status'), 'directResponse.status is required (200–599)');
    const body = direct.object('body', HTTP_BODY);
    const resp: DirectResponse = { status: status ?? 200 };
    const text = body?.string('string');
    const bytes = body?.string('bytes');
    if (text !== undefined) resp.body = text;
    else if (bytes !== undefined) resp.body = Buffer.from(bytes, 'base64').toString('latin1');
    spec.directResponse = resp;
  }

  // Istio's exclusivity rules between the three actions.
  const actions = [r.has('route') && 'route', redirect && 'redirect', direct && 'directResponse'].filter(Boolean);
  if (actions.length === 0) ctx.error('no-action', r.path, 'an HTTP route needs one of route, redirect or directResponse');
  if (actions.length > 1)
    ctx.error('conflicting-actions', r.path, `an HTTP route can have only one of route, redirect and directResponse (found ${actions.join(', ')})`);
  if ((redirect || direct) && r.has('rewrite')) ctx.error('conflicting-actions', r.at('rewrite'), 'rewrite cannot be combined with redirect or directResponse');
  if ((redirect || direct) && r.has('fault')) ctx.error('conflicting-actions', r.at('fault'), 'fault cannot be combined with redirect or directResponse');

  // Mirroring: `mirror` (+ `mirrorPercentage` or the legacy integer), or `mirrors[]`, never both.
  const mirror = r.object('mirror', DESTINATION);
  const mirrors = r.objects('mirrors', MIRROR_POLICY);
  if (mirror && mirrors.length > 0) ctx.error('mirror-and-mirrors', r.at('mirrors'), 'use either mirror or mirrors, not both');
  if (mirror) {
    let pct = readPercent(r.object('mirrorPercentage', PERCENT));
    if (r.has('mirrorPercent')) {
      const legacy = r.int('mirrorPercent', 0, 100);
      ctx.warn('deprecated-field', r.at('mirrorPercent'), 'mirror_percent is deprecated; use mirrorPercentage: {value: N}');
      // mirrorPercentage wins over the legacy field when both are set, as in Istio.
      if (!r.has('mirrorPercentage')) pct = legacy;
    }
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
      if (match === undefined || replacement === undefined) rx.ctx.error('missing-field', rx.path, 'uriRegexRewrite needs match and rewrite');
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

export function readVirtualService(res: RawResource, ctx: ResourceContext): VirtualServiceSpec | undefined {
  const spec = new Fields(ctx, (res.object.spec as Record<string, unknown>) ?? {}, ['spec'], VIRTUAL_SERVICE);
  const hosts = spec.strings('hosts');
  if (hosts.length === 0) ctx.error('missing-field', spec.at('hosts'), 'a VirtualService needs at least one host');
  const gateways = spec.strings('gateways');
  const http = spec.objects('http', HTTP_ROUTE).map((r, i) => readHttpRoute(r, i));
  const tls = spec.objects('tls', TLS_ROUTE).flatMap((r, i) => readTlsRoute(r, i) ?? []);
  if (http.length === 0 && !spec.has('tcp') && !spec.has('tls')) ctx.warn('no-routes', spec.at('http'), 'this VirtualService has no http routes');
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
