// CompareStore options: defaults and checks, done once at open, never per batch.
import type { Synchronous } from './schema.js';

export interface CompareStoreOptions {
  /** Sample pairs kept per (endpoint, field): a uniform reservoir over all its candidate diffs. Default 20. */
  maxSamplesPerField?: number;
  /** Rows of the per-exchange table kept (the newest). Default 100 000. */
  maxExchanges?: number;
  /** Bound on the database size (page_count × page_size). Default 256 MiB. */
  maxBytes?: number;
  /** Open an existing store for reading only (the verdict command, next to a running writer). */
  readonly?: boolean;
  /**
   * `NORMAL` (default): a process crash loses nothing committed; an OS crash or power cut may lose the
   * last transactions. `FULL`: nothing committed is lost even then, at an fsync per batch.
   */
  synchronous?: Synchronous;
  /** How long a statement waits for another connection's lock before failing with SQLITE_BUSY. Default 5000. */
  busyTimeoutMs?: number;
  /** Batches between checks of the byte bound (two PRAGMA reads). Default 16. */
  checkBytesEvery?: number;
  /** Randomness for the sample reservoir, in [0, 1); passed in so tests can fix it. Default Math.random. */
  random?: () => number;
  /** Distinct endpoints per run; beyond, an `other` endpoint. Default 1000 (compare settings override). */
  maxEndpointsPerRun?: number;
  /** Distinct fields per endpoint; beyond, an `other` field. Default 200 (compare settings override). */
  maxFieldsPerEndpoint?: number;
  /** Runs kept; older ended runs are deleted whole. Default 200. */
  maxRuns?: number;
  /** SQLite `max_page_count`: writes beyond it fail as on a full disk (tests use it to fill the "disk"). */
  maxPageCount?: number;
}

export interface ResolvedOptions {
  maxSamplesPerField: number;
  maxExchanges: number;
  maxBytes: number;
  readonly: boolean;
  synchronous: Synchronous;
  busyTimeoutMs: number;
  checkBytesEvery: number;
  random: () => number;
  maxEndpointsPerRun: number;
  maxFieldsPerEndpoint: number;
  maxRuns: number;
  maxPageCount: number | undefined;
}

function count(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`CompareStore option ${name} must be an integer ≥ ${min}, got ${value}`);
  }
  return value;
}

export function resolveOptions(opts: CompareStoreOptions = {}): ResolvedOptions {
  const synchronous = opts.synchronous ?? 'NORMAL';
  if (synchronous !== 'NORMAL' && synchronous !== 'FULL') {
    throw new RangeError(`CompareStore option synchronous must be 'NORMAL' or 'FULL', got ${String(synchronous)}`);
  }
  return {
    maxSamplesPerField: count('maxSamplesPerField', opts.maxSamplesPerField, 20, 0),
    maxExchanges: count('maxExchanges', opts.maxExchanges, 100_000, 0),
    maxBytes: count('maxBytes', opts.maxBytes, 256 * 1024 * 1024, 64 * 1024),
    readonly: opts.readonly ?? false,
    synchronous,
    busyTimeoutMs: count('busyTimeoutMs', opts.busyTimeoutMs, 5000, 0),
    checkBytesEvery: count('checkBytesEvery', opts.checkBytesEvery, 16, 1),
    random: opts.random ?? Math.random,
    maxEndpointsPerRun: count('maxEndpointsPerRun', opts.maxEndpointsPerRun, 1_000, 1),
    maxFieldsPerEndpoint: count('maxFieldsPerEndpoint', opts.maxFieldsPerEndpoint, 200, 1),
    maxRuns: count('maxRuns', opts.maxRuns, 200, 1),
    maxPageCount: opts.maxPageCount === undefined ? undefined : count('maxPageCount', opts.maxPageCount, 0, 1),
  };
}
