// Time-like and id-like values: how two differing primitives are classified before they count as a difference.
import type { DiffKind } from './types.js';

/** RFC 3339 / ISO 8601 date-time (a date alone is a day, not a clock reading: not time-like). */
const ISO = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?$/;
/** RFC 9110 §5.6.7 IMF-fixdate, and the obsolete RFC 850 and asctime forms Date.parse also reads. */
const HTTP_DATE =
  /^(?:[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT|[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4})$/;
const DIGITS = /^\d{10}(?:\d{3})?(?:\.\d+)?$/;

/** Epoch seconds 2001-09-09 .. 2103-03-06, milliseconds in the same span: other numbers are counts, not clocks. */
const SEC_MIN = 1e9;
const SEC_MAX = 4.2e9;

/** Milliseconds since the epoch and the form it was read from, or undefined when the value is not time-like. */
export function timeOf(v: unknown): { ms: number; form: string } | undefined {
  if (typeof v === 'number') return epoch(v);
  if (typeof v !== 'string' || v.length < 10 || v.length > 40) return undefined;
  if (DIGITS.test(v)) return epoch(Number(v));
  if (ISO.test(v) || HTTP_DATE.test(v)) {
    const ms = Date.parse(v.replace(',', '.'));
    return Number.isNaN(ms) ? undefined : { ms, form: ISO.test(v) ? 'rfc3339' : 'http-date' };
  }
  return undefined;
}

function epoch(n: number): { ms: number; form: string } | undefined {
  if (!Number.isFinite(n)) return undefined;
  if (n >= SEC_MIN && n <= SEC_MAX) return { ms: n * 1000, form: 'epoch-s' };
  if (n >= SEC_MIN * 1000 && n <= SEC_MAX * 1000) return { ms: n, form: 'epoch-ms' };
  return undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = /^[0-9a-f]{16,}$/i;
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const TOKEN = /^[A-Za-z0-9_-]{16,}$/;

/** The shape of a generated id (`uuid`, `hex`, `ulid`, `token`), or undefined for anything a person would write. */
export function idShape(v: string): string | undefined {
  if (v.length < 16 || v.length > 256) return undefined;
  if (UUID.test(v)) return 'uuid';
  if (HEX.test(v)) return `hex${v.length}`;
  if (ULID.test(v)) return 'ulid';
  if (TOKEN.test(v) && /[A-Za-z]/.test(v) && /\d/.test(v)) return `token${v.length}`;
  return undefined;
}

/**
 * The kind of a difference between two primitives that are not equal:
 * - both time-like in one form (RFC 3339, HTTP date, epoch seconds, epoch milliseconds): within the tolerance
 *   they are the same moment read at two times (`time_within_tolerance`, never counted), else `time_changed`;
 * - both ids of one shape: `id_changed` (still a difference: Diffy's noise rule decides whether it is noise);
 * - anything else: `value_changed`.
 */
export function classifyChange(a: unknown, b: unknown, toleranceMs: number): DiffKind {
  const ta = timeOf(a);
  if (ta !== undefined) {
    const tb = timeOf(b);
    if (tb !== undefined && tb.form === ta.form) return Math.abs(ta.ms - tb.ms) <= toleranceMs ? 'time_within_tolerance' : 'time_changed';
  }
  if (typeof a === 'string' && typeof b === 'string') {
    const sa = idShape(a);
    if (sa !== undefined && sa === idShape(b)) return 'id_changed';
  }
  return 'value_changed';
}

/** Kinds that are reported but do not count as a difference. */
export function isUncounted(kind: DiffKind): boolean {
  return kind === 'time_within_tolerance';
}
