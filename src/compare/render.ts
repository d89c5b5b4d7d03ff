// Short, redacted renderings of differing values: what a sample shows, never a whole body or a credential.
import { REDACTED } from './redaction.js';
import type { CompiledRules } from './rules.js';

/** Longest rendering kept for a sample (characters). */
export const MAX_RENDERING = 200;
export { REDACTED };

export function clip(s: string): string {
  return s.length <= MAX_RENDERING ? s : `${s.slice(0, MAX_RENDERING - 1)}…`;
}

/** The folded path of an object key; keys that would be ambiguous in dotted form are bracketed. */
const PLAIN_KEY = /^[^.[\]"]+$/;
export function keyPath(path: string, key: string): string {
  return PLAIN_KEY.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/**
 * A JSON value rendered compactly, stopping once the bound is reached (a 5 MB array costs no more than a
 * short one), with redacted descendants replaced, so a diff at `body.user` does not leak `body.user.password`.
 */
export function renderJson(value: unknown, path: string, rules: CompiledRules): string {
  if (rules.hasRedactedFields && rules.isRedactedField(path)) return REDACTED;
  const out: string[] = [];
  const st = { len: 0 };
  write(value, path, rules, out, st);
  return clip(out.join(''));
}

function push(out: string[], st: { len: number }, s: string): void {
  out.push(s);
  st.len += s.length;
}

function write(v: unknown, path: string, rules: CompiledRules, out: string[], st: { len: number }): void {
  if (st.len > MAX_RENDERING) return;
  if (Array.isArray(v)) {
    push(out, st, '[');
    const child = `${path}[*]`;
    const redacted = rules.hasRedactedFields && rules.isRedactedField(child);
    for (let i = 0; i < v.length && st.len <= MAX_RENDERING; i++) {
      if (i > 0) push(out, st, ',');
      if (redacted) push(out, st, `"${REDACTED}"`);
      else write(v[i], child, rules, out, st);
    }
    push(out, st, ']');
    return;
  }
  if (v !== null && typeof v === 'object') {
    push(out, st, '{');
    let first = true;
    for (const [k, x] of Object.entries(v)) {
      if (st.len > MAX_RENDERING) break;
      if (!first) push(out, st, ',');
      first = false;
      push(out, st, `${JSON.stringify(k)}:`);
      const child = keyPath(path, k);
      if (rules.hasRedactedFields && rules.isRedactedField(child)) push(out, st, `"${REDACTED}"`);
      else write(x, child, rules, out, st);
    }
    push(out, st, '}');
    return;
  }
  const s = JSON.stringify(v) ?? String(v);
  push(out, st, s.length > MAX_RENDERING ? s.slice(0, MAX_RENDERING + 1) : s);
}

/** Two texts rendered around their first difference, so the sample shows where they part. */
export function renderTextPair(a: string, b: string): { left: string; right: string } {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  const start = Math.max(0, i - 40);
  const cut = (s: string) => clip(start > 0 ? `…${s.slice(start, start + MAX_RENDERING)}` : s.slice(0, MAX_RENDERING + 1));
  return { left: cut(a), right: cut(b) };
}
