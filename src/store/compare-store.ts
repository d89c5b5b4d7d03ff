// CompareStore: comparison results aggregated per run into SQLite (WAL), durable across process crashes.
import type Database from 'better-sqlite3';
import type { ComparisonResult, RunIdentity, SampleDoc } from '../compare/index.js';
import { StoreError } from './errors.js';
import { type CompareStoreOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { Reads, type SeriesPoint, type StoredEndpoint, type StoredExchange } from './reads.js';
import { Retention } from './retention.js';
import { type RunRow, Runs } from './runs.js';
import { connect } from './schema.js';
import { type WriteReport, Writes } from './writes.js';

export class CompareStore {
  private readonly db: Database.Database;
  private readonly opts: ResolvedOptions;
  private closed = false;
  private batches = 0;
  private readonly retention: Retention | undefined;
  private readonly writes: Writes | undefined;
  private readonly reads: Reads;
  private readonly runTable: Runs;

  private constructor(
    readonly file: string,
    db: Database.Database,
    opts: ResolvedOptions,
  ) {
    this.db = db;
    this.opts = opts;
    this.reads = new Reads(db);
    this.runTable = new Runs(db, opts.maxRuns);
    if (!opts.readonly) {
      this.retention = new Retention(db, opts.maxExchanges, opts.maxBytes);
      this.writes = new Writes(db, this.runTable, opts, this.retention);
    }
  }

  /**
   * Opens (and creates, unless readonly) the store in `file`. Throws StoreError with the file and the
   * reason when it cannot be opened or is not a Shadowgate store.
   */
  static open(file: string, opts?: CompareStoreOptions): CompareStore {
    const o = resolveOptions(opts);
    const db = connect(file, {
      readonly: o.readonly,
      synchronous: o.synchronous,
      busyTimeoutMs: o.busyTimeoutMs,
      walLimitBytes: Math.min(64 * 1024 * 1024, o.maxBytes / 4),
    });
    try {
      if (o.maxPageCount !== undefined) db.pragma(`max_page_count = ${o.maxPageCount}`);
      const store = new CompareStore(file, db, o);
      if (!o.readonly) store.applyBounds();
      return store;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** The per-run caps, from the compare settings (they may change on a reload). */
  setCaps(caps: { maxEndpointsPerRun: number; maxFieldsPerEndpoint: number }): void {
    this.opts.maxEndpointsPerRun = Math.max(1, Math.floor(caps.maxEndpointsPerRun));
    this.opts.maxFieldsPerEndpoint = Math.max(1, Math.floor(caps.maxFieldsPerEndpoint));
  }

  /**
   * The runs the config describes: a route whose open run has the same fingerprint keeps it (a reload or a
   * restart that changed nothing compared continues it); a different fingerprint ends it and opens a new one;
   * a route no longer mirrored ends its run. Returns the runs opened.
   */
  syncRuns(identities: readonly RunIdentity[], now = Date.now()): RunRow[] {
    this.writable();
    const opened = this.runTable.sync(identities, now);
    if (opened.length > 0) this.writes!.forget();
    return opened;
  }

  /** `runs start`: ends the open run of every route (or of `route`) and opens a new one with the same identity. */
  startRun(route: string | undefined, note: string | undefined, now = Date.now()): RunRow[] {
    this.writable();
    const opened = this.runTable.start(route, note, now);
    if (opened.length > 0) this.writes!.forget();
    return opened;
  }

  /** Records a batch in one transaction: all of it is committed, or none. */
  record(results: readonly ComparisonResult[], now = Date.now()): WriteReport {
    const w = this.writable();
    if (results.length === 0) return { stale: 0, otherEndpoints: 0, otherFields: 0 };
    const report = w.batch.immediate(results, now);
    if (++this.batches % this.opts.checkBytesEvery === 0) {
      this.retention!.trimToBytes();
      this.retention!.trimSeries();
    }
    return report;
  }

  /** Runs, newest first. */
  runs(limit = 100): RunRow[] {
    this.live();
    return this.runTable.newest(Math.max(1, Math.floor(limit)));
  }

  run(id: number): RunRow | undefined {
    this.live();
    return this.runTable.get(id);
  }

  /** Aggregates per endpoint of one run (the newest run by default), sorted by endpoint; fields by field. */
  endpoints(runId?: number): StoredEndpoint[] {
    this.live();
    const id = runId ?? this.runTable.newest(1)[0]?.id;
    return id === undefined ? [] : this.reads.endpoints(id);
  }

  endpoint(runId: number, eid: string): StoredEndpoint | undefined {
    this.live();
    return this.reads.endpoint(runId, eid);
  }

  /** The endpoint's raw latency histograms (side 0 primary, 1 candidate), for /metrics (issue 13). */
  latency(endpoint: StoredEndpoint): { side: number; bucket: number; n: number }[] {
    this.live();
    return this.reads.latency(endpoint.rowId);
  }

  /** Per-minute counts of the last hour: '' is compared requests, any other key a field's differences. */
  series(endpoint: StoredEndpoint): Map<string, SeriesPoint[]> {
    this.live();
    return this.reads.series(endpoint.rowId);
  }

  /** Kept whole exchanges of an endpoint (of one field), newest first; `before` pages by sample id. */
  samples(endpoint: StoredEndpoint, opts: { field?: string; limit?: number; before?: number } = {}): SampleDoc[] {
    this.live();
    const limit = Math.max(1, Math.floor(opts.limit ?? 20));
    return this.reads.samples(endpoint, opts.field, limit, opts.before);
  }

  /** The newest rows of the per-exchange table, optionally of one endpoint. */
  exchanges(opts: { endpoint?: string; limit?: number } = {}): StoredExchange[] {
    this.live();
    return this.reads.exchangeRows(opts.endpoint, Math.max(0, Math.floor(opts.limit ?? 100)));
  }

  totals(): { compared: number; exchanges: number; bytes: number } {
    this.live();
    return this.reads.totals();
  }

  /** Deletes everything recorded, runs included (the schema stays). */
  reset(): void {
    this.writable().reset();
  }

  /** Idempotent. The last connection to close checkpoints the WAL into the database and removes it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private applyBounds(): void {
    // The bounds may have been lowered since the store was last written.
    this.db.prepare('DELETE FROM samples WHERE slot >= ?').run(this.opts.maxSamplesPerField);
    const last = this.db.prepare('SELECT coalesce(max(id), 0) AS n FROM exchanges').get() as { n: number };
    this.retention!.trimToRows(last.n);
    this.retention!.trimToBytes();
  }

  private live(): void {
    if (this.closed) throw new StoreError('STORE_CLOSED', this.file, 'the store is closed');
  }

  private writable(): Writes {
    this.live();
    if (!this.writes) throw new StoreError('STORE_READONLY', this.file, 'the store was opened read-only');
    return this.writes;
  }
}
