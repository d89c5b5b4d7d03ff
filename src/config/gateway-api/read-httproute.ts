// Reads an HTTPRoute with the CRD's validation rules (field-path problems); references are resolved later.
import { checkRegex, emptyHeaders } from '../common.js';
import { Fields } from '../fields.js';
import type { HeaderCondition, HeaderOps, HeadersPolicy, RetryPolicy, RouteMatch, StringMatch } from '../model.js';
import type { RawResource } from '../parse.js';
import type { ResourceContext } from '../problems.js';
import { DEFAULT_RETRIES } from '../virtual-service.js';
import { createdAt, generation, HEADER_NAME, HOSTNAME, parseGatewayDuration, SECTION_NAME } from './common.js';
import {
  BACKEND_OBJECT_REF,
  BACKEND_REF,
  FILTER,
  FRACTION,
  GATEWAY_API_GROUP,
  HEADER,
  HEADER_FILTER,
  HTTP_ROUTE,
  MATCH,
  MIRROR,
  PARENT_REF,
  PATH_MATCH,
  PATH_MODIFIER,
  REDIRECT,
  RETRY,
  REWRITE,
  RULE,
  TIMEOUTS,
  VALUE_MATCH,
} from './schemas.js';
import type { BackendSpec, HTTPRouteSpec, MatchSpec, MirrorSpec, ParentRefSpec, PathModifier, RuleSpec, WeightedBackendSpec } from './types.js';

const CONFIG_FIELD: Readonly<Record<string, string>> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  RequestMirror: 'requestMirror',
  ExtensionRef: 'extensionRef',
  CORS: 'cors',
  ExternalAuth: 'externalAuth',
};
/** CR, LF or NUL. */
const hasLineBreakOrNul = (s: string) => s.includes('\r') || s.includes('\n') || s.includes('\0');
/** Whitespace or a control character (code < 0x20 or 0x7f): never valid in a request-target or a Location. */
const hasControlOrSpace = (s: string) => [...s].some((ch) => ch.charCodeAt(0) <= 0x20 || ch.charCodeAt(0) === 0x7f);
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);
/** Path values the CRD rejects for Exact and PathPrefix (its CEL rules): they would bypass segment matching. */
const BAD_PATH = [/\/\//, /\/\.\//, /\/\.\.\//, /%2f/i, /#/, /\/\.\.$/, /\/\.$/];

function readParentRef(f: Fields, namespace: string): ParentRefSpec | undefined {
  const name = f.string('name');
  if (!name) {
    f.ctx.error('missing-field', f.at('name'), 'parentRefs[].name is required');
    return undefined;
  }
  const ref: ParentRefSpec = {
    group: f.has('group') ? (f.string('group') ?? '') : GATEWAY_API_GROUP,
    kind: f.string('kind') ?? 'Gateway',
    namespace: f.string('namespace') || namespace,
    name,
    path: [...f.path],
  };
  const section = f.string('sectionName');
  if (section !== undefined) {
    if (!SECTION_NAME.test(section)) f.ctx.error('invalid-name', f.at('sectionName'), `"${section}" is not a valid section name`);
    ref.sectionName = section;
  }
  const port = f.int('port', 1, 65535);
  if (port !== undefined) ref.port = port;
  return ref;
}

function readBackend(f: Fields, namespace: string): BackendSpec | undefined {
  const name = f.string('name');
  if (!name) {
    f.ctx.error('missing-field', f.at('name'), 'backendRef name is required');
    return undefined;
  }
  const b: BackendSpec = { group: f.string('group') ?? '', kind: f.string('kind') ?? 'Service', namespace: f.string('namespace') || namespace, name, path: [...f.path] };
  const port = f.int('port', 1, 65535);
  if (port !== undefined) b.port = port;
  // CEL rule of the CRD: "Must have port for Service reference".
  else if ((b.group === '' || b.group === 'core') && b.kind === 'Service') f.ctx.error('missing-field', f.at('port'), 'a backendRef to a Service needs a port');
  return b;
}

function readValueMatches(f: Fields, field: string, lower: boolean): HeaderCondition[] {
  const out: HeaderCondition[] = [];
  const seen = new Set<string>();
  const items = f.objects(field, VALUE_MATCH);
  if (items.length > 16) f.ctx.error('too-many', f.at(field), `at most 16 ${field}, not ${items.length}`);
  for (const h of items) {
    const raw = h.string('name') ?? '';
    const value = h.string('value');
    const type = h.string('type') ?? 'Exact';
    if (!HEADER_NAME.test(raw)) h.ctx.error('invalid-header-name', h.at('name'), `"${raw}" is not a valid ${field === 'headers' ? 'header' : 'query parameter'} name`);
    if (value === undefined) h.ctx.error('missing-field', h.at('value'), 'value is required');
    if (type !== 'Exact' && type !== 'RegularExpression') h.ctx.error('invalid-value', h.at('type'), `type must be Exact or RegularExpression, not "${type}"`);
    const name = lower ? raw.toLowerCase() : raw;
    // The spec: "only the first entry with an equivalent name MUST be considered".
    if (seen.has(name) || value === undefined) continue;
    seen.add(name);
    if (type === 'RegularExpression' && !checkRegex(h.ctx, h.at('value'), value)) continue;
    out.push({ name, match: { kind: type === 'RegularExpression' ? 'regex' : 'exact', value } });
  }
  return out;
}

/** An absent path is `PathPrefix /` (the CRD default). */
function readMatch(m: Fields, index: number): MatchSpec {
  const p = m.object('path', PATH_MATCH);
  const type = p?.string('type') ?? 'PathPrefix';
  const value = p?.string('value') ?? '/';
  let uri: StringMatch = { kind: 'prefix', value: '/', segments: true };
  let pathRank = 2;
  let prefix: string | undefined = '';
  if (type === 'Exact' || type === 'PathPrefix') {
    if (!value.startsWith('/')) m.ctx.error('invalid-path', p!.at('value'), `path "${value}" must start with "/"`);
    else if (BAD_PATH.some((re) => re.test(value))) {
      m.ctx.error('invalid-path', p!.at('value'), `path "${value}" must not contain "//", "/./", "/../", "%2f" or "#", nor end with "/." or "/.."`);
    }
    if (type === 'Exact') {
      uri = { kind: 'exact', value };
      pathRank = 3;
      prefix = undefined;
    } else {
      prefix = value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value === '/' ? '' : value;
      uri = { kind: 'prefix', value: prefix || '/', segments: true };
    }
  } else if (type === 'RegularExpression') {
    if (checkRegex(m.ctx, p!.at('value'), value)) uri = { kind: 'regex', value };
    pathRank = 1;
    prefix = undefined;
  } else m.ctx.error('invalid-value', p!.at('type'), `path type must be Exact, PathPrefix or RegularExpression, not "${type}"`);
  if (value.length > 1024) m.ctx.error('too-long', p!.at('value'), 'path value is longer than 1024 characters');
  const match: RouteMatch = {
    uri,
    headers: readValueMatches(m, 'headers', true),
    withoutHeaders: [],
    queryParams: readValueMatches(m, 'queryParams', false),
    ignoreUriCase: false,
  };
  const method = m.string('method');
  if (method !== undefined) {
    if (!METHODS.has(method)) m.ctx.error('invalid-value', m.at('method'), `method must be one of ${[...METHODS].join(', ')}, not "${method}"`);
    match.method = { kind: 'exact', value: method };
  }
  const spec: MatchSpec = { index, match, pathRank, pathLength: uri.kind === 'prefix' && prefix !== undefined ? prefix.length : value.length };
  if (prefix !== undefined) spec.prefix = prefix;
  return spec;
}

function readHeaderFilter(f: Fields | undefined): HeaderOps {
  const ops: HeaderOps = { set: {}, add: {}, remove: [] };
  if (!f) return ops;
  for (const op of ['set', 'add'] as const) {
    const items = f.objects(op, HEADER);
    if (items.length > 16) f.ctx.error('too-many', f.at(op), `at most 16 headers, not ${items.length}`);
    for (const h of items) {
      const name = h.string('name') ?? '';
      const value = h.string('value');
      if (!HEADER_NAME.test(name)) h.ctx.error('invalid-header-name', h.at('name'), `"${name}" is not a valid header name`);
      else if (value === undefined) h.ctx.error('missing-field', h.at('value'), 'value is required');
      // CR, LF or NUL would split or end the header on the wire (Envoy refuses them too).
      else if (hasLineBreakOrNul(value)) h.ctx.error('invalid-header-value', h.at('value'), 'a header value must not contain CR, LF or NUL');
      else if (name.toLowerCase() in ops[op]) h.ctx.error('duplicate-header', h.at('name'), `header "${name}" is named twice in ${op}`);
      else ops[op][name.toLowerCase()] = value;
    }
  }
  ops.remove = f.strings('remove').map((h) => h.toLowerCase());
  if (ops.remove.length > 16) f.ctx.error('too-many', f.at('remove'), `at most 16 headers, not ${ops.remove.length}`);
  return ops;
}

function readPathModifier(f: Fields | undefined): PathModifier | undefined {
  if (!f) return undefined;
  const type = f.string('type');
  if (type === 'ReplaceFullPath' || type === 'ReplacePrefixMatch') {
    const field = type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
    const value = f.string(field);
    if (value === undefined) {
      f.ctx.error('missing-field', f.at(field), `${field} must be set when type is ${type}`);
      return undefined;
    }
    if (!value.startsWith('/') && value !== '') f.ctx.error('invalid-path', f.at(field), `"${value}" must start with "/"`);
    // It becomes a request-target or a Location: no whitespace or control characters.
    else if (hasControlOrSpace(value)) f.ctx.error('invalid-path', f.at(field), 'a path must not contain whitespace or control characters');
    return { type, value };
  }
  f.ctx.error('invalid-value', f.at('type'), `type must be ReplaceFullPath or ReplacePrefixMatch, not "${type ?? ''}"`);
  return undefined;
}

function percentOf(f: Fields): number | undefined {
  const frac = f.object('fraction', FRACTION);
  if (f.has('percent') && frac) f.ctx.error('conflicting-fields', f.at('fraction'), 'set percent or fraction, not both');
  if (frac) {
    const num = frac.int('numerator', 0, 2 ** 31 - 1);
    const den = frac.int('denominator', 1, 2 ** 31 - 1) ?? 100;
    if (num === undefined) {
      if (!frac.has('numerator')) frac.ctx.error('missing-field', frac.at('numerator'), 'fraction.numerator is required');
      return undefined;
    }
    if (num > den) frac.ctx.error('out-of-range', frac.at('numerator'), `numerator ${num} is larger than denominator ${den}`);
    return (Math.min(num, den) / den) * 100;
  }
  return f.int('percent', 0, 100);
}

/** Filters of a rule (route-level) or of a backendRef; `backend` filters may only modify headers. */
function readFilters(list: Fields[], rule: RuleSpec, namespace: string, backend?: HeadersPolicy): void {
  const once = new Set<string>();
  if (list.length > 16) list[0]?.ctx.error('too-many', list[0].path.slice(0, -1), `at most 16 filters, not ${list.length}`);
  for (const f of list) {
    const type = f.string('type') ?? '';
    const configField = CONFIG_FIELD[type] ?? '';
    if (!type) {
      f.ctx.error('missing-field', f.at('type'), 'filter type is required');
      continue;
    }
    // CEL rules of the CRD: the config field of the type, and no other, must be set.
    for (const other of Object.values(CONFIG_FIELD)) {
      if (other !== configField && f.has(other)) f.ctx.error('conflicting-fields', f.at(other), `${other} must not be set for a filter of type ${type}`);
    }
    if (type !== 'RequestMirror') {
      if (once.has(type)) f.ctx.error('duplicate-filter', f.at('type'), `a ${type} filter may appear only once`);
      once.add(type);
    }
    const where = backend ? 'in backendRefs' : 'on a rule';
    switch (type) {
      case 'RequestHeaderModifier':
      case 'ResponseHeaderModifier': {
        if (!f.has(configField)) f.ctx.error('missing-field', f.at(configField), `${configField} must be set for type ${type}`);
        const ops = readHeaderFilter(f.object(configField, HEADER_FILTER));
        const target = backend ?? rule.headers;
        if (type === 'RequestHeaderModifier') target.request = ops;
        else target.response = ops;
        break;
      }
      case 'RequestMirror': {
        const m = f.object('requestMirror', MIRROR);
        if (!m) {
          f.ctx.error('missing-field', f.at('requestMirror'), 'requestMirror must be set for type RequestMirror');
          break;
        }
        if (backend) {
          f.ctx.warn('not-supported', f.at('type'), `RequestMirror ${where} is not supported yet and is ignored`);
          break;
        }
        const ref = m.object('backendRef', BACKEND_OBJECT_REF);
        if (!ref) m.ctx.error('missing-field', m.at('backendRef'), 'requestMirror.backendRef is required');
        const b = ref && readBackend(ref, namespace);
        const pct = percentOf(m);
        if (b) rule.mirrors.push({ ...b, percentage: pct ?? 100 } satisfies MirrorSpec);
        break;
      }
      case 'RequestRedirect': {
        const r = f.object('requestRedirect', REDIRECT);
        if (!r) {
          f.ctx.error('missing-field', f.at('requestRedirect'), 'requestRedirect must be set for type RequestRedirect');
          break;
        }
        if (backend) {
          f.ctx.warn('not-supported', f.at('type'), `RequestRedirect ${where} is not supported yet: the rule answers 500`);
          rule.unsupported = 'RequestRedirect in backendRefs';
          break;
        }
        const code = r.int('statusCode', 300, 399) ?? 302;
        if (!REDIRECT_CODES.has(code)) r.ctx.error('invalid-value', r.at('statusCode'), `statusCode must be 301, 302, 303, 307 or 308, not ${code}`);
        const scheme = r.string('scheme');
        if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') r.ctx.error('invalid-value', r.at('scheme'), `scheme must be http or https, not "${scheme}"`);
        const hostname = r.string('hostname');
        if (hostname !== undefined && (!HOSTNAME.test(hostname) || hostname.startsWith('*'))) r.ctx.error('invalid-hostname', r.at('hostname'), `"${hostname}" is not a valid hostname`);
        const port = r.int('port', 1, 65535);
        const redirect: NonNullable<RuleSpec['redirect']> = { redirect: { redirectCode: code }, portSet: port !== undefined, schemeSet: scheme !== undefined };
        if (scheme !== undefined) redirect.redirect.scheme = scheme;
        if (hostname !== undefined) redirect.redirect.authority = hostname;
        if (port !== undefined) redirect.redirect.port = port;
        const path = readPathModifier(r.object('path', PATH_MODIFIER));
        if (path) redirect.path = path;
        if (path?.type === 'ReplacePrefixMatch') {
          r.ctx.warn('not-supported', r.at('path'), 'a redirect with ReplacePrefixMatch is not supported yet: requests this rule matches get 500');
        }
        rule.redirect = redirect;
        break;
      }
      case 'URLRewrite': {
        const r = f.object('urlRewrite', REWRITE);
        if (!r) {
          f.ctx.error('missing-field', f.at('urlRewrite'), 'urlRewrite must be set for type URLRewrite');
          break;
        }
        if (backend) {
          f.ctx.warn('not-supported', f.at('type'), `URLRewrite ${where} is not supported yet: the rule answers 500`);
          rule.unsupported = 'URLRewrite in backendRefs';
          break;
        }
        const rewrite: NonNullable<RuleSpec['rewrite']> = {};
        const hostname = r.string('hostname');
        if (hostname !== undefined) {
          if (!HOSTNAME.test(hostname) || hostname.startsWith('*')) r.ctx.error('invalid-hostname', r.at('hostname'), `"${hostname}" is not a valid hostname`);
          rewrite.authority = hostname;
        }
        const path = readPathModifier(r.object('path', PATH_MODIFIER));
        if (path) rewrite.path = path;
        rule.rewrite = rewrite;
        break;
      }
      case 'ExtensionRef':
      case 'CORS':
      case 'ExternalAuth':
        // The spec: a filter that cannot be applied must not be skipped; its requests get an error (500).
        f.ctx.warn('not-supported', f.at('type'), `${type} filters are not supported yet: requests this rule matches get 500`);
        rule.unsupported = type;
        break;
      default:
        f.ctx.error('invalid-value', f.at('type'), `"${type}" is not an HTTPRoute filter type`);
    }
  }
}

function readRule(r: Fields, index: number, namespace: string): RuleSpec {
  const rule: RuleSpec = { index, path: [...r.path], matches: [], backends: [], mirrors: [], headers: emptyHeaders(), retries: DEFAULT_RETRIES };
  const name = r.string('name');
  if (name !== undefined) {
    if (!SECTION_NAME.test(name)) r.ctx.error('invalid-name', r.at('name'), `rule name "${name}" must be a DNS label`);
    rule.name = name;
  }
  const matches = r.objects('matches', MATCH);
  if (matches.length > 64) r.ctx.error('too-many', r.at('matches'), `at most 64 matches, not ${matches.length}`);
  rule.matches = matches.map((m, i) => readMatch(m, i));
  readFilters(r.objects('filters', FILTER), rule, namespace);
  const backends = r.objects('backendRefs', BACKEND_REF);
  if (backends.length > 16) r.ctx.error('too-many', r.at('backendRefs'), `at most 16 backendRefs, not ${backends.length}`);
  for (const b of backends) {
    const ref = readBackend(b, namespace);
    const weight = b.int('weight', 0, 1_000_000) ?? 1;
    const headers = emptyHeaders();
    readFilters(b.objects('filters', FILTER), rule, namespace, headers);
    if (ref) rule.backends.push({ ...ref, weight, headers } satisfies WeightedBackendSpec);
  }
  // CEL rules of the CRD.
  if (rule.redirect && rule.rewrite) r.ctx.error('conflicting-filters', r.at('filters'), 'RequestRedirect and URLRewrite cannot both be set on a rule');
  if (rule.redirect && backends.length > 0) r.ctx.error('conflicting-filters', r.at('backendRefs'), 'a rule with a RequestRedirect filter must not have backendRefs');
  const prefixPath = rule.redirect?.path?.type === 'ReplacePrefixMatch' || rule.rewrite?.path?.type === 'ReplacePrefixMatch';
  if (prefixPath && (rule.matches.length === 0 ? false : rule.matches.some((m) => m.prefix === undefined))) {
    r.ctx.error('invalid-value', r.at('filters'), 'ReplacePrefixMatch needs every match of the rule to be a PathPrefix match');
  }
  const timeouts = r.object('timeouts', TIMEOUTS);
  if (timeouts) {
    const read = (k: string) => {
      const s = timeouts.string(k);
      if (s === undefined) return undefined;
      const ms = parseGatewayDuration(s);
      if (ms === undefined) timeouts.ctx.error('bad-duration', timeouts.at(k), `"${s}" is not a Gateway API duration (e.g. "10s", "1m30s", "500ms")`);
      return ms;
    };
    const request = read('request');
    const backend = read('backendRequest');
    // "0s" disables the timeout (GEP-1742).
    if (request !== undefined && request > 0) rule.timeoutMs = request;
    if (backend !== undefined && backend > 0) {
      if (request !== undefined && request > 0 && backend > request) timeouts.ctx.error('out-of-range', timeouts.at('backendRequest'), 'backendRequest must not be longer than request');
      rule.retries = { ...rule.retries, perTryTimeoutMs: backend };
    }
  }
  const retry = r.object('retry', RETRY);
  if (retry) {
    const attempts = retry.int('attempts', 0, 1_000);
    const codes = (Array.isArray(retry.raw('codes')) ? (retry.raw('codes') as unknown[]) : []).filter((c): c is number => Number.isInteger(c) && (c as number) >= 400 && (c as number) <= 599);
    const policy: RetryPolicy = {
      ...rule.retries,
      attempts: attempts ?? DEFAULT_RETRIES.attempts,
      // As Istio translates HTTPRouteRetry: connection errors, then the listed codes.
      retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes', ...codes.map(String)],
    };
    rule.retries = policy;
  }
  return rule;
}

export function readHTTPRoute(res: RawResource, ctx: ResourceContext): HTTPRouteSpec {
  const s = new Fields(ctx, (res.object.spec as Record<string, unknown>) ?? {}, ['spec'], HTTP_ROUTE);
  const parents = s.objects('parentRefs', PARENT_REF);
  if (parents.length > 32) ctx.error('too-many', s.at('parentRefs'), `at most 32 parentRefs, not ${parents.length}`);
  const parentRefs = parents.flatMap((p) => readParentRef(p, res.namespace) ?? []);
  if (parentRefs.length === 0 && !ctx.failed) ctx.warn('no-parents', s.at('parentRefs'), 'this HTTPRoute has no parentRefs: it gets no traffic');
  const hostnames = s.strings('hostnames').map((h, i) => {
    if (!HOSTNAME.test(h)) ctx.error('invalid-hostname', [...s.at('hostnames'), i], `"${h}" is not a valid hostname (lower-case DNS name, optionally "*." first; no IP address, no port)`);
    return h;
  });
  const rules = s.objects('rules', RULE);
  if (rules.length > 16) ctx.error('too-many', s.at('rules'), `at most 16 rules, not ${rules.length}`);
  const created = createdAt(res);
  if (created !== undefined && Number.isNaN(created)) ctx.error('wrong-type', ['metadata', 'creationTimestamp'], 'creationTimestamp must be an RFC 3339 time');
  return {
    ref: `HTTPRoute ${res.namespace}/${res.name}`,
    namespace: res.namespace,
    name: res.name,
    generation: generation(res),
    ctx,
    created: created === undefined || Number.isNaN(created) ? Number.POSITIVE_INFINITY : created,
    hostnames,
    parentRefs,
    // The CRD defaults rules to one rule matching PathPrefix "/" with no backend: it answers 500.
    rules: rules.length > 0 ? rules.map((r, i) => readRule(r, i, res.namespace)) : [defaultRule()],
  };
}

function defaultRule(): RuleSpec {
  return { index: 0, path: ['spec'], matches: [], backends: [], mirrors: [], headers: emptyHeaders(), retries: DEFAULT_RETRIES };
}
