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
