// Fixed log-scale latency buckets: tiny, mergeable by addition, and p50/p99 within ~2.5% of the truth.

/** Each bucket is 5% wider than the previous, so the geometric middle is within √1.05 − 1 ≈ 2.5% of any value in it. */
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);
/** Bucket 0 holds everything below 10 µs (including 0); bucket 1 starts here. */
const MIN_MS = 0.01;
/** The last bucket holds everything from ~10^7 ms (2.8 h) up; nothing real is slower. */
export const MAX_BUCKET = Math.ceil(Math.log(1e7 / MIN_MS) / LOG_GROWTH) + 1;

/** The bucket of a latency, or -1 when it is not a usable number (negative, NaN). */
export function bucketOf(ms: number): number {
  if (!(ms >= 0)) return -1;
  if (ms < MIN_MS) return 0;
  const b = Math.floor(Math.log(ms / MIN_MS) / LOG_GROWTH) + 1;
  return Math.min(b, MAX_BUCKET);
}

/** The value a bucket stands for: the geometric middle of its bounds (half of MIN_MS for bucket 0). */
export function bucketValue(bucket: number): number {
  if (bucket <= 0) return MIN_MS / 2;
  return MIN_MS * GROWTH ** (bucket - 1) * Math.sqrt(GROWTH);
}

/**
 * Nearest-rank quantile over `[bucket, count]` pairs sorted by bucket ascending.
 * Rounded to 0.01 ms: more digits would only suggest a precision the buckets do not have.
 */
export function quantile(sorted: ReadonlyArray<readonly [number, number]>, total: number, q: number): number {
  if (total <= 0) return 0;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [bucket, count] of sorted) {
    seen += count;
    if (seen >= rank) return Math.round(bucketValue(bucket) * 100) / 100;
  }
  const last = sorted[sorted.length - 1];
  return last ? Math.round(bucketValue(last[0]) * 100) / 100 : 0;
}

/** Bucket counts as a blob: uint32 little-endian per bucket, from bucket 0 to the last non-empty one. */
export function encodeCounts(counts: ArrayLike<number>): Buffer {
  let last = counts.length - 1;
  while (last >= 0 && !counts[last]) last--;
  const out = Buffer.alloc((last + 1) * 4);
  for (let i = 0; i <= last; i++) out.writeUInt32LE(Math.min(0xffffffff, counts[i] ?? 0), i * 4);
  return out;
}

/** The blob's counts added into `into` (grown as needed). */
export function addCounts(into: number[], blob: Uint8Array | null | undefined): number[] {
  if (!blob) return into;
  const b = Buffer.isBuffer(blob) ? blob : Buffer.from(blob);
  for (let i = 0; i + 4 <= b.length; i += 4) {
    const n = b.readUInt32LE(i);
    if (n !== 0) into[i / 4] = (into[i / 4] ?? 0) + n;
  }
  return into;
}

/** Nearest-rank quantiles of dense bucket counts, as quantile() computes them. */
export function denseSummary(counts: readonly (number | undefined)[]): { count: number; p50: number; p99: number } {
  let total = 0;
  for (const n of counts) total += n ?? 0;
  if (total === 0) return { count: 0, p50: 0, p99: 0 };
  const pairs: [number, number][] = [];
  for (let i = 0; i < counts.length; i++) if (counts[i]) pairs.push([i, counts[i]!]);
  return { count: total, p50: quantile(pairs, total, 0.5), p99: quantile(pairs, total, 0.99) };
}
