// Reads the filters of an HTTPRoute or GRPCRoute rule or backendRef, and backend references, with the CRDs' rules.
import type { Fields, Schema } from '../fields.js';
import type { HeaderOps, HeadersPolicy } from '../model.js';
import { HEADER_NAME, HOSTNAME } from './common.js';
import { readCorsFilter } from './read-cors.js';
import { BACKEND_OBJECT_REF, CORS, EXTENSION_REF, FRACTION, HEADER, HEADER_FILTER, MIRROR, PATH_MODIFIER, REDIRECT, REWRITE } from './schemas.js';
import type { BackendSpec, MirrorSpec, PathModifier, RouteKind, RuleSpec } from './types.js';

/** What differs between the route kinds' filters: their schemas and the filter types their CRD's enum allows. */
export interface FilterSchemas {
  kind: RouteKind;
  filter: Schema;
  backendRef: Schema;
  types: ReadonlySet<string>;
}

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
const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);

export function readBackend(f: Fields, namespace: string): BackendSpec | undefined {
  const name = f.string('name');
  if (!name) {
    f.ctx.error('missing-field', f.at('name'), 'backendRef name is required');
    return undefined;
  }
  const b: BackendSpec = {
    group: f.string('group') ?? '',
    kind: f.string('kind') ?? 'Service',
    namespace: f.string('namespace') || namespace,
    name,
    path: [...f.path],
  };
  const port = f.int('port', 1, 65535);
  if (port !== undefined) b.port = port;
  // CEL rule of the CRD: "Must have port for Service reference".
  else if ((b.group === '' || b.group === 'core') && b.kind === 'Service') f.ctx.error('missing-field', f.at('port'), 'a backendRef to a Service needs a port');
  return b;
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
export function readFilters(list: Fields[], rule: RuleSpec, namespace: string, schemas: FilterSchemas, backend?: HeadersPolicy): void {
  const once = new Set<string>();
  if (list.length > 16) list[0]?.ctx.error('too-many', list[0].path.slice(0, -1), `at most 16 filters, not ${list.length}`);
  for (const f of list) {
    const type = f.string('type') ?? '';
    const configField = CONFIG_FIELD[type] ?? '';
    if (!type) {
      f.ctx.error('missing-field', f.at('type'), 'filter type is required');
      continue;
    }
    if (!schemas.types.has(type)) {
      f.ctx.error('invalid-value', f.at('type'), `"${type}" is not a ${schemas.kind} filter type (${[...schemas.types].join(', ')})`);
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
        if (scheme !== undefined && scheme !== 'http' && scheme !== 'https')
          r.ctx.error('invalid-value', r.at('scheme'), `scheme must be http or https, not "${scheme}"`);
        const hostname = r.string('hostname');
        if (hostname !== undefined && (!HOSTNAME.test(hostname) || hostname.startsWith('*')))
          r.ctx.error('invalid-hostname', r.at('hostname'), `"${hostname}" is not a valid hostname`);
        const port = r.int('port', 1, 65535);
        const redirect: NonNullable<RuleSpec['redirect']> = { redirect: { redirectCode: code }, portSet: port !== undefined, schemeSet: scheme !== undefined };
        if (scheme !== undefined) redirect.redirect.scheme = scheme;
        if (hostname !== undefined) redirect.redirect.authority = hostname;
        if (port !== undefined) redirect.redirect.port = port;
        const path = readPathModifier(r.object('path', PATH_MODIFIER));
        if (path) redirect.path = path;
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
      case 'CORS': {
        const c = f.object('cors', CORS);
        if (!c) {
          f.ctx.error('missing-field', f.at('cors'), 'cors must be set for type CORS');
          break;
        }
        const policy = readCorsFilter(c);
        // A preflight is answered before a backend is picked: a backendRef's own CORS filter cannot be honoured.
        if (backend) {
          f.ctx.warn('not-supported', f.at('type'), `CORS ${where} is not supported: the rule answers 500`);
          rule.unsupported = 'CORS in backendRefs';
          break;
        }
        rule.cors = policy;
        break;
      }
      case 'ExtensionRef':
      case 'ExternalAuth':
        if (type === 'ExtensionRef') {
          const ref = f.object('extensionRef', EXTENSION_REF);
          if (!ref) f.ctx.error('missing-field', f.at('extensionRef'), 'extensionRef must be set for type ExtensionRef');
          else for (const k of ['group', 'kind', 'name']) if (!ref.has(k)) ref.ctx.error('missing-field', ref.at(k), `extensionRef.${k} is required`);
        }
        // The spec: a filter that cannot be applied must not be skipped; its requests get an error (500; a gRPC
        // client reads it as UNKNOWN).
        f.ctx.warn('not-supported', f.at('type'), `${type} filters are not supported yet: requests this rule matches get 500`);
        rule.unsupported = type;
        break;
    }
  }
}
