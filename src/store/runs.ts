// Runs in the store: which run is open per route, when one ends and the next starts, and how old runs are dropped.
import type Database from 'better-sqlite3';
import type { RunIdentity, RunReason } from '../compare/index.js';

export interface RunRow {
  id: number;
  route: string;
  fingerprint: string;
  candidate_host: string;
  candidate_subset: string | null;
  candidate_fp: string;
  primary_host: string;
  primary_subset: string | null;
  primary_fp: string;
  mirror_fp: string;
  reason: RunReason;
  note: string | null;
  started_at: number;
  ended_at: number | null;
  compared: number;
}

/** Results recorded without a run (unit tests, the corpus bench) go to one run of this route. */
export const DEFAULT_ROUTE = '(default)';

const RUN_COLS = `r.id, r.route, r.fingerprint, r.candidate_host, r.candidate_subset, r.candidate_fp, r.primary_host,
  r.primary_subset, r.primary_fp, r.mirror_fp, r.reason, r.note, r.started_at, r.ended_at,
  (SELECT coalesce(sum(compared), 0) FROM endpoints e WHERE e.run_id = r.id) AS compared`;

/** Why the new run starts, from what changed since the open one. */
function reasonFor(open: RunRow | undefined, next: RunIdentity): RunReason {
  if (!open) return 'started';
  if (
    open.candidate_fp !== next.candidate.fingerprint ||
    open.candidate_host !== next.candidate.host ||
    (open.candidate_subset ?? undefined) !== next.candidate.subset
  )
    return 'candidate-changed';
  if (open.primary_fp !== next.primary.fingerprint || open.primary_host !== next.primary.host || (open.primary_subset ?? undefined) !== next.primary.subset)
    return 'primary-changed';
  return 'mirror-changed';
}

export class Runs {
  private readonly openOf: Database.Statement<[string]>;
  private readonly openWith: Database.Statement<[string, string]>;
  private readonly allOpen: Database.Statement<[]>;
  private readonly end: Database.Statement<[number, number]>;
  private readonly insert: Database.Statement<unknown[]>;
  private readonly list: Database.Statement<[number]>;
  private readonly byId: Database.Statement<[number]>;
  private readonly oldBeyond: Database.Statement<[number]>;
  private readonly drops: Database.Statement<[number]>[];
  readonly sync: (identities: readonly RunIdentity[], now: number) => RunRow[];
  readonly start: (route: string | undefined, note: string | undefined, now: number) => RunRow[];

  constructor(
    db: Database.Database,
    private readonly maxRuns: number,
  ) {
    this.openOf = db.prepare(`SELECT ${RUN_COLS} FROM runs r WHERE r.route = ? AND r.ended_at IS NULL ORDER BY r.id DESC LIMIT 1`);
    this.openWith = db.prepare('SELECT id FROM runs WHERE route = ? AND fingerprint = ? AND ended_at IS NULL ORDER BY id DESC LIMIT 1');
    this.allOpen = db.prepare(`SELECT ${RUN_COLS} FROM runs r WHERE r.ended_at IS NULL ORDER BY r.id`);
    this.end = db.prepare('UPDATE runs SET ended_at = ? WHERE id = ? AND ended_at IS NULL');
    this.insert = db.prepare(
      `INSERT INTO runs (route, fingerprint, candidate_host, candidate_subset, candidate_fp, primary_host, primary_subset, primary_fp,
         mirror_fp, reason, note, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
    );
    this.list = db.prepare(`SELECT ${RUN_COLS} FROM runs r ORDER BY r.id DESC LIMIT ?`);
    this.byId = db.prepare(`SELECT ${RUN_COLS} FROM runs r WHERE r.id = ?`);
    this.oldBeyond = db.prepare('SELECT id FROM runs WHERE ended_at IS NOT NULL ORDER BY id DESC LIMIT -1 OFFSET ?');
    this.drops = [
      'DELETE FROM samples WHERE field_id IN (SELECT f.id FROM fields f JOIN endpoints e ON e.id = f.endpoint_id WHERE e.run_id = ?)',
      'DELETE FROM field_kinds WHERE field_id IN (SELECT f.id FROM fields f JOIN endpoints e ON e.id = f.endpoint_id WHERE e.run_id = ?)',
      'DELETE FROM fields WHERE endpoint_id IN (SELECT id FROM endpoints WHERE run_id = ?)',
      'DELETE FROM latency WHERE endpoint_id IN (SELECT id FROM endpoints WHERE run_id = ?)',
      'DELETE FROM latency_hist WHERE endpoint_id IN (SELECT id FROM endpoints WHERE run_id = ?)',
      'DELETE FROM sample_docs WHERE endpoint_id IN (SELECT id FROM endpoints WHERE run_id = ?)',
      'DELETE FROM series WHERE endpoint_id IN (SELECT id FROM endpoints WHERE run_id = ?)',
      'DELETE FROM exchanges WHERE run_id = ?',
      'DELETE FROM endpoints WHERE run_id = ?',
      'DELETE FROM runs WHERE id = ?',
    ].map((sql) => db.prepare(sql));

    // IMMEDIATE: the workers of one gateway sync the same routes at once; the second sees the first's run
    // with the same fingerprint and keeps it, so they never open two.
    const sync = db.transaction((identities: readonly RunIdentity[], now: number) => {
      const opened: RunRow[] = [];
      const routes = new Set<string>();
      for (const id of identities) {
        routes.add(id.route);
        const open = this.openOf.get(id.route) as RunRow | undefined;
        if (open && open.fingerprint === id.fingerprint) continue;
        if (open) this.end.run(now, open.id);
        opened.push(this.open(id, reasonFor(open, id), undefined, now));
      }
      // A route that no longer mirrors to a candidate ends its run.
      for (const open of this.allOpen.all() as RunRow[]) if (!routes.has(open.route) && open.route !== DEFAULT_ROUTE) this.end.run(now, open.id);
      if (opened.length > 0) this.trim();
      return opened;
    });
    this.sync = (identities, now) => sync.immediate(identities, now);

    const start = db.transaction((route: string | undefined, note: string | undefined, now: number) => {
      const opened: RunRow[] = [];
      for (const open of this.allOpen.all() as RunRow[]) {
        if (route !== undefined && open.route !== route) continue;
        this.end.run(now, open.id);
        opened.push(this.open(identityOf(open), 'manual', note, now));
      }
      if (opened.length > 0) this.trim();
      return opened;
    });
    this.start = (route, note, now) => start.immediate(route, note, now);
  }

  private open(id: RunIdentity, reason: RunReason, note: string | undefined, now: number): RunRow {
    const row = this.insert.get(
      id.route,
      id.fingerprint,
      id.candidate.host,
      id.candidate.subset ?? null,
      id.candidate.fingerprint,
      id.primary.host,
      id.primary.subset ?? null,
      id.primary.fingerprint,
      id.mirrorFingerprint,
      reason,
      note ?? null,
      now,
    ) as { id: number };
    return this.byId.get(row.id) as RunRow;
  }

  /** Old runs beyond maxRuns are deleted whole (open runs never): retention counts runs, not rows. */
  private trim(): void {
    for (const { id } of this.oldBeyond.all(this.maxRuns) as { id: number }[]) for (const d of this.drops) d.run(id);
  }

  /** The open run of a route with this fingerprint, for a write; undefined when it has ended (a stale exchange). */
  openRunId(route: string, fingerprint: string): number | undefined {
    return (this.openWith.get(route, fingerprint) as { id: number } | undefined)?.id;
  }

  /** The run results without one go to: opened on first use. Inside the write transaction. */
  defaultRunId(now: number): number {
    const open = this.openOf.get(DEFAULT_ROUTE) as RunRow | undefined;
    if (open) return open.id;
    const side = { host: '', fingerprint: '' };
    return this.open({ route: DEFAULT_ROUTE, fingerprint: '', candidate: side, primary: side, mirrorFingerprint: '' }, 'started', undefined, now).id;
  }

  newest(limit: number): RunRow[] {
    return this.list.all(limit) as RunRow[];
  }

  get(id: number): RunRow | undefined {
    return this.byId.get(id) as RunRow | undefined;
  }
}

function identityOf(r: RunRow): RunIdentity {
  const side = (host: string, subset: string | null, fingerprint: string) => (subset === null ? { host, fingerprint } : { host, subset, fingerprint });
  return {
    route: r.route,
    fingerprint: r.fingerprint,
    candidate: side(r.candidate_host, r.candidate_subset, r.candidate_fp),
    primary: side(r.primary_host, r.primary_subset, r.primary_fp),
    mirrorFingerprint: r.mirror_fp,
  };
}
