// The store's write path: a batch of comparison results in one IMMEDIATE transaction, into its run, with the
// per-run endpoint cap and per-endpoint field cap applied, and whole exchanges kept as per-field reservoirs.
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
// From the module, not compare's index: the serving thread loads the store too, and must not load the gRPC decoding
// (@bufbuild/protobuf) that only the comparison thread uses.
import type { ComparisonResult } from '../compare/index.js';
import { isUncounted } from '../compare/time-like.js';
import { addCounts, bucketOf, encodeCounts } from './histogram.js';
import type { ResolvedOptions } from './options.js';
import type { Retention } from './retention.js';
import type { Runs } from './runs.js';

/** The comparer bounds sample renderings already; this bounds what one row can cost if it did not. */
const MAX_SAMPLE_CHARS = 1024;
/** A whole exchange as stored (four bodies of at most 16 Ki characters each, plus heads). */
const MAX_DOC_CHARS = 96 * 1024;
export const OTHER_ENDPOINT = '(other endpoints)';
export const OTHER_FIELD = '(other fields)';
export const PRIMARY = 0;
export const CANDIDATE = 1;

type Side = { status: number; latencyMs: number; error?: string };

/** 5xx, or no (complete) answer. */
function isError(side: Side): boolean {
  return side.status >= 500 || side.status === 0 || (side.error !== undefined && side.error !== '');
}

function bounded(value: string | undefined): string | null {
  if (value === undefined) return null;
  return value.length > MAX_SAMPLE_CHARS ? `${value.slice(0, MAX_SAMPLE_CHARS - 1)}…` : value;
}

/** A URL-safe endpoint id: the same endpoint has the same id in every run. */
export function endpointId(name: string): string {
  return createHash('sha256').update(name).digest('base64url').slice(0, 12);
}

/** What a batch overflowed into the `other` buckets (counted by the caller in a metric). */
export interface WriteReport {
  stale: number;
  otherEndpoints: number;
  otherFields: number;
}

interface Counters {
  compared: number;
  withSecondary: number;
  primaryErrors: number;
  candidateErrors: number;
}

export class Writes {
  private readonly findEndpoint: Database.Statement<[number, string]>;
  private readonly countEndpoints: Database.Statement<[number]>;
  private readonly insertEndpoint: Database.Statement<[number, string, string]>;
  private readonly findField: Database.Statement<[number, string]>;
  private readonly countFields: Database.Statement<[number]>;
  private readonly insertExchange: Database.Statement<unknown[]>;
  private readonly addCounters: Database.Statement<[number, number, number, number, number]>;
  private readonly getHist: Database.Statement<[number, number]>;
  private readonly putHist: Database.Statement<[number, number, Buffer]>;
  private readonly bumpCandidate: Database.Statement<[number, string]>;
  private readonly bumpTimeLike: Database.Statement<[number, string]>;
  private readonly bumpSecondary: Database.Statement<[number, string]>;
  private readonly setExample: Database.Statement<[string, number]>;
  private readonly addKind: Database.Statement<[number, string, number]>;
  private readonly oldSample: Database.Statement<[number, number]>;
  private readonly putSample: Database.Statement<unknown[]>;
  private readonly putDoc: Database.Statement<[number, number, string]>;
  private readonly dropDocIfOrphan: Database.Statement<[number, number]>;
  private readonly addSeries: Database.Statement<[number, string, number, number]>;
  /** Endpoint ids by `run\0name`, and field existence by `endpoint\0field`: bounded by the caps. */
  private endpointIds = new Map<string, number>();
  private knownFields = new Set<string>();
  readonly batch: Database.Transaction<(results: readonly ComparisonResult[], now: number) => WriteReport>;
  readonly reset: () => void;

  constructor(
    db: Database.Database,
    private readonly runs: Runs,
    private readonly opts: ResolvedOptions,
    private readonly retention: Retention,
  ) {
    this.findEndpoint = db.prepare('SELECT id FROM endpoints WHERE run_id = ? AND name = ?');
    this.countEndpoints = db.prepare('SELECT count(*) AS n FROM endpoints WHERE run_id = ?');
    this.insertEndpoint = db.prepare('INSERT INTO endpoints (run_id, name, eid) VALUES (?, ?, ?) RETURNING id');
    this.findField = db.prepare('SELECT id FROM fields WHERE endpoint_id = ? AND field = ?');
    this.countFields = db.prepare('SELECT count(*) AS n FROM fields WHERE endpoint_id = ?');
    this.insertExchange = db.prepare(
      `INSERT INTO exchanges (at, run_id, endpoint_id, request_id, primary_status, primary_ms, candidate_status, candidate_ms,
         secondary_status, secondary_ms, diffs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.addCounters = db.prepare(
      `UPDATE endpoints SET compared = compared + ?, with_secondary = with_secondary + ?,
         primary_errors = primary_errors + ?, candidate_errors = candidate_errors + ? WHERE id = ?`,
    );
    this.getHist = db.prepare('SELECT counts FROM latency_hist WHERE endpoint_id = ? AND side = ?');
    this.putHist = db.prepare('INSERT OR REPLACE INTO latency_hist (endpoint_id, side, counts) VALUES (?, ?, ?)');
    this.bumpCandidate = db.prepare(
      `INSERT INTO fields (endpoint_id, field, candidate_diffs) VALUES (?, ?, 1)
         ON CONFLICT (endpoint_id, field) DO UPDATE SET candidate_diffs = candidate_diffs + 1
         RETURNING id, candidate_diffs`,
    );
    this.bumpTimeLike = db.prepare(
      `INSERT INTO fields (endpoint_id, field, time_like) VALUES (?, ?, 1)
         ON CONFLICT (endpoint_id, field) DO UPDATE SET time_like = time_like + 1 RETURNING id`,
    );
    this.bumpSecondary = db.prepare(
      `INSERT INTO fields (endpoint_id, field, secondary_diffs) VALUES (?, ?, 1)
         ON CONFLICT (endpoint_id, field) DO UPDATE SET secondary_diffs = secondary_diffs + 1`,
    );
    this.setExample = db.prepare('UPDATE fields SET example = ? WHERE id = ? AND example IS NULL');
    this.addKind = db.prepare(
      `INSERT INTO field_kinds (field_id, kind, n) VALUES (?, ?, ?)
         ON CONFLICT (field_id, kind) DO UPDATE SET n = n + excluded.n`,
    );
    this.oldSample = db.prepare('SELECT sample_id FROM samples WHERE field_id = ? AND slot = ?');
    this.putSample = db.prepare(
      `INSERT OR REPLACE INTO samples (field_id, slot, request_id, at, kind, left_value, right_value, sample_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.putDoc = db.prepare('INSERT INTO sample_docs (endpoint_id, at, doc) VALUES (?, ?, ?)');
    this.dropDocIfOrphan = db.prepare('DELETE FROM sample_docs WHERE id = ? AND NOT EXISTS (SELECT 1 FROM samples WHERE sample_id = ?)');
    this.addSeries = db.prepare(
      `INSERT INTO series (endpoint_id, field, minute, n) VALUES (?, ?, ?, ?)
         ON CONFLICT (endpoint_id, field, minute) DO UPDATE SET n = n + excluded.n`,
    );
    this.batch = db.transaction((results, now) => this.write(results, now));
    const clear = db.transaction(() => {
      db.exec(`DELETE FROM samples; DELETE FROM sample_docs; DELETE FROM series; DELETE FROM field_kinds; DELETE FROM fields;
        DELETE FROM latency; DELETE FROM latency_hist; DELETE FROM exchanges; DELETE FROM endpoints; DELETE FROM runs;`);
      db.pragma('incremental_vacuum');
    });
    this.reset = () => {
      clear.immediate();
      this.forget();
    };
  }

  /** Drops the id caches (after a reset, or when another process may have trimmed runs). */
  forget(): void {
    this.endpointIds = new Map();
    this.knownFields = new Set();
  }

  /** The endpoint's row in its run; beyond maxEndpointsPerRun, the run's `other` endpoint. */
  private endpoint(runId: number, name: string, report: WriteReport): number {
    const key = `${runId}\u0000${name}`;
    const cached = this.endpointIds.get(key);
    if (cached !== undefined) return cached;
    let id = (this.findEndpoint.get(runId, name) as { id: number } | undefined)?.id;
    if (id === undefined) {
      const n = (this.countEndpoints.get(runId) as { n: number }).n;
      if (name !== OTHER_ENDPOINT && n >= this.opts.maxEndpointsPerRun) {
        report.otherEndpoints++;
        return this.endpoint(runId, OTHER_ENDPOINT, report);
      }
      id = (this.insertEndpoint.get(runId, name, endpointId(name)) as { id: number }).id;
    }
    if (this.endpointIds.size > 4 * this.opts.maxEndpointsPerRun) this.endpointIds.clear();
    this.endpointIds.set(key, id);
    return id;
  }

  /** The field name as stored: itself, or `(other fields)` once the endpoint has maxFieldsPerEndpoint. */
  private field(endpointId: number, field: string, report: WriteReport): string {
    const key = `${endpointId}\u0000${field}`;
    if (this.knownFields.has(key)) return field;
    if (this.findField.get(endpointId, field) === undefined) {
      const n = (this.countFields.get(endpointId) as { n: number }).n;
      if (field !== OTHER_FIELD && n >= this.opts.maxFieldsPerEndpoint) {
        report.otherFields++;
        return OTHER_FIELD;
      }
    }
    if (this.knownFields.size > 100_000) this.knownFields.clear();
    this.knownFields.add(key);
    return field;
  }

  private write(results: readonly ComparisonResult[], now: number): WriteReport {
    const report: WriteReport = { stale: 0, otherEndpoints: 0, otherFields: 0 };
    // Endpoint counters and histograms are summed over the batch first: one UPDATE per endpoint, one
    // upsert per touched bucket, instead of several statements per result.
    const counters = new Map<number, Counters>();
    const latency = new Map<string, number>();
    const kinds = new Map<string, number>();
    const series = new Map<string, number>();
    const runIds = new Map<string, number | undefined>();
    let lastId = 0;

    const addLatency = (endpointId: number, side: number, s: Side) => {
      // Only answers have a latency worth a percentile; no-answers are counted as errors instead.
      if (s.status === 0) return;
      const b = bucketOf(s.latencyMs);
      if (b < 0) return;
      const key = `${endpointId}:${side}:${b}`;
      latency.set(key, (latency.get(key) ?? 0) + 1);
    };
    const addSeries = (endpointId: number, field: string, at: number) => {
      const key = `${endpointId}\u0000${Math.floor(at / 60_000)}\u0000${field}`;
      series.set(key, (series.get(key) ?? 0) + 1);
    };

    for (const r of results) {
      // The run this exchange was made under; if it has ended since (a reload, `runs start`), the exchange
      // belongs to no open run and is left out: an old candidate's answers never count for a new one.
      let runId: number | undefined;
      if (r.run === undefined) runId = this.runs.defaultRunId(now);
      else {
        const key = `${r.run.route}\u0000${r.run.fingerprint}`;
        if (!runIds.has(key)) runIds.set(key, this.runs.openRunId(r.run.route, r.run.fingerprint));
        runId = runIds.get(key);
      }
      if (runId === undefined) {
        report.stale++;
        continue;
      }
      const id = this.endpoint(runId, r.endpoint, report);
      const c = r.candidate;
      const s = r.secondary;
      const info = this.insertExchange.run(
        r.at,
        runId,
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
      addSeries(id, '', r.at);

      // A field counts once per result per side, however many diffs it has; its first diff is the sample.
      const fieldIds = new Map<string, number>();
      const kindsSeen = new Set<string>();
      let docId: number | undefined;
      for (const d of r.candidateDiffs) {
        const name = this.field(id, d.field, report);
        if (isUncounted(d.kind)) {
          if (fieldIds.has(name)) continue;
          const row = this.bumpTimeLike.get(id, name) as { id: number };
          fieldIds.set(name, row.id);
          continue;
        }
        let fieldId = fieldIds.get(name);
        if (fieldId === undefined) {
          const row = this.bumpCandidate.get(id, name) as { id: number; candidate_diffs: number };
          fieldId = row.id;
          fieldIds.set(name, fieldId);
          addSeries(id, name, r.at);
          if (row.candidate_diffs === 1) {
            this.setExample.run(JSON.stringify({ kind: d.kind, primary: bounded(d.left) ?? '(absent)', candidate: bounded(d.right) ?? '(absent)' }), fieldId);
          }
          docId = this.sample(fieldId, row.candidate_diffs, r, d, id, docId);
        }
        const key = `${fieldId}\u0000${d.kind}`;
        if (kindsSeen.has(key)) continue;
        kindsSeen.add(key);
        kinds.set(key, (kinds.get(key) ?? 0) + 1);
      }
      if (s && r.secondaryDiffs) {
        const seen = new Set<string>();
        for (const d of r.secondaryDiffs) {
          if (isUncounted(d.kind)) continue;
          const name = this.field(id, d.field, report);
          if (seen.has(name)) continue;
          seen.add(name);
          this.bumpSecondary.run(id, name);
        }
      }
    }

    for (const [id, k] of counters) this.addCounters.run(k.compared, k.withSecondary, k.primaryErrors, k.candidateErrors, id);
    // One read-modify-write of a small blob per endpoint and side touched by the batch.
    const hists = new Map<string, { id: number; side: number; add: [number, number][] }>();
    for (const [key, n] of latency) {
      const [id, side, bucket] = key.split(':').map(Number) as [number, number, number];
      const k = `${id}:${side}`;
      let h = hists.get(k);
      if (!h) {
        h = { id, side, add: [] };
        hists.set(k, h);
      }
      h.add.push([bucket, n]);
    }
    for (const h of hists.values()) {
      const counts = addCounts([], (this.getHist.get(h.id, h.side) as { counts: Buffer } | undefined)?.counts);
      for (const [bucket, n] of h.add) counts[bucket] = (counts[bucket] ?? 0) + n;
      this.putHist.run(h.id, h.side, encodeCounts(counts));
    }
    for (const [key, n] of kinds) {
      const sep = key.indexOf('\u0000');
      this.addKind.run(Number(key.slice(0, sep)), key.slice(sep + 1), n);
    }
    for (const [key, n] of series) {
      const [id, minute, field] = key.split('\u0000') as [string, string, string];
      this.addSeries.run(Number(id), field, Number(minute), n);
    }
    if (lastId > 0) this.retention.trimToRows(lastId);
    return report;
  }

  /**
   * Reservoir sampling (Algorithm R) keyed by slot: the nth diff of a field takes slot n−1 while there is
   * room, then replaces a random slot with probability N/n. The kept samples are a uniform draw over the
   * whole run, not just its first minutes, and the bound is the primary key (field_id, slot < N). The whole
   * exchange is stored once per result however many fields keep it, and deleted when no field does.
   */
  private sample(
    fieldId: number,
    nth: number,
    r: ComparisonResult,
    d: ComparisonResult['candidateDiffs'][number],
    endpointId: number,
    docId: number | undefined,
  ): number | undefined {
    const max = this.opts.maxSamplesPerField;
    if (max <= 0) return docId;
    const slot = nth <= max ? nth - 1 : Math.floor(this.opts.random() * nth);
    if (slot >= max) return docId;
    let doc = docId;
    if (doc === undefined && r.sample !== undefined) {
      const text = JSON.stringify(r.sample);
      if (text.length <= MAX_DOC_CHARS) doc = Number(this.putDoc.run(endpointId, r.at, text).lastInsertRowid);
    }
    const old = (this.oldSample.get(fieldId, slot) as { sample_id: number | null } | undefined)?.sample_id ?? null;
    this.putSample.run(fieldId, slot, r.requestId, r.at, d.kind, bounded(d.left), bounded(d.right), doc ?? null);
    if (old !== null && old !== doc) this.dropDocIfOrphan.run(old, old);
    return doc;
  }
}
