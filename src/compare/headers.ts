// Header comparison: per-name differences after the ignore set, with values normalized where form is not meaning.
import { clip, REDACTED } from './render.js';
import type { CompiledRules } from './rules.js';
import { classifyChange } from './time-like.js';
import type { FieldDiff } from './types.js';

type Headers = Record<string, string | string[] | undefined>;

export function diffHeaders(a: Headers, b: Headers, rules: CompiledRules, out: Map<string, FieldDiff>): void {
  const check = rules.hasIgnoredFields;
  for (const [rawName, va] of Object.entries(a)) {
    if (va === undefined) continue;
    const name = rawName.toLowerCase();
    if (rules.isIgnoredHeader(name)) continue;
    const field = `header.${name}`;
    if (check && rules.isIgnoredField(field)) continue;
    const vb = lookup(b, rawName, name);
    const na = normalize(name, va);
    if (vb === undefined) {
      out.set(field, { field, kind: 'header_missing', left: render(name, na, rules) });
      continue;
    }
    const nb = normalize(name, vb);
    if (na === nb) continue;
    const kind = classifyChange(na, nb, rules.timeToleranceMs);
    out.set(field, { field, kind: kind === 'value_changed' ? 'header_changed' : kind, left: render(name, na, rules), right: render(name, nb, rules) });
  }
  for (const [rawName, vb] of Object.entries(b)) {
    if (vb === undefined) continue;
    const name = rawName.toLowerCase();
    if (lookup(a, rawName, name) !== undefined || rules.isIgnoredHeader(name)) continue;
    const field = `header.${name}`;
    if (check && rules.isIgnoredField(field)) continue;
    out.set(field, { field, kind: 'header_extra', right: render(name, normalize(name, vb), rules) });
  }
}

/** Names are lower-cased by capture; a producer that did not is tolerated at the cost of a scan. */
function lookup(h: Headers, rawName: string, name: string): string | string[] | undefined {
  const v = h[rawName] ?? h[name];
  if (v !== undefined || rawName === name) return v;
  for (const [k, x] of Object.entries(h)) if (k.toLowerCase() === name) return x;
  return undefined;
}

function render(name: string, value: string, rules: CompiledRules): string {
  return rules.isRedactedHeader(name) ? REDACTED : clip(value);
}

function normalize(name: string, v: string | string[]): string {
  if (name === 'set-cookie') return maskCookies(Array.isArray(v) ? v : [v]);
  const s = Array.isArray(v) ? v.map((x) => x.trim()).join(', ') : v.trim();
  // `application/json;charset=UTF-8` and `application/json; charset=utf-8` say the same thing.
  if (name === 'content-type') return s.toLowerCase().replace(/\s*;\s*/g, '; ');
  return s;
}

/**
 * Set-Cookie compared by what it sets, not by value: cookie names and attributes, values masked, `Expires`
 * (a clock) dropped, sorted. A rotated session id is noise; a dropped cookie or a lost `Secure` is not.
 */
function maskCookies(cookies: string[]): string {
  return cookies
    .map((c) => {
      const parts = c.split(';').map((p) => p.trim());
      const first = parts[0] ?? '';
      const eq = first.indexOf('=');
      const attrs = parts
        .slice(1)
        .filter((p) => p !== '' && !/^expires=/i.test(p))
        .map((p) => {
          const i = p.indexOf('=');
          return i < 0 ? p.toLowerCase() : `${p.slice(0, i).trim().toLowerCase()}=${p.slice(i + 1).trim()}`;
        })
        .sort();
      return [`${eq < 0 ? first : first.slice(0, eq)}=…`, ...attrs].join('; ');
    })
    .sort()
    .join('\n');
}
