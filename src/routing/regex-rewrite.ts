// Envoy regex_rewrite (Istio uriRegexRewrite): RE2 GlobalReplace with `\N` group references.

import { compileRegex, type Regex } from './regex.js';

/** A literal piece of the substitution, or the number of a capture group to insert. */
type Part = string | number;

export interface RegexRewrite {
  readonly regex: Regex;
  readonly parts: readonly Part[];
}

/**
 * Parses a substitution as RE2::Rewrite reads it: `\0`..`\9` insert a group (`\0` = whole match),
 * `\\` is a backslash, any other escape is an error, as is a group the pattern does not have.
 */
export function compileRegexRewrite(pattern: string, substitution: string): RegexRewrite {
  const regex = compileRegex(pattern);
  const groups = regex.groupCount();
  const parts: Part[] = [];
  let lit = '';
  for (let i = 0; i < substitution.length; i++) {
    const ch = substitution[i]!;
    if (ch !== '\\') {
      lit += ch;
      continue;
    }
    const next = substitution[++i];
    if (next === '\\') {
      lit += '\\';
    } else if (next !== undefined && next >= '0' && next <= '9') {
      const n = next.charCodeAt(0) - 48;
      if (n > groups) {
        throw new Error(`rewrite ${JSON.stringify(substitution)} uses \\${n} but the regex has ${groups} group(s)`);
      }
      if (lit) parts.push(lit);
      lit = '';
      parts.push(n);
    } else {
      throw new Error(`rewrite ${JSON.stringify(substitution)} has an invalid escape at ${i - 1}`);
    }
  }
  if (lit) parts.push(lit);
  return { regex, parts };
}

function codeUnitsAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1;
}

/**
 * Replaces every non-overlapping match, scanning left to right as RE2::GlobalReplace does. The one
 * subtle rule kept from RE2: an empty match right where the previous match ended is skipped (JS's
 * String#replace would take it), so `a*` over `baaac` gives `-b-c-`, not `-b--c-`.
 */
export function applyRegexRewrite(rw: RegexRewrite, input: string): string {
  const m = rw.regex.matcher(input);
  const end = input.length;
  let out = '';
  let p = 0;
  let lastEnd = -1;
  let count = 0;
  while (p <= end && m.find(p)) {
    const s = m.start();
    const e = m.end();
    if (s === e && s === lastEnd) {
      if (p < end) {
        const step = codeUnitsAt(input, p);
        out += input.slice(p, p + step);
        p += step;
      } else {
        p++;
      }
      continue;
    }
    if (p < s) out += input.slice(p, s);
    for (const part of rw.parts) out += typeof part === 'string' ? part : (m.group(part) ?? '');
    p = e;
    lastEnd = e;
    count++;
  }
  if (count === 0) return input;
  if (p < end) out += input.slice(p);
  return out;
}
