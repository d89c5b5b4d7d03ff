// Reads an HTTPRoute with the CRD's validation rules (field-path problems); references are resolved later.
import { checkRegex, emptyHeaders } from '../common.js';
import { Fields } from '../fields.js';
import type { HeaderCondition, RetryPolicy, RouteMatch, StringMatch } from '../model.js';
import type { RawResource } from '../parse.js';
import type { ResourceContext } from '../problems.js';
import { DEFAULT_RETRIES } from '../virtual-service.js';
import { createdAt, generation, HEADER_NAME, HOSTNAME, parseGatewayDuration, SECTION_NAME } from './common.js';
import { readBackend, readFilters } from './read-filters.js';
import { BACKEND_REF, FILTER, GATEWAY_API_GROUP, HTTP_ROUTE, MATCH, PARENT_REF, PATH_MATCH, RETRY, RULE, TIMEOUTS, VALUE_MATCH } from './schemas.js';
import type { HTTPRouteSpec, MatchSpec, ParentRefSpec, RuleSpec, WeightedBackendSpec } from './types.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
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

function readValueMatches(f: Fields, field: string, lower: boolean): HeaderCondition[] {
  const out: HeaderCondition[] = [];
  const seen = new Set<string>();
  const items = f.objects(field, VALUE_MATCH);
  if (items.length > 16) f.ctx.error('too-many', f.at(field), `at most 16 ${field}, not ${items.length}`);
  for (const h of items) {
    const raw = h.string('name') ?? '';
    const value = h.string('value');
    const type = h.string('type') ?? 'Exact';
    if (!HEADER_NAME.test(raw))
      h.ctx.error('invalid-header-name', h.at('name'), `"${raw}" is not a valid ${field === 'headers' ? 'header' : 'query parameter'} name`);
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
  if (rule.redirect && backends.length > 0)
    r.ctx.error('conflicting-filters', r.at('backendRefs'), 'a rule with a RequestRedirect filter must not have backendRefs');
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
      if (request !== undefined && request > 0 && backend > request)
        timeouts.ctx.error('out-of-range', timeouts.at('backendRequest'), 'backendRequest must not be longer than request');
      rule.retries = { ...rule.retries, perTryTimeoutMs: backend };
    }
  }
  const retry = r.object('retry', RETRY);
  if (retry) {
    const attempts = retry.int('attempts', 0, 1_000);
    // HTTPRouteRetryStatusCode: 400–599.
    const raw = retry.raw('codes');
    if (raw !== undefined && !Array.isArray(raw)) retry.ctx.error('wrong-type', retry.at('codes'), 'codes must be a list of status codes');
    const codes: number[] = [];
    (Array.isArray(raw) ? raw : []).forEach((c: unknown, i) => {
      if (typeof c === 'number' && Number.isInteger(c) && c >= 400 && c <= 599) codes.push(c);
      else retry.ctx.error('out-of-range', [...retry.at('codes'), i], `a retry code must be a status code from 400 to 599, not ${JSON.stringify(c)}`);
    });
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
    if (!HOSTNAME.test(h))
      ctx.error(
        'invalid-hostname',
        [...s.at('hostnames'), i],
        `"${h}" is not a valid hostname (lower-case DNS name, optionally "*." first; no IP address, no port)`,
      );
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
