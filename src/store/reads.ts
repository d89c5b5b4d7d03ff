// The store's read path: per-run aggregates, one endpoint's fields and series, and kept samples, each read in
// one transaction (one consistent snapshot while the writer goes on).
import type Database from 'better-sqlite3';
import type { DiffKind, EndpointStats, FieldStats, SampleDoc } from '../compare/index.js';
import { getOrCreate } from '../util/maps.js';
import { addCounts, denseSummary } from './histogram.js';
import { CANDIDATE, PRIMARY } from './writes.js';

/** An endpoint's aggregates with the ids the API names it by. */
export interface StoredEndpoint extends EndpointStats {
  /** The store's row id (internal). */
  rowId: number;
  /** The URL-safe id, stable across runs. */
  id: string;
}

export interface SeriesPoint {
  minute: number;
  n: number;
}

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

interface EndpointRow {
  id: number;
  eid: string;
  name: string;
  compared: number;
  with_secondary: number;
  primary_errors: number;
  candidate_errors: number;
}

interface FieldRow {
  id: number;
  endpoint_id: number;
  field: string;
  candidate_diffs: number;
  secondary_diffs: number;
  time_like: number;
  example: string | null;
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

function fieldStats(r: FieldRow, kinds: Partial<Record<DiffKind, number>>): FieldStats {
  const f: FieldStats = { field: r.field, candidateDiffs: r.candidate_diffs, secondaryDiffs: r.secondary_diffs, kinds, timeLike: r.time_like };
  if (r.example !== null) {
    try {
      f.example = JSON.parse(r.example) as NonNullable<FieldStats['example']>;
    } catch {
      // An unreadable example is only a missing one.
    }
  }
  return f;
}

export class Reads {
  readonly endpoints: (runId: number) => StoredEndpoint[];
  readonly endpoint: (runId: number, eid: string) => StoredEndpoint | undefined;
  readonly series: (endpointRowId: number) => Map<string, SeriesPoint[]>;
  /** Raw latency histogram rows of one endpoint (side 0 primary, 1 candidate; buckets of histogram.ts). */
  readonly latency: (endpointRowId: number) => { side: number; bucket: number; n: number }[];
  readonly recent: Database.Statement<[number]>;
  readonly recentOf: Database.Statement<[string, number]>;
  readonly totals: () => { compared: number; exchanges: number; bytes: number };
  private readonly docsOf: Database.Statement<[number, number, number]>;
  private readonly docsOfField: Database.Statement<[number, string, number, number]>;
  private readonly legacySamples: Database.Statement<[number, string, number]>;

  constructor(db: Database.Database) {
    const exchangeCols = `x.at, e.name AS endpoint, x.request_id, x.primary_status, x.primary_ms, x.candidate_status,
      x.candidate_ms, x.secondary_status, x.secondary_ms, x.diffs FROM exchanges x JOIN endpoints e ON e.id = x.endpoint_id`;
    this.recent = db.prepare(`SELECT ${exchangeCols} ORDER BY x.id DESC LIMIT ?`);
    this.recentOf = db.prepare(`SELECT ${exchangeCols} WHERE e.name = ? ORDER BY x.id DESC LIMIT ?`);

    const endpointCols = 'id, eid, name, compared, with_secondary, primary_errors, candidate_errors';
    const endpointRows = db.prepare(`SELECT ${endpointCols} FROM endpoints WHERE run_id = ? ORDER BY name`);
    const endpointRow = db.prepare(`SELECT ${endpointCols} FROM endpoints WHERE run_id = ? AND eid = ?`);
    const latencyRows = db.prepare(
      `SELECT l.endpoint_id, l.side, l.bucket, l.n FROM latency l JOIN endpoints e ON e.id = l.endpoint_id
         WHERE e.run_id = ? ORDER BY l.endpoint_id, l.side, l.bucket`,
    );
    const latencyOf = db.prepare('SELECT endpoint_id, side, bucket, n FROM latency WHERE endpoint_id = ? ORDER BY side, bucket');
    const histRows = db
      .prepare('SELECT h.endpoint_id, h.side, h.counts FROM latency_hist h JOIN endpoints e ON e.id = h.endpoint_id WHERE e.run_id = ?')
      .raw(true);
    const histOf = db.prepare('SELECT endpoint_id, side, counts FROM latency_hist WHERE endpoint_id = ?').raw(true);
    // The histograms live in latency_hist's blobs (schema v2); a store upgraded from v1 may still hold rows in
    // latency: both, added per side and bucket, as assemble() reads them for the verdict.
    this.latency = db.transaction((endpointRowId: number) => {
      const dense = new Map<number, number[]>();
      for (const [, side, counts] of histOf.all(endpointRowId) as [number, number, Buffer][])
        addCounts(
          getOrCreate(dense, side, () => []),
          counts,
        );
      for (const r of latencyOf.all(endpointRowId) as { side: number; bucket: number; n: number }[]) {
        const h = getOrCreate(dense, r.side, () => []);
        h[r.bucket] = (h[r.bucket] ?? 0) + r.n;
      }
      const out: { side: number; bucket: number; n: number }[] = [];
      for (const side of [...dense.keys()].sort((a, b) => a - b)) {
        dense.get(side)!.forEach((n, bucket) => {
          if (n) out.push({ side, bucket, n });
        });
      }
      return out;
    });
    const fieldCols = 'f.id, f.endpoint_id, f.field, f.candidate_diffs, f.secondary_diffs, f.time_like, f.example';
    const fieldRows = db.prepare(`SELECT ${fieldCols} FROM fields f JOIN endpoints e ON e.id = f.endpoint_id WHERE e.run_id = ? ORDER BY f.field`);
    const fieldsOf = db.prepare(`SELECT ${fieldCols} FROM fields f WHERE f.endpoint_id = ? ORDER BY f.field`);
    const kindRows = db.prepare(
      `SELECT k.field_id, k.kind, k.n FROM field_kinds k JOIN fields f ON f.id = k.field_id JOIN endpoints e ON e.id = f.endpoint_id
         WHERE e.run_id = ?`,
    );
    const kindsOf = db.prepare('SELECT k.field_id, k.kind, k.n FROM field_kinds k JOIN fields f ON f.id = k.field_id WHERE f.endpoint_id = ?');

    const assemble = (
      rows: EndpointRow[],
      lat: { endpoint_id: number; side: number; bucket: number; n: number }[],
      blobs: [number, number, Buffer][],
      fieldList: FieldRow[],
      kindList: { field_id: number; kind: DiffKind; n: number }[],
    ): StoredEndpoint[] => {
      // Dense counts per endpoint and side: the blobs, plus any version-1 rows.
      const hist = new Map<string, number[]>();
      for (const [endpointId, side, counts] of blobs)
        addCounts(
          getOrCreate(hist, `${endpointId}:${side}`, () => []),
          counts,
        );
      for (const r of lat) {
        const h = getOrCreate(hist, `${r.endpoint_id}:${r.side}`, () => []);
        h[r.bucket] = (h[r.bucket] ?? 0) + r.n;
      }
      const kinds = new Map<number, Partial<Record<DiffKind, number>>>();
      for (const r of kindList) getOrCreate(kinds, r.field_id, (): Partial<Record<DiffKind, number>> => ({}))[r.kind] = r.n;
      const fields = new Map<number, FieldStats[]>();
      for (const r of fieldList) getOrCreate(fields, r.endpoint_id, () => []).push(fieldStats(r, kinds.get(r.id) ?? {}));
      return rows.map((r) => ({
        rowId: r.id,
        id: r.eid,
        endpoint: r.name,
        compared: r.compared,
        withSecondary: r.with_secondary,
        primaryErrors: r.primary_errors,
        candidateErrors: r.candidate_errors,
        primaryLatency: denseSummary(hist.get(`${r.id}:${PRIMARY}`) ?? []),
        candidateLatency: denseSummary(hist.get(`${r.id}:${CANDIDATE}`) ?? []),
        fields: fields.get(r.id) ?? [],
      }));
    };
    type Lat = { endpoint_id: number; side: number; bucket: number; n: number };
    type Kind = { field_id: number; kind: DiffKind; n: number };
    type Blob = [number, number, Buffer];
    this.endpoints = db.transaction((runId: number) =>
      assemble(
        endpointRows.all(runId) as EndpointRow[],
        latencyRows.all(runId) as Lat[],
        histRows.all(runId) as Blob[],
        fieldRows.all(runId) as FieldRow[],
        kindRows.all(runId) as Kind[],
      ),
    );
    this.endpoint = db.transaction((runId: number, eid: string) => {
      const row = endpointRow.get(runId, eid) as EndpointRow | undefined;
      if (!row) return undefined;
      return assemble(
        [row],
        latencyOf.all(row.id) as Lat[],
        histOf.all(row.id) as Blob[],
        fieldsOf.all(row.id) as FieldRow[],
        kindsOf.all(row.id) as Kind[],
      )[0];
    });
    const seriesRows = db.prepare('SELECT field, minute, n FROM series WHERE endpoint_id = ? AND minute >= ? ORDER BY minute');
    const lastMinute = db.prepare('SELECT max(minute) AS m FROM series WHERE endpoint_id = ?');
    this.series = db.transaction((endpointRowId: number) => {
      const out = new Map<string, SeriesPoint[]>();
      const last = (lastMinute.get(endpointRowId) as { m: number | null }).m;
      if (last === null) return out;
      // The last hour is what a small chart shows.
      for (const r of seriesRows.all(endpointRowId, last - 59) as { field: string; minute: number; n: number }[]) {
        getOrCreate(out, r.field, () => []).push({ minute: r.minute, n: r.n });
      }
      return out;
    });

    this.docsOf = db.prepare('SELECT id, doc FROM sample_docs WHERE endpoint_id = ? AND id < ? ORDER BY id DESC LIMIT ?');
    this.docsOfField = db.prepare(
      `SELECT d.id, d.doc FROM sample_docs d WHERE d.id IN (SELECT s.sample_id FROM samples s JOIN fields f ON f.id = s.field_id
         WHERE f.endpoint_id = ? AND f.field = ?) AND d.id < ? ORDER BY d.id DESC LIMIT ?`,
    );
    this.legacySamples = db.prepare(
      `SELECT s.rowid AS id, s.request_id, s.at, s.kind, s.left_value, s.right_value FROM samples s JOIN fields f ON f.id = s.field_id
         WHERE f.endpoint_id = ? AND f.field = ? AND s.sample_id IS NULL ORDER BY s.at DESC, s.rowid DESC LIMIT ?`,
    );

    const compared = db.prepare('SELECT coalesce(sum(compared), 0) AS n FROM endpoints');
    const exchanges = db.prepare('SELECT count(*) AS n FROM exchanges');
    this.totals = db.transaction(() => ({
      compared: (compared.get() as { n: number }).n,
      exchanges: (exchanges.get() as { n: number }).n,
      bytes: (db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number),
    }));
  }

  /** Kept samples of one endpoint (of one field), newest first, before a sample id (paging). */
  samples(endpoint: StoredEndpoint, field: string | undefined, limit: number, before: number | undefined): SampleDoc[] {
    const below = before ?? Number.MAX_SAFE_INTEGER;
    const rows = (field === undefined ? this.docsOf.all(endpoint.rowId, below, limit) : this.docsOfField.all(endpoint.rowId, field, below, limit)) as {
      id: number;
      doc: string;
    }[];
    const out: SampleDoc[] = [];
    for (const r of rows) {
      try {
        out.push({ ...(JSON.parse(r.doc) as SampleDoc), id: String(r.id), endpointId: endpoint.id });
      } catch {
        // A row that does not parse is skipped, never served half-read.
      }
    }
    if (out.length === 0 && field !== undefined && before === undefined) {
      // Samples written before whole exchanges were kept: the two values only.
      for (const r of this.legacySamples.all(endpoint.rowId, field, limit) as {
        id: number;
        request_id: string;
        at: number;
        kind: string;
        left_value: string | null;
        right_value: string | null;
      }[]) {
        const diff: SampleDoc['diffs'][number] = { field, kind: r.kind };
        if (r.left_value !== null) diff.primary = r.left_value;
        if (r.right_value !== null) diff.candidate = r.right_value;
        out.push({
          id: `s${r.id}`,
          at: new Date(r.at).toISOString(),
          requestId: r.request_id,
          endpointId: endpoint.id,
          request: { method: '', path: '', query: '', headers: {}, body: '', bodyTruncated: false, bodyEncoding: 'utf8' },
          primary: { headers: {}, body: '', bodyTruncated: false, bodyEncoding: 'utf8' },
          diffs: [diff],
        });
      }
    }
    return out;
  }

  exchangeRows(endpoint: string | undefined, limit: number): StoredExchange[] {
    const rows = (endpoint === undefined ? this.recent.all(limit) : this.recentOf.all(endpoint, limit)) as ExchangeRow[];
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
}
