// Reads an HTTPRoute with the CRD's validation rules (field-path problems); references are resolved later.
import { checkRegex } from '../common.js';
import type { Fields } from '../fields.js';
import type { RetryPolicy, RouteMatch, StringMatch } from '../model.js';
import type { RawResource } from '../parse.js';
import type { ResourceContext } from '../problems.js';
import { DEFAULT_RETRIES } from '../virtual-service.js';
import { parseGatewayDuration } from './common.js';
import type { FilterSchemas } from './read-filters.js';
import { readRoute, readRuleCommon, readValueMatches } from './read-route.js';
import { BACKEND_REF, FILTER, HTTP_ROUTE, MATCH, PATH_MATCH, RETRY, RULE, TIMEOUTS } from './schemas.js';
import type { MatchSpec, RouteSpec, RuleSpec } from './types.js';

const FILTERS: FilterSchemas = {
  kind: 'HTTPRoute',
  filter: FILTER,
  backendRef: BACKEND_REF,
  types: new Set(['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror', 'ExtensionRef', 'CORS', 'ExternalAuth']),
};

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
/** Path values the CRD rejects for Exact and PathPrefix (its CEL rules): they would bypass segment matching. */
const BAD_PATH = [/\/\//, /\/\.\//, /\/\.\.\//, /%2f/i, /#/, /\/\.\.$/, /\/\.$/];

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
  const { rule, backends } = readRuleCommon(r, index, namespace, MATCH, readMatch, FILTERS);
  // CEL rules of the CRD.
  if (rule.redirect && rule.rewrite) r.ctx.error('conflicting-filters', r.at('filters'), 'RequestRedirect and URLRewrite cannot both be set on a rule');
  if (rule.redirect && backends > 0) r.ctx.error('conflicting-filters', r.at('backendRefs'), 'a rule with a RequestRedirect filter must not have backendRefs');
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

export function readHTTPRoute(res: RawResource, ctx: ResourceContext): RouteSpec {
  return readRoute(res, ctx, 'HTTPRoute', HTTP_ROUTE, RULE, (r, i) => readRule(r, i, res.namespace));
}
