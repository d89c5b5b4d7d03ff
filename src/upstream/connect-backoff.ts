// Default-on backoff for endpoints that refuse connections (or time out 5 requests in a row), so a dead or
// hung upstream is not sent a request per request. Not an Envoy feature (Envoy dials and fails each time
// unless outlier detection is set); it exists because the shadow manager would otherwise pay one failed
// connect, or one connection held until its timeout, for every mirrored request.

export interface ConnectBackoffOptions {
  /** Backoff after the first connect failure; doubles with each failure in a row. */
  baseMs: number;
  /** Cap for the doubling. */
  maxMs: number;
}

export const DEFAULT_CONNECT_BACKOFF: ConnectBackoffOptions = Object.freeze({ baseMs: 1_000, maxMs: 30_000 });

export function checkConnectBackoff(o: Partial<ConnectBackoffOptions> | false | undefined): ConnectBackoffOptions | undefined {
  if (o === false) return undefined;
  const baseMs = o?.baseMs ?? DEFAULT_CONNECT_BACKOFF.baseMs;
  const maxMs = o?.maxMs ?? Math.max(DEFAULT_CONNECT_BACKOFF.maxMs, baseMs);
  if (!Number.isFinite(baseMs) || baseMs <= 0) throw new RangeError(`connectBackoff.baseMs must be > 0, got ${baseMs}`);
  if (!Number.isFinite(maxMs) || maxMs < baseMs) {
    throw new RangeError(`connectBackoff.maxMs must be >= baseMs (${baseMs}), got ${maxMs}`);
  }
  return Object.freeze({ baseMs, maxMs });
}

/** Backoff after `failures` connect failures in a row (failures >= 1). */
export function backoffDelay(o: ConnectBackoffOptions, failures: number): number {
  // 2^30 already exceeds any sane cap; clamping the exponent keeps the arithmetic finite.
  return Math.min(o.maxMs, o.baseMs * 2 ** Math.min(failures - 1, 30));
}
