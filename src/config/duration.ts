// Durations as Istio accepts them: protobuf JSON ("1.5s") and Go's time.ParseDuration forms ("300ms", "1m30s").

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

/**
 * Whole nanoseconds (protobuf's Duration resolution), or undefined when the text is not a duration. Each part is
 * rounded to the nanosecond, so "0.1s" is exactly 100000000 and a sub-millisecond remainder is visible.
 */
export function parseDurationNs(text: string): number | undefined {
  const s = text.trim();
  if (s === '0') return 0;
  if (s === '') return undefined;
  let pos = 0;
  let total = 0;
  while (pos < s.length) {
    PART.lastIndex = pos;
    const m = PART.exec(s);
    if (!m) return undefined;
    total += Math.round(Number(m[1]) * (UNIT_NS[m[2]!] ?? Number.NaN));
    pos = PART.lastIndex;
  }
  return Number.isFinite(total) ? total : undefined;
}

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDurationMs(text: string): number | undefined {
  const ns = parseDurationNs(text);
  return ns === undefined ? undefined : ns / 1e6;
}
