// Compare rules compiled once (header sets, field-path and endpoint patterns as single regexes), never per exchange.
import { compileGrpcSchema, type GrpcSchema } from './grpc-schema.js';
import { ALWAYS_REDACTED_HEADERS, SECRET_FIELD_SOURCE } from './redaction.js';
import { type CompareSettings, DEFAULT_THRESHOLDS, type Thresholds } from './types.js';

/**
 * Headers that never say anything about the service's behaviour: hop-by-hop headers (RFC 9110 §7.6.1),
 * per-response clocks and ids, caching validators that change with every deploy, tracing, CDN and mesh
 * decorations. `content-length` and `content-encoding` are left to the body comparison, which sees the
 * decoded body (two versions that compress differently answer the same thing).
 * `set-cookie` is NOT ignored: it is compared with cookie values masked (see headers.ts), so a dropped
 * cookie or a lost `Secure`/`HttpOnly` shows while rotating session ids do not.
 */
export const DEFAULT_IGNORED_HEADERS: readonly string[] = Object.freeze([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-*',
  'date',
  'server',
  'age',
  'expires',
  'last-modified',
  'etag',
  'content-length',
  'content-encoding',
  // gRPC's message compression: the messages are compared uncompressed (grpc-messages.ts).
  'grpc-encoding',
  'grpc-accept-encoding',
  'x-request-id',
  'x-correlation-id',
  'request-id',
  'x-trace-id',
  'x-envoy-*',
  'via',
  'alt-svc',
  'report-to',
  'nel',
  'cf-ray',
  'cf-cache-status',
  'x-amzn-*',
  'x-amz-cf-*',
  'x-amz-request-id',
  'x-amz-id-2',
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-*',
  'uber-trace-id',
  'x-cloud-trace-context',
  'x-datadog-*',
  'server-timing',
  'x-response-time',
  'x-runtime',
  'x-served-by',
  'x-cache',
  'x-cache-hits',
  'x-timer',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'ratelimit-remaining',
  'ratelimit-reset',
]);

export interface CompiledRules {
  readonly rules: CompareSettings;
  readonly thresholds: Thresholds;
  /** Time-like values this close are the same moment (see time-like.ts). */
  readonly timeToleranceMs: number;
  isIgnoredHeader(name: string): boolean;
  isRedactedHeader(name: string): boolean;
  /** A folded path (`body.items[*].id`, `header.x`, `status`) at or below an ignoreFields pattern. */
  isIgnoredField(path: string): boolean;
  isRedactedField(path: string): boolean;
  isUnorderedArray(path: string): boolean;
  /** True when ignoreFields is non-empty: lets the JSON walk skip the checks entirely. */
  readonly hasIgnoredFields: boolean;
  /** Always true: the built-in secret fields (redaction.ts) are redacted whatever the configuration says. */
  readonly hasRedactedFields: boolean;
  /** An endpoint key (`route METHOD /path`) matching an ignoreEndpoints pattern. */
  isIgnoredEndpoint(key: string): boolean;
  /** gRPC methods' message types from compare.grpc.descriptorSets; undefined without any (messages compare by bytes). */
  readonly grpc: GrpcSchema | undefined;
}

export function compileRules(rules: CompareSettings): CompiledRules {
  const ignoreHeaders = headerMatcher([...DEFAULT_IGNORED_HEADERS, ...(rules.ignoreHeaders ?? [])]);
  const redactHeaders = headerMatcher([...ALWAYS_REDACTED_HEADERS, ...(rules.redactHeaders ?? [])]);
  const ignoreFields = fieldRegex(rules.ignoreFields ?? []);
  const configured = fieldRegex(rules.redactFields ?? []);
  // The built-in secrets at any depth (case-insensitive), then the configured paths: one test.
  const redactFields = new RegExp(`(?:${configured ? `${configured.source}|` : ''}${SECRET_FIELD_SOURCE})`, 'i');
  const unordered = fieldRegex(rules.unorderedArrays ?? []);
  const endpoints = endpointRegex(rules.ignoreEndpoints ?? []);
  return Object.freeze({
    rules,
    thresholds: { ...DEFAULT_THRESHOLDS, ...(rules.thresholds ?? {}) },
    timeToleranceMs: rules.timeToleranceMs ?? 5_000,
    isIgnoredHeader: ignoreHeaders,
    isRedactedHeader: redactHeaders,
    isIgnoredField: pathTest(ignoreFields),
    isRedactedField: (path: string) => redactFields.test(`.${path}`),
    isUnorderedArray: pathTest(unordered),
    hasIgnoredFields: ignoreFields !== undefined,
    hasRedactedFields: true,
    isIgnoredEndpoint: endpoints === undefined ? never : (key: string) => endpoints.test(key),
    grpc: grpcSchema(rules),
  });
}

/** The sets were checked when the config was loaded; one that still fails leaves the messages to compare by bytes. */
function grpcSchema(rules: CompareSettings): GrpcSchema | undefined {
  try {
    return compileGrpcSchema(rules.grpc?.descriptorSets);
  } catch {
    return undefined;
  }
}

const never = (): boolean => false;

/** Paths are tested with a leading dot (see KEY below); no patterns, no work. */
function pathTest(re: RegExp | undefined): (path: string) => boolean {
  return re === undefined ? never : (path) => re.test(`.${path}`);
}

/** Whether an endpoint key matches one of the compiled ignoreEndpoints patterns. */
export function matchesEndpoint(compiled: CompiledRules, key: string): boolean {
  return compiled.isIgnoredEndpoint(key);
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Exact names in a Set; names with `*` (`x-envoy-*`) as one regex. Case-insensitive. */
function headerMatcher(names: readonly string[]): (name: string) => boolean {
  const exact = new Set<string>();
  const globs: string[] = [];
  for (const raw of names) {
    const n = raw.trim().toLowerCase();
    if (n === '') continue;
    if (n.includes('*')) globs.push(n.split('*').map(escapeRegex).join('.*'));
    else exact.add(n);
  }
  const re = globs.length > 0 ? new RegExp(`^(?:${globs.join('|')})$`) : undefined;
  return (name) => {
    const n = name.toLowerCase();
    return exact.has(n) || re?.test(n) === true;
  };
}

// Folded paths are matched with a leading dot (`.body.items[*].price`) so every segment carries its separator.
/** One object-key segment: `.name`, or `["odd.key"]` for keys that contain `.`, `[`, `]` or `"`. */
const KEY = String.raw`(?:\.[^.[\]]+|\["(?:[^"\\]|\\.)*"\])`;
const INDEX = String.raw`\[\*\]`;

/**
 * Field patterns, in the folded form of the paths they match:
 * - a name matches that key; `[*]` (or `[0]`) matches an array level;
 * - `*` matches exactly one segment, a key or an array level (`body.items.*.id` = `body.items[*].id`),
 *   which is how the store's redaction reads `*` too;
 * - `**` matches any number of segments, none included (`body.**.updatedAt`, `**.token`);
 * - a pattern covers its whole subtree: `body.meta` ignores `body.meta.generatedAt`.
 * All patterns become one anchored regex.
 */
function fieldRegex(patterns: readonly string[]): RegExp | undefined {
  const sources: string[] = [];
  for (const p of patterns) {
    const t = p.trim();
    if (t !== '') sources.push(fieldPatternSource(t));
  }
  if (sources.length === 0) return undefined;
  return new RegExp(`^(?:${sources.join('|')})(?=$|[.[])`);
}

function fieldPatternSource(pattern: string): string {
  let out = '';
  for (const part of pattern.split('.')) {
    // `items[*][*]` → name `items`, then two array levels.
    const m = /^([^[]*)((?:\[[^\]]*\])*)$/.exec(part);
    const name = m ? m[1]! : part;
    const brackets = m ? m[2]! : '';
    if (name === '**') out += `(?:${KEY}|${INDEX})*`;
    else if (name === '*') out += `(?:${KEY}|${INDEX})`;
    else if (name !== '') out += `(?:\\.${escapeRegex(name)}|\\[${escapeRegex(JSON.stringify(name))}\\])`;
    for (const b of brackets.match(/\[[^\]]*\]/g) ?? []) {
      out += b === '[**]' ? `(?:${KEY}|${INDEX})*` : INDEX;
    }
  }
  return out;
}

/**
 * ignoreEndpoints patterns, matched against `route METHOD /template` (and, by compareExchange, against the
 * unfolded path too):
 * - `METHOD /path` (any route), `route METHOD /path`, or `/path` alone (any route, any method);
 * - `*` as the route or method matches any; in the path `*` matches any run of characters, `/` included,
 *   so `* /internal/*` covers everything under /internal/;
 * - methods compare case-insensitively.
 */
function endpointRegex(patterns: readonly string[]): RegExp | undefined {
  const sources: string[] = [];
  for (const p of patterns) {
    const parts = p
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '');
    if (parts.length === 0 || parts.length > 3) continue;
    const path = parts[parts.length - 1]!;
    const method = parts.length >= 2 ? parts[parts.length - 2]!.toUpperCase() : '*';
    const route = parts.length === 3 ? parts[0]! : '*';
    const glob = (s: string, any: string) => s.split('*').map(escapeRegex).join(any);
    sources.push(`${route === '*' ? '\\S+' : glob(route, '\\S*')} ${method === '*' ? '\\S+' : glob(method, '\\S*')} ${glob(path, '.*')}`);
  }
  if (sources.length === 0) return undefined;
  return new RegExp(`^(?:${sources.join('|')})$`);
}
