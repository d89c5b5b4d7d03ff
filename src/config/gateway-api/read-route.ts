// What every route kind (HTTPRoute, GRPCRoute) reads the same way: metadata, parentRefs, hostnames, header matches,
// rule names and weighted backendRefs, with the CRDs' shared validation rules (CommonRouteSpec, BackendRef).
import { checkRegex, emptyHeaders } from '../common.js';
import { Fields, type Schema } from '../fields.js';
import type { HeaderCondition } from '../model.js';
import type { RawResource } from '../parse.js';
import type { ResourceContext } from '../problems.js';
import { DEFAULT_RETRIES } from '../virtual-service.js';
import { createdAt, generation, HEADER_NAME, HOSTNAME, SECTION_NAME } from './common.js';
import { type FilterSchemas, readBackend, readFilters } from './read-filters.js';
import { GATEWAY_API_GROUP, PARENT_REF, VALUE_MATCH } from './schemas.js';
import type { MatchSpec, ParentRefSpec, RouteKind, RouteSpec, RuleSpec, WeightedBackendSpec } from './types.js';

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

/** `headers` (names lower-cased) or `queryParams` (names kept) of a match: Exact or RegularExpression (RE2). */
export function readValueMatches(f: Fields, field: string, lower: boolean, schema: Schema = VALUE_MATCH): HeaderCondition[] {
  const out: HeaderCondition[] = [];
  // The CRDs: header values up to 4096 characters, query parameter values up to 1024.
  const maxValue = field === 'headers' ? 4096 : 1024;
  const seen = new Set<string>();
  const items = f.objects(field, schema);
  if (items.length > 16) f.ctx.error('too-many', f.at(field), `at most 16 ${field}, not ${items.length}`);
  for (const h of items) {
    const raw = h.string('name') ?? '';
    const value = h.string('value');
    const type = h.string('type') ?? 'Exact';
    if (!HEADER_NAME.test(raw))
      h.ctx.error('invalid-header-name', h.at('name'), `"${raw}" is not a valid ${field === 'headers' ? 'header' : 'query parameter'} name`);
    if (value === undefined) h.ctx.error('missing-field', h.at('value'), 'value is required');
    else if (value.length === 0) h.ctx.error('invalid-value', h.at('value'), 'value must not be empty');
    else if (value.length > maxValue) h.ctx.error('too-long', h.at('value'), `value is longer than ${maxValue} characters`);
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

/** A rule's skeleton, with its `name` (a DNS label) read. */
export function newRule(r: Fields, index: number): RuleSpec {
  const rule: RuleSpec = { index, path: [...r.path], matches: [], backends: [], mirrors: [], headers: emptyHeaders(), retries: DEFAULT_RETRIES };
  const name = r.string('name');
  if (name !== undefined) {
    if (!SECTION_NAME.test(name)) r.ctx.error('invalid-name', r.at('name'), `rule name "${name}" must be a DNS label`);
    rule.name = name;
  }
  return rule;
}

/**
 * A rule's skeleton (`newRule`), its `matches` (at most 64) read by `readMatch`, its filters and backendRefs; returns
 * it with how many backendRefs were listed.
 */
export function readRuleCommon(
  r: Fields,
  index: number,
  namespace: string,
  matchSchema: Schema,
  readMatch: (m: Fields, index: number) => MatchSpec,
  schemas: FilterSchemas,
): { rule: RuleSpec; backends: number } {
  const rule = newRule(r, index);
  const matches = r.objects('matches', matchSchema);
  if (matches.length > 64) r.ctx.error('too-many', r.at('matches'), `at most 64 matches, not ${matches.length}`);
  rule.matches = matches.map((m, i) => readMatch(m, i));
  readFilters(r.objects('filters', schemas.filter), rule, namespace, schemas);
  return { rule, backends: readBackendRefs(r, rule, namespace, schemas) };
}

/** `backendRefs` with their weights and backend-level filters; returns how many were listed. */
function readBackendRefs(r: Fields, rule: RuleSpec, namespace: string, schemas: FilterSchemas): number {
  const backends = r.objects('backendRefs', schemas.backendRef);
  if (backends.length > 16) r.ctx.error('too-many', r.at('backendRefs'), `at most 16 backendRefs, not ${backends.length}`);
  for (const b of backends) {
    const ref = readBackend(b, namespace);
    const weight = b.int('weight', 0, 1_000_000) ?? 1;
    const headers = emptyHeaders();
    readFilters(b.objects('filters', schemas.filter), rule, namespace, schemas, headers);
    if (ref) rule.backends.push({ ...ref, weight, headers } satisfies WeightedBackendSpec);
  }
  return backends.length;
}

/**
 * A route's spec: parentRefs, hostnames, and its rules read by `readRule`. Without rules the CRD defaults to one
 * rule matching every request with no backend: it answers an error.
 */
export function readRoute(
  res: RawResource,
  ctx: ResourceContext,
  kind: RouteKind,
  schema: Schema,
  ruleSchema: Schema,
  readRule: (r: Fields, index: number) => RuleSpec,
  /** The CRD's bound on `hostnames`: 16 for HTTPRoute and GRPCRoute, 1024 for TLSRoute. */
  maxHostnames = 16,
): RouteSpec {
  const s = new Fields(ctx, (res.object.spec as Record<string, unknown>) ?? {}, ['spec'], schema);
  const parents = s.objects('parentRefs', PARENT_REF);
  if (parents.length > 32) ctx.error('too-many', s.at('parentRefs'), `at most 32 parentRefs, not ${parents.length}`);
  const parentRefs = parents.flatMap((p) => readParentRef(p, res.namespace) ?? []);
  if (parentRefs.length === 0 && !ctx.failed) ctx.warn('no-parents', s.at('parentRefs'), `this ${kind} has no parentRefs: it gets no traffic`);
  const hostnames = s.strings('hostnames').map((h, i) => {
    if (!HOSTNAME.test(h))
      ctx.error(
        'invalid-hostname',
        [...s.at('hostnames'), i],
        `"${h}" is not a valid hostname (lower-case DNS name, optionally "*." first; no IP address, no port)`,
      );
    return h;
  });
  if (hostnames.length > maxHostnames) ctx.error('too-many', s.at('hostnames'), `at most ${maxHostnames} hostnames, not ${hostnames.length}`);
  const items = s.objects('rules', ruleSchema);
  if (items.length > 16) ctx.error('too-many', s.at('rules'), `at most 16 rules, not ${items.length}`);
  const rules = items.map((r, i) => readRule(r, i));
  // The CRD: "While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a
  // route must be less than 128"; rule names "MUST be unique within a Route".
  const matches = rules.reduce((n, r) => n + r.matches.length, 0);
  if (matches > 128) ctx.error('too-many', s.at('rules'), `at most 128 matches across all rules, not ${matches}`);
  const named = new Map<string, number>();
  for (const r of rules) {
    if (r.name === undefined) continue;
    const first = named.get(r.name);
    if (first !== undefined) ctx.error('duplicate-rule-name', [...r.path, 'name'], `rule name "${r.name}" is also rules[${first}]'s`);
    else named.set(r.name, r.index);
  }
  const created = createdAt(res);
  if (created !== undefined && Number.isNaN(created)) ctx.error('wrong-type', ['metadata', 'creationTimestamp'], 'creationTimestamp must be an RFC 3339 time');
  return {
    kind,
    ref: `${kind} ${res.namespace}/${res.name}`,
    namespace: res.namespace,
    name: res.name,
    generation: generation(res),
    ctx,
    created: created === undefined || Number.isNaN(created) ? Number.POSITIVE_INFINITY : created,
    hostnames,
    parentRefs,
    rules: rules.length > 0 ? rules : [defaultRule()],
  };
}

function defaultRule(): RuleSpec {
  return { index: 0, path: ['spec'], matches: [], backends: [], mirrors: [], headers: emptyHeaders(), retries: DEFAULT_RETRIES };
}
