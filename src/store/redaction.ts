// Redaction of sample values before they are written: defence in depth behind the comparer's own.
import type { FieldDiff } from '../compare/types.js';

export const REDACTED = '[redacted]';

/** Credentials are never stored, whatever the configuration says. */
export const ALWAYS_REDACTED_HEADERS: readonly string[] = Object.freeze([
  'authorization',
  'cookie',
  'set-cookie',
  'proxy-authorization',
]);

export interface RedactionRules {
  /** Header names (any case) whose values are never stored. */
  headers: string[];
  /** Folded JSON paths (`body.user.password`, `body.items[*].token`); `*` matches one segment. */
  fields: string[];
}

/** `body.items[*].price` → `['body', 'items', '[*]', 'price']`: an array level is a segment of its own. */
export function segments(path: string): string[] {
  return path.replaceAll('[*]', '.[*]').split('.').filter((s) => s.length > 0);
}

/**
 * Whether one of two paths is a prefix of the other, segment by segment (`*` in the pattern matches one segment).
 * Both directions redact: a diff below a redacted path obviously shows its value, and a diff above it
 * (`body.user` changed type) renders the whole subtree, redacted value included.
 */
function overlaps(pattern: readonly string[], field: readonly string[]): boolean {
  const n = Math.min(pattern.length, field.length);
  for (let i = 0; i < n; i++) {
    const p = pattern[i];
    if (p !== '*' && p !== field[i]) return false;
  }
  return true;
}

/** Compiled once by setRedaction, applied to every diff that becomes a sample. */
export class Redactor {
  private readonly headers: ReadonlySet<string>;
  private readonly patterns: readonly (readonly string[])[];

  constructor(rules: RedactionRules = { headers: [], fields: [] }) {
    this.headers = new Set([...ALWAYS_REDACTED_HEADERS, ...rules.headers.map((h) => h.trim().toLowerCase())]);
    this.patterns = rules.fields.map(segments).filter((p) => p.length > 0);
  }

  /** True when samples of this field must not keep their values. */
  redacts(field: string): boolean {
    if (field.startsWith('header.')) {
      if (this.headers.has(field.slice('header.'.length).toLowerCase())) return true;
    }
    if (this.patterns.length === 0) return false;
    const segs = segments(field);
    return this.patterns.some((p) => overlaps(p, segs));
  }

  /** The diff's sample values as they may be stored. */
  apply(diff: FieldDiff): { left: string | undefined; right: string | undefined } {
    if (this.redacts(diff.field)) {
      return { left: diff.left === undefined ? undefined : REDACTED, right: diff.right === undefined ? undefined : REDACTED };
    }
    return { left: diff.left, right: diff.right };
  }
}
