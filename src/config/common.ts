// Istio messages shared by several resources: StringMatch, Headers, Percent, Destination.
import { RE2JS } from 're2js';
import type { Fields, Schema } from './fields.js';
import type { HeaderOps, HeadersPolicy, StringMatch, ValueMatch } from './model.js';
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

export function readStringMatch(f: Fields | undefined): StringMatch | undefined {
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
  if (kind === 'regex' && !checkRegex(f.ctx, f.at(kind), value)) return undefined;
  return { kind, value };
}

/** A header/query match; an empty object `{}` means "present", as in Istio. */
export function readValueMatch(f: Fields): ValueMatch | undefined {
  if (Object.keys(f.value).length === 0) return { kind: 'present' };
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

/** An HTTP field name: a token (RFC 9110 §5.1). */
export const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$/;

function readHeaderOps(f: Fields | undefined): HeaderOps {
  const ops: HeaderOps = { set: {}, add: {}, remove: [] };
  if (!f) return ops;
  for (const op of ['set', 'add'] as const) {
    for (const [name, value] of Object.entries(f.stringMap(op))) {
      if (!HEADER_NAME.test(name)) f.ctx.error('invalid-header-name', [...f.at(op), name], `"${name}" is not a valid header name`);
      else ops[op][name.toLowerCase()] = value;
    }
  }
  ops.remove = f.strings('remove').map((h) => h.toLowerCase());
  return ops;
}

export function readHeaders(f: Fields | undefined): HeadersPolicy {
  return {
    request: readHeaderOps(f?.object('request', HEADER_OPERATIONS)),
    response: readHeaderOps(f?.object('response', HEADER_OPERATIONS)),
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

export function readDestination(f: Fields | undefined, path: PathSeg[]): DestinationRef | undefined {
  if (!f) {
    return undefined;
  }
  const host = f.string('host');
  if (!host) {
    f.ctx.error('missing-field', f.at('host'), 'destination.host is required');
    return undefined;
  }
  const ref: DestinationRef = { host, subset: f.string('subset') ?? '', path };
  const port = f.object('port', PORT_SELECTOR)?.int('number', 1, 65535);
  if (port !== undefined) ref.port = port;
  return ref;
}
