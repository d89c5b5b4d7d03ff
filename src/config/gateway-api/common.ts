// Checks shared by the Gateway API readers: names, hostnames, durations, metadata.
import { isPlainObject } from '../fields.js';
import type { RawResource } from '../parse.js';

/** RFC 1123 host name, optionally with a leading `*.` label (Gateway API `Hostname`). */
export const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Gateway API `SectionName` and DNS labels. */
export const SECTION_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** RFC 7230 token, as the Gateway API `HTTPHeaderName`. */
export const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };

/** Gateway API `Duration` (GEP-2257): up to four `<1–5 digits><h|m|s|ms>` parts; undefined when invalid. */
export function parseGatewayDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/([0-9]+)(ms|h|m|s)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}

export function generation(res: RawResource): number {
  const meta = isPlainObject(res.object.metadata) ? res.object.metadata : {};
  return typeof meta.generation === 'number' && Number.isInteger(meta.generation) ? meta.generation : 1;
}

/** metadata.creationTimestamp in ms; undefined when absent, NaN when unreadable. */
export function createdAt(res: RawResource): number | undefined {
  const meta = isPlainObject(res.object.metadata) ? res.object.metadata : {};
  const t = meta.creationTimestamp;
  if (t === undefined || t === null) return undefined;
  return typeof t === 'string' ? Date.parse(t) : Number.NaN;
}

/** Escapes a literal for an RE2 pattern. */
export function re2Quote(s: string): string {
  return s.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
}
