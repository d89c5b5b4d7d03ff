// CompareStore: comparison results aggregated into SQLite (WAL), durable across process crashes.
import type Database from 'better-sqlite3';
import type { ComparisonResult, DiffKind, EndpointStats, FieldStats, LatencySummary, Sample } from '../compare/types.js';
import { StoreError } from './errors.js';
import { bucketOf, quantile } from './histogram.js';
import { type CompareStoreOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { type RedactionRules, Redactor } from './redaction.js';
import { Retention } from './retention.js';
import { connect } from './schema.js';
import { getOrCreate } from '../util/maps.js';

/** The comparer bounds sample renderings already; this bounds what one row can cost if it did not. */
const MAX_SAMPLE_CHARS = 1024;

const PRIMARY = 0;
const CANDIDATE = 1;

/** One row of the per-exchange table, for debugging (newest first from `exchanges()`). */
export interface StoredExchange {
  at: number;
  endpoint: string;
  requestId: string;
  primary: { status: number; latencyMs: number };
  candidate?: { status: number; latencyMs: number };
  secondary?: { status: number; latencyMs: number };
  /** How many candidate diffs the result had. */
  diffs: number;
}

type Side = { status: number; latencyMs: number; error?: string };

interface Counters {
  compared: number;
  withSecondary: number;
  primaryErrors: number;
  candidateErrors: number;
}

/** 5xx, or no (complete) answer. */
function isError(side: Side): boolean {
  return side.status >= 500 || side.status === 0 || (side.error !== undefined && side.error !== '');
}

function bounded(value: string | undefined): string | null {
  if (value === undefined) return null;
  return value.length > MAX_SAMPLE_CHARS ? `${value.slice(0, MAX_SAMPLE_CHARS - 1)}…` : value;
}

export class CompareStore {
  private readonly db: Database.Database;
  private readonly opts: ResolvedOptions;
  private redactor = new Redactor();
  private closed = false;
  private batches = 0;
  private readonly retention: Retention | undefined;
  private readonly writes: Writes | undefined;
  private readonly reads: Reads;

  private constructor(
    readonly file: string,
    db: Database.Database,
    opts: ResolvedOptions,
  ) {
    this.db = db;
    this.opts = opts;
    this.reads = new Reads(db);
    if (!opts.readonly) {
      this.writes = new Writes(db);
      this.retention = new Retention(db, opts.maxExchanges, opts.maxBytes);
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
      const store = new CompareStore(file, db, o);
      if (!o.readonly) store.applyBounds();
      return store;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Header names and folded JSON paths whose sample values are stored as `[redacted]` from now on. */
  setRedaction(rules: RedactionRules): void {
    this.redactor = new Redactor(rules);
  }

  /** Records a batch in one transaction: all of it is committed, or none. */
  record(results: readonly ComparisonResult[]): void {
    const w = this.writable();
    if (results.length === 0) return;
    w.batch.immediate(results, this.redactor, this.opts, this.retention!);
    if (++this.batches % this.opts.checkBytesEvery === 0) this.retention!.trimToBytes();
  }

  /** Aggregates per endpoint, sorted by endpoint; fields sorted by field. One consistent snapshot. */
  endpoints(): EndpointStats[] {
    this.live();
    return this.reads.endpoints();
  }

  /** The kept samples of one field of one endpoint, oldest first; all of them (≤ maxSamplesPerField) by default. */
  samples(endpoint: string, field: string, limit?: number): Sample[] {
    this.live();
    // LIMIT -1 is SQLite's "no limit": a reader need not know the writer's maxSamplesPerField.
    const n = limit === undefined ? -1 : Math.max(0, Math.floor(limit));
    const rows = this.reads.samples.all(endpoint, field, n) as SampleRow[];
    return rows.map((r) => {
      const s: Sample = { requestId: r.request_id, at: r.at, kind: r.kind as DiffKind };
      if (r.left_value !== null) s.left = r.left_value;
      if (r.right_value !== null) s.right = r.right_value;
      return s;
    });
  }

  /** The newest rows of the per-exchange table, optionally of one endpoint. */
  exchanges(opts: { endpoint?: string; limit?: number } = {}): StoredExchange[] {
    this.live();
    const limit = Math.max(0, Math.floor(opts.limit ?? 100));
    const rows = (
      opts.endpoint === undefined ? this.reads.recent.all(limit) : this.reads.recentOf.all(opts.endpoint, limit)
    ) as ExchangeRow[];
    return rows.map((r) => {
      const x: StoredExchange = {
        at: r.at,
        endpoint: r.endpoint,
        requestId: r.request_id,
        primary: { status: r.primary_status, latencyMs: r.primary_ms },
        diffs: r.diffs,
      };
      if (r.candidate_status !== null) x.candidate = { status: r.candidate_status, latencyMs: r.candidate_ms ?? 0 };
      if (r.secondary_status !== null) x.secondary = { status: r.secondary_status, latencyMs: r.secondary_ms ?? 0 };
      return x;
    });
  }

  totals(): { compared: number; exchanges: number; bytes: number } {
    this.live();
    return this.reads.totals();
  }

  /** Deletes everything recorded (the schema stays). */
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

interface SampleRow {
  request_id: string;
  at: number;
  kind: string;
  left_value: string | null;
  right_value: string | null;
}

interface ExchangeRow {
  at: number;
  endpoint: string;
  request_id: string;
  primary_status: number;
  primary_ms: number;
  candidate_status: number | null;
  candidate_ms: number | null;
  secondary_status: number | null;
  secondary_ms: number | null;
  diffs: number;
}

/** The write statements, prepared once; a batch is one IMMEDIATE transaction (takes the write lock up front). */
class Writes {
  private readonly endpointId: Database.Statement<[string]>;
  private readonly insertExchange: Database.Statement<unknown[]>;
  private readonly addCounters: Database.Statement<[number, number, number, number, number]>;
  private readonly addLatency: Database.Statement<[number, number, number, number]>;
  private readonly bumpCandidate: Database.Statement<[number, string]>;
  private readonly bumpSecondary: Database.Statement<[number, string]>;
  private readonly addKind: Database.Statement<[number, string, number]>;
  private readonly putSample: Database.Statement<unknown[]>;
  readonly batch: Database.Transaction<
    (results: readonly ComparisonResult[], redactor: Redactor, opts: ResolvedOptions, retention: Retention) => void
  >;
  readonly reset: () => void;

  constructor(db: Database.Database) {
    // DO UPDATE (not DO NOTHING) so RETURNING yields the id of an existing row too.
    this.endpointId = db.prepare(
      'INSERT INTO endpoints (name) VALUES (?) ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id',
    );
    this.insertExchange = db.prepare(
      `INSERT INTO exchanges (at, endpoint_id, request_id, primary_status, primary_ms, candidate_status, candidate_ms,
         secondary_status, secondary_ms, diffs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.addCounters = db.prepare(
      `UPDATE endpoints SET compared = compared + ?, with_secondary = with_secondary + ?,
         primary_errors = primary_errors + ?, candidate_errors = candidate_errors + ? WHERE id = ?`,
    );
    this.addLatency = db.prepare(
      `INSERT INTO latency (endpoint_id, side, bucket, n) VALUES (?, ?, ?, ?)
         ON CONFLICT (endpoint_id, side, bucket) DO UPDATE SET n = n + excluded.n`,
    );
    this.bumpCandidate = db.prepare(
      `INSERT INTO fields (endpoint_id, field, candidate_diffs) VALUES (?, ?, 1)
         ON CONFLICT (endpoint_id, field) DO UPDATE SET candidate_diffs = candidate_diffs + 1
         RETURNING id, candidate_diffs`,
    );
    this.bumpSecondary = db.prepare(
      `INSERT INTO fields (endpoint_id, field, secondary_diffs) VALUES (?, ?, 1)
         ON CONFLICT (endpoint_id, field) DO UPDATE SET secondary_diffs = secondary_diffs + 1`,
    );
    this.addKind = db.prepare(
      `INSERT INTO field_kinds (field_id, kind, n) VALUES (?, ?, ?)
         ON CONFLICT (field_id, kind) DO UPDATE SET n = n + excluded.n`,
    );
    this.putSample = db.prepare(
      `INSERT OR REPLACE INTO samples (field_id, slot, request_id, at, kind, left_value, right_value)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.batch = db.transaction((results, redactor, opts, retention) => this.write(results, redactor, opts, retention));
    const clear = db.transaction(() => {
      db.exec('DELETE FROM samples; DELETE FROM field_kinds; DELETE FROM fields; DELETE FROM latency; DELETE FROM exchanges; DELETE FROM endpoints;');
      db.pragma('incremental_vacuum');
    });
    this.reset = () => clear.immediate();
  }

  private write(results: readonly ComparisonResult[], redactor: Redactor, opts: ResolvedOptions, retention: Retention): void {
    // Endpoint counters and histograms are summed over the batch first: one UPDATE per endpoint, one
    // upsert per touched bucket, instead of several statements per result.
    const ids = new Map<string, number>();
    const counters = new Map<number, Counters>();
    const latency = new Map<string, number>();
    const kinds = new Map<string, number>();
    let lastId = 0;

    const addLatency = (endpointId: number, side: number, s: Side) => {
      // Only answers have a latency worth a percentile; no-answers are counted as errors instead.
      if (s.status === 0) return;
      const b = bucketOf(s.latencyMs);
      if (b < 0) return;
      const key = `${endpointId}:${side}:${b}`;
      latency.set(key, (latency.get(key) ?? 0) + 1);
    };

    for (const r of results) {
      let id = ids.get(r.endpoint);
      if (id === undefined) {
        id = (this.endpointId.get(r.endpoint) as { id: number }).id;
        ids.set(r.endpoint, id);
      }
      const c = r.candidate;
      const s = r.secondary;
      const info = this.insertExchange.run(
        r.at,
        id,
        r.requestId,
        r.primary.status,
        r.primary.latencyMs,
        c?.status ?? null,
        c?.latencyMs ?? null,
        s?.status ?? null,
        s?.latencyMs ?? null,
        r.candidateDiffs.length,
      );
      lastId = Number(info.lastInsertRowid);

      // Without a candidate nothing was compared: the exchange row is all it leaves. Error counts,
      // latency and noise are taken over compared results only, so their rates share one denominator.
      if (!c) continue;
      let k = counters.get(id);
      if (!k) {
        k = { compared: 0, withSecondary: 0, primaryErrors: 0, candidateErrors: 0 };
        counters.set(id, k);
      }
      k.compared++;
      if (s) k.withSecondary++;
      if (isError(r.primary)) k.primaryErrors++;
      if (isError(c)) k.candidateErrors++;
      addLatency(id, PRIMARY, r.primary);
      addLatency(id, CANDIDATE, c);

      // A field counts once per result per side, however many diffs it has; its first diff is the sample.
      const fieldIds = new Map<string, number>();
      const kindsSeen = new Set<string>();
      for (const d of r.candidateDiffs) {
        let fieldId = fieldIds.get(d.field);
        if (fieldId === undefined) {
          const row = this.bumpCandidate.get(id, d.field) as { id: number; candidate_diffs: number };
          fieldId = row.id;
          fieldIds.set(d.field, fieldId);
          this.sample(fieldId, row.candidate_diffs, r, d, redactor, opts);
        }
        const key = `${fieldId}\u0000${d.kind}`;
        if (kindsSeen.has(key)) continue;
        kindsSeen.add(key);
        kinds.set(key, (kinds.get(key) ?? 0) + 1);
      }
      if (s && r.secondaryDiffs) {
        const seen = new Set<string>();
        for (const d of r.secondaryDiffs) {
          if (seen.has(d.field)) continue;
          seen.add(d.field);
          this.bumpSecondary.run(id, d.field);
        }
      }
    }

    for (const [id, k] of counters) this.addCounters.run(k.compared, k.withSecondary, k.primaryErrors, k.candidateErrors, id);
    for (const [key, n] of latency) {
      const [id, side, bucket] = key.split(':').map(Number) as [number, number, number];
      this.addLatency.run(id, side, bucket, n);
    }
    for (const [key, n] of kinds) {
      const sep = key.indexOf('\u0000');
      this.addKind.run(Number(key.slice(0, sep)), key.slice(sep + 1), n);
    }
    retention.trimToRows(lastId);
  }

  /**
   * Reservoir sampling (Algorithm R) keyed by slot: the nth diff of a field takes slot n−1 while there is
   * room, then replaces a random slot with probability N/n. The kept samples are a uniform draw over the
   * whole run, not just its first minutes, and the bound is the primary key (field_id, slot < N).
   */
  private sample(
    fieldId: number,
    nth: number,
    r: ComparisonResult,
    d: ComparisonResult['candidateDiffs'][number],
    redactor: Redactor,
    opts: ResolvedOptions,
  ): void {
    const max = opts.maxSamplesPerField;
    if (max <= 0) return;
    const slot = nth <= max ? nth - 1 : Math.floor(opts.random() * nth);
    if (slot >= max) return;
    const { left, right } = redactor.apply(d);
    this.putSample.run(fieldId, slot, r.requestId, r.at, d.kind, bounded(left), bounded(right));
  }
}

/** The read statements, prepared once; multi-statement reads run in one transaction for one snapshot. */
class Reads {
  readonly samples: Database.Statement<[string, string, number]>;
  readonly recent: Database.Statement<[number]>;
  readonly recentOf: Database.Statement<[string, number]>;
  readonly endpoints: () => EndpointStats[];
  readonly totals: () => { compared: number; exchanges: number; bytes: number };

  constructor(db: Database.Database) {
    this.samples = db.prepare(
      `SELECT s.request_id, s.at, s.kind, s.left_value, s.right_value FROM samples s
         JOIN fields f ON f.id = s.field_id JOIN endpoints e ON e.id = f.endpoint_id
         WHERE e.name = ? AND f.field = ? ORDER BY s.at, s.slot LIMIT ?`,
    );
    const exchangeCols = `x.at, e.name AS endpoint, x.request_id, x.primary_status, x.primary_ms, x.candidate_status,
      x.candidate_ms, x.secondary_status, x.secondary_ms, x.diffs FROM exchanges x JOIN endpoints e ON e.id = x.endpoint_id`;
    this.recent = db.prepare(`SELECT ${exchangeCols} ORDER BY x.id DESC LIMIT ?`);
    this.recentOf = db.prepare(`SELECT ${exchangeCols} WHERE e.name = ? ORDER BY x.id DESC LIMIT ?`);

    const endpointRows = db.prepare(
      'SELECT id, name, compared, with_secondary, primary_errors, candidate_errors FROM endpoints ORDER BY name',
    );
    const latencyRows = db.prepare('SELECT endpoint_id, side, bucket, n FROM latency ORDER BY endpoint_id, side, bucket');
    const fieldRows = db.prepare('SELECT id, endpoint_id, field, candidate_diffs, secondary_diffs FROM fields ORDER BY field');
    const kindRows = db.prepare('SELECT field_id, kind, n FROM field_kinds');
    this.endpoints = db.transaction(() => {
      const hist = new Map<string, [number, number][]>();
      for (const r of latencyRows.all() as { endpoint_id: number; side: number; bucket: number; n: number }[]) {
        const key = `${r.endpoint_id}:${r.side}`;
        getOrCreate(hist, key, () => []).push([r.bucket, r.n]);
      }
      const kinds = new Map<number, Partial<Record<DiffKind, number>>>();
      for (const r of kindRows.all() as { field_id: number; kind: DiffKind; n: number }[]) {
        getOrCreate(kinds, r.field_id, (): Partial<Record<DiffKind, number>> => ({}))[r.kind] = r.n;
      }
      const fields = new Map<number, FieldStats[]>();
      for (const r of fieldRows.all() as { id: number; endpoint_id: number; field: string; candidate_diffs: number; secondary_diffs: number }[]) {
        getOrCreate(fields, r.endpoint_id, () => []).push({ field: r.field, candidateDiffs: r.candidate_diffs, secondaryDiffs: r.secondary_diffs, kinds: kinds.get(r.id) ?? {} });
      }
      const rows = endpointRows.all() as {
        id: number;
        name: string;
        compared: number;
        with_secondary: number;
        primary_errors: number;
        candidate_errors: number;
      }[];
      return rows.map((r) => ({
        endpoint: r.name,
        compared: r.compared,
        withSecondary: r.with_secondary,
        primaryErrors: r.primary_errors,
        candidateErrors: r.candidate_errors,
        primaryLatency: summary(hist.get(`${r.id}:${PRIMARY}`)),
        candidateLatency: summary(hist.get(`${r.id}:${CANDIDATE}`)),
        fields: fields.get(r.id) ?? [],
      }));
    });

    const compared = db.prepare('SELECT coalesce(sum(compared), 0) AS n FROM endpoints');
    const exchanges = db.prepare('SELECT count(*) AS n FROM exchanges');
    this.totals = db.transaction(() => ({
      compared: (compared.get() as { n: number }).n,
      exchanges: (exchanges.get() as { n: number }).n,
      bytes: (db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number),
    }));
  }
}

function summary(buckets: [number, number][] | undefined): LatencySummary {
  if (!buckets) return { count: 0, p50: 0, p99: 0 };
  let count = 0;
  for (const [, n] of buckets) count += n;
  return { count, p50: quantile(buckets, count, 0.5), p99: quantile(buckets, count, 0.99) };
}
