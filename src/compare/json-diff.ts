// Structural JSON diff at folded paths (`body.items[*].price`): typed differences, one per field per comparison.
import { keyPath, renderJson } from './render.js';
import type { CompiledRules } from './rules.js';
import { classifyChange, isUncounted } from './time-like.js';
import type { DiffKind, FieldDiff } from './types.js';

type JsonType = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object';

function typeOf(v: unknown): JsonType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  const t = typeof v;
  return t === 'object' ? 'object' : t === 'number' ? 'number' : t === 'boolean' ? 'boolean' : 'string';
}

type Out = Map<string, FieldDiff>;

function add(out: Out, field: string, kind: DiffKind, a: unknown, b: unknown, rules: CompiledRules, hasA = true, hasB = true): void {
  // The first difference seen at a field stands for the exchange: it "differs at this field" once. A
  // within-tolerance time there gives way to a counted difference (items[0].at in tolerance, items[1].at not).
  const had = out.get(field);
  if (had !== undefined && (!isUncounted(had.kind) || isUncounted(kind))) return;
  const d: FieldDiff = { field, kind };
  if (hasA) d.left = renderJson(a, field, rules);
  if (hasB) d.right = renderJson(b, field, rules);
  out.set(field, d);
}

/**
 * Differences between two parsed JSON values, added to `out` keyed by folded field.
 * - objects: keys only in `a` are field_missing, only in `b` field_extra (a `null` value is present);
 * - arrays of different lengths: one array_length at the array, elements not compared (an insertion would
 *   otherwise shift every later element into a spurious difference);
 * - arrays of equal length: index-aligned, unless they hold the same multiset of elements in another order,
 *   which is one array_order at the array (nothing at all for rules.unorderedArrays);
 * - ignored paths (and their subtrees) are skipped, in comparisons and in the multiset test alike.
 */
export function diffJson(a: unknown, b: unknown, path: string, rules: CompiledRules, out: Out): void {
  if (a === b) return;
  const ta = typeOf(a);
  const tb = typeOf(b);
  if (ta !== tb) add(out, path, 'type_changed', a, b, rules);
  else if (ta === 'object') diffObjects(a as Record<string, unknown>, b as Record<string, unknown>, path, rules, out);
  else if (ta === 'array') diffArrays(a as unknown[], b as unknown[], path, rules, out);
  // Primitives of one type that are not === (numbers from JSON.parse: 1 and 1.0 are already equal).
  else add(out, path, classifyChange(a, b, rules.timeToleranceMs), a, b, rules);
}

function diffObjects(a: Record<string, unknown>, b: Record<string, unknown>, path: string, rules: CompiledRules, out: Out): void {
  const check = rules.hasIgnoredFields;
  for (const k of Object.keys(a)) {
    const child = keyPath(path, k);
    if (check && rules.isIgnoredField(child)) continue;
    if (!Object.hasOwn(b, k)) add(out, child, 'field_missing', a[k], undefined, rules, true, false);
    else diffJson(a[k], b[k], child, rules, out);
  }
  for (const k of Object.keys(b)) {
    if (Object.hasOwn(a, k)) continue;
    const child = keyPath(path, k);
    if (check && rules.isIgnoredField(child)) continue;
    add(out, child, 'field_extra', undefined, b[k], rules, false, true);
  }
}

function diffArrays(a: unknown[], b: unknown[], path: string, rules: CompiledRules, out: Out): void {
  if (a.length !== b.length) {
    add(out, path, 'array_length', a, b, rules);
    return;
  }
  const child = `${path}[*]`;
  if (rules.hasIgnoredFields && rules.isIgnoredField(child)) return;
  // Index-aligned first: equal arrays cost one walk and no canonical strings. Elements equal at their index
  // cancel out of a permutation test, so only the differing ones are canonicalized.
  const differing: number[] = [];
  for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i], child, rules)) differing.push(i);
  if (differing.length === 0) return;
  if (differing.length > 1 && isPermutation(differing, a, b, child, rules)) {
    if (!rules.isUnorderedArray(path)) add(out, path, 'array_order', a, b, rules);
    return;
  }
  for (const i of differing) diffJson(a[i], b[i], child, rules, out);
}

/** Deep equality as diffJson sees it (ignored paths skipped, unordered arrays as multisets), without rendering. */
function sameJson(a: unknown, b: unknown, path: string, rules: CompiledRules): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  const aa = Array.isArray(a);
  if (aa !== Array.isArray(b)) return false;
  if (aa) {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    const child = `${path}[*]`;
    if (rules.hasIgnoredFields && rules.isIgnoredField(child)) return true;
    if (rules.isUnorderedArray(path)) return canonical(x, path, rules) === canonical(y, path, rules);
    for (let i = 0; i < x.length; i++) if (!sameJson(x[i], y[i], child, rules)) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const check = rules.hasIgnoredFields;
  for (const k of Object.keys(x)) {
    const child = keyPath(path, k);
    if (check && rules.isIgnoredField(child)) continue;
    if (!Object.hasOwn(y, k) || !sameJson(x[k], y[k], child, rules)) return false;
  }
  for (const k of Object.keys(y)) {
    if (Object.hasOwn(x, k)) continue;
    if (!(check && rules.isIgnoredField(keyPath(path, k)))) return false;
  }
  return true;
}

function isPermutation(indices: number[], a: unknown[], b: unknown[], child: string, rules: CompiledRules): boolean {
  const counts = new Map<string, number>();
  for (const i of indices) {
    const k = canonical(a[i], child, rules);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  for (const i of indices) {
    const k = canonical(b[i], child, rules);
    const n = counts.get(k);
    if (n === undefined || n === 0) return false;
    counts.set(k, n - 1);
  }
  return true;
}

/** A string equal for values the diff considers equal: sorted keys, ignored paths left out, unordered arrays sorted. */
export function canonical(v: unknown, path: string, rules: CompiledRules): string {
  if (Array.isArray(v)) {
    const child = `${path}[*]`;
    if (rules.hasIgnoredFields && rules.isIgnoredField(child)) return `[#${v.length}]`;
    const parts = v.map((x) => canonical(x, child, rules));
    if (rules.isUnorderedArray(path)) parts.sort();
    return `[${parts.join(',')}]`;
  }
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort();
    const parts: string[] = [];
    for (const k of keys) {
      const child = keyPath(path, k);
      if (rules.hasIgnoredFields && rules.isIgnoredField(child)) continue;
      parts.push(`${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k], child, rules)}`);
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}
