// Istio messages shared by several resources: StringMatch, Headers, Percent, Destination.
import { RE2JS } from 're2js';
import type { Fields, Schema } from './fields.js';
import type { HeaderOps, HeadersPolicy, StringMatch, ValueMatch } from './model.js';
import { isDns1123Label, wildcardDomainProblem } from './names.js';
import type { PathSeg, ResourceContext } from './problems.js';

export const STRING_MATCH: Schema = { name: 'StringMatch', fields: ['exact', 'prefix', 'regex'] };
export const PERCENT: Schema = { name: 'Percent', fields: ['value'] };
export const HEADERS: Schema = { name: 'Headers', fields: ['request', 'response'] };
export const HEADER_OPERATIONS: Schema = { name: 'HeaderOperations', fields: ['set', 'add', 'remove'] };
export const PORT_SELECTOR: Schema = { name: 'PortSelector', fields: ['number'] };
export const DESTINATION: Schema = { name: 'Destination', fields: ['host', 'subset', 'port'] };

/** Checks a regex once, at load: RE2 syntax (linear-time matching), as Envoy and Istio require. */
export function checkRegex(ctx: ResourceContext, path: readonly PathSeg[], pattern: string): boolean {
  try {
    RE2JS.compile(pattern);
    return true;
  } catch (err) {
    ctx.error('invalid-regex', path, `"${pattern}" is not a valid RE2 regular expression: ${(err as Error).message}`);
    return false;
  }
}

/**
 * Istio's validateStringMatch: an empty `prefix` matches everything, which Envoy allows only for the uri (scheme,
 * method, authority, headers and query parameters refuse it); an empty `regex` is refused everywhere, and a regex
 * longer than 1024 characters too (Istio's stand-in for Envoy's re2 program-size limit).
 */
export function readStringMatch(f: Fields | undefined, opts: { emptyPrefix?: boolean } = {}): StringMatch | undefined {
  if (!f) return undefined;
  const set = (['exact', 'prefix', 'regex'] as const).filter((k) => f.has(k));
  if (set.length > 1) {
    f.ctx.error('string-match-conflict', f.path, `set only one of exact, prefix or regex (found ${set.join(', ')})`);
    return undefined;
  }
  const kind = set[0];
  if (!kind) return undefined;
  const value = f.string(kind);
  if (value === undefined) return undefined;
  if (kind === 'prefix' && value === '' && !opts.emptyPrefix) {
    f.ctx.error('invalid-value', f.at(kind), 'an empty prefix is not allowed here (only a uri match may have one)');
    return undefined;
  }
  if (kind === 'regex') {
    if (value === '') {
      f.ctx.error('invalid-regex', f.at(kind), 'an empty regex is not allowed');
      return undefined;
    }
    if (value.length > 1024) {
      f.ctx.error('invalid-regex', f.at(kind), `the regex is ${value.length} characters long; at most 1024 are allowed`);
      return undefined;
    }
    if (!checkRegex(f.ctx, f.at(kind), value)) return undefined;
  }
  return { kind, value };
}

/**
 * A header/query match; an empty object `{}` means "present", as in Istio. In `withoutHeaders`, `regex: "*"` (not
 * RE2) also means "present" (Istio's validateHTTPRouteMatchRequest and its route translation).
 */
export function readValueMatch(f: Fields, opts: { starIsPresent?: boolean } = {}): ValueMatch | undefined {
  if (Object.keys(f.value).length === 0) return { kind: 'present' };
  if (opts.starIsPresent && f.raw('regex') === '*' && !f.has('exact') && !f.has('prefix')) return { kind: 'present' };
  return readStringMatch(f);
}

/** Istio's Percent `{value: 12.5}`: 0–100. */
export function readPercent(f: Fields | undefined): number | undefined {
  if (!f) return undefined;
  const v = f.number('value');
  if (v === undefined) return 0;
  if (v < 0 || v > 100) {
    f.ctx.error('percentage-out-of-range', f.at('value'), `percentage must be between 0 and 100, not ${v}`);
    return undefined;
  }
  return v;
}

/**
 * Envoy's header value formatter (router/header_parser.cc, as Istio's validateHeaderValue ports it): `%%` is a
 * literal `%`, `%NAME%` or `%NAME(args)%` a command operator, any other `%` an error. Returns what is wrong, else
 * whether the value uses a command operator.
 */
function headerValueFormat(value: string): { error: string } | { operators: boolean } {
  let operators = false;
  let i = 0;
  while (i < value.length) {
    if (value[i] !== '%') {
      i++;
      continue;
    }
    if (value[i + 1] === '%') {
      i += 2;
      continue;
    }
    // %NAME% or %NAME(...)%: the arguments may hold '%' (e.g. a strftime format), so find the ')' first.
    const open = value.indexOf('(', i + 1);
    const close = value.indexOf('%', i + 1);
    if (close === -1) return { error: 'has a "%" that starts no %COMMAND% (write "%%" for a literal "%")' };
    if (open !== -1 && open < close) {
      const end = value.indexOf(')', open);
      if (end === -1 || value[end + 1] !== '%') return { error: 'has an unterminated %COMMAND(...)%' };
      i = end + 2;
    } else i = close + 1;
    operators = true;
  }
  return { operators };
}

/** An HTTP field name: a token (RFC 9110 §5.1). */
export const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$/;
/** Istio's httpHeaderValueRegexp: no control characters but tab. */
function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/**
 * Istio's rules for header operations: request `set`/`add` may name `:authority` or `host` (a host rewrite) but no
 * other pseudo-header; `remove` and every response operation may name neither. Values go through Envoy's formatter.
 */
function readHeaderOps(f: Fields | undefined, request: boolean): HeaderOps {
  const ops: HeaderOps = { set: {}, add: {}, remove: [] };
  if (!f) return ops;
  const nameProblem = (name: string, canAuthority: boolean): string | undefined => {
    if (name === '') return 'a header name cannot be empty';
    const lower = name.toLowerCase();
    if (canAuthority && (lower === ':authority' || lower === 'host')) return undefined;
    if (lower === 'host') return 'the Host header cannot be changed here (use rewrite.authority)';
    if (name.startsWith(':')) return `"${name}": pseudo-headers cannot be changed`;
    if (!HEADER_NAME.test(name)) return `"${name}" is not a valid header name`;
    return undefined;
  };
  for (const op of ['set', 'add'] as const) {
    for (const [name, value] of Object.entries(f.stringMap(op))) {
      const at = name === '' ? f.at(op) : [...f.at(op), name];
      const bad = nameProblem(name, request);
      if (bad) {
        f.ctx.error(name === '' ? 'missing-field' : 'invalid-header-name', at, bad);
        continue;
      }
      if (hasControlCharacter(value)) {
        f.ctx.error('invalid-header-value', at, 'a header value cannot hold control characters');
        continue;
      }
      const format = headerValueFormat(value);
      if ('error' in format) {
        f.ctx.error('invalid-header-value', at, `"${value}" ${format.error}`);
        continue;
      }
      // Envoy expands command operators; we cannot, so such a value is sent as written (and said so). Without
      // one, "%%" is Envoy's escape for "%", and the header carries the single "%".
      if (format.operators) f.ctx.warn('not-supported', at, `"${value}": Envoy %COMMAND% operators are not expanded; the value is sent as written`);
      ops[op][name.toLowerCase()] = format.operators ? value : value.replaceAll('%%', '%');
    }
  }
  const removes = f.strings('remove');
  removes.forEach((name, i) => {
    const bad = nameProblem(name, false);
    if (bad) f.ctx.error(name === '' ? 'missing-field' : 'invalid-header-name', [...f.at('remove'), i], bad);
    else ops.remove.push(name.toLowerCase());
  });
  return ops;
}

export function readHeaders(f: Fields | undefined): HeadersPolicy {
  return {
    request: readHeaderOps(f?.object('request', HEADER_OPERATIONS), true),
    response: readHeaderOps(f?.object('response', HEADER_OPERATIONS), false),
  };
}

export function emptyHeaders(): HeadersPolicy {
  return { request: { set: {}, add: {}, remove: [] }, response: { set: {}, add: {}, remove: [] } };
}

export interface DestinationRef {
  /** As written; resolved against the namespace later. */
  host: string;
  subset: string;
  port?: number;
  path: PathSeg[];
}

/**
 * Istio's validateDestination: a host (a DNS name, its first label may be a wildcard, never `*` alone), a subset that
 * is a DNS-1123 label, a port selector with a number.
 */
export function readDestination(f: Fields | undefined, path: PathSeg[]): DestinationRef | undefined {
  if (!f) {
    return undefined;
  }
  const host = f.string('host');
  if (!host) {
    f.ctx.error('missing-field', f.at('host'), 'destination.host is required');
    return undefined;
  }
  const bad = host === '*' ? 'a destination cannot be "*"' : wildcardDomainProblem(host);
  if (bad) {
    f.ctx.error('invalid-hostname', f.at('host'), bad);
    return undefined;
  }
  const subset = f.string('subset') ?? '';
  if (subset !== '' && !isDns1123Label(subset)) {
    f.ctx.error('invalid-name', f.at('subset'), `subset "${subset}" is not a DNS-1123 label (lowercase letters, digits, "-")`);
    return undefined;
  }
  const ref: DestinationRef = { host, subset, path };
  const selector = f.object('port', PORT_SELECTOR);
  if (selector) {
    const port = selector.int('number', 1, 65535);
    if (port === undefined && !selector.has('number')) selector.ctx.error('missing-field', selector.at('number'), 'port.number is required');
    if (port === undefined) return undefined;
    ref.port = port;
  }
  return ref;
}
