// The store's SQLite schema, how a file is recognised as a Shadowgate store, and how it is created or opened.
import Database from 'better-sqlite3';
import { StoreError } from './errors.js';

/** `PRAGMA application_id`: 'SGAT'. Marks the file as ours in its header, so `file(1)` and we can tell. */
export const APPLICATION_ID = 0x53474154;
/** `PRAGMA user_version`: bump it and add a step to MIGRATIONS whenever the schema changes. */
export const SCHEMA_VERSION = 2;

/**
 * Aggregates (endpoints, latency, fields, field_kinds) grow with the number of distinct endpoints and
 * fields, not with traffic, and are never trimmed. samples and exchanges grow with traffic and are what
 * retention deletes, oldest first.
 */
const SCHEMA_V1 = `
CREATE TABLE endpoints (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  compared INTEGER NOT NULL DEFAULT 0,
  with_secondary INTEGER NOT NULL DEFAULT 0,
  primary_errors INTEGER NOT NULL DEFAULT 0,
  candidate_errors INTEGER NOT NULL DEFAULT 0
);
-- side: 0 primary, 1 candidate; bucket: see histogram.ts.
CREATE TABLE latency (
  endpoint_id INTEGER NOT NULL,
  side INTEGER NOT NULL,
  bucket INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (endpoint_id, side, bucket)
) WITHOUT ROWID;
CREATE TABLE fields (
  id INTEGER PRIMARY KEY,
  endpoint_id INTEGER NOT NULL,
  field TEXT NOT NULL,
  candidate_diffs INTEGER NOT NULL DEFAULT 0,
  secondary_diffs INTEGER NOT NULL DEFAULT 0,
  UNIQUE (endpoint_id, field)
);
CREATE TABLE field_kinds (
  field_id INTEGER NOT NULL,
  kind TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (field_id, kind)
) WITHOUT ROWID;
-- A rowid table on purpose: INSERT OR REPLACE gives a replaced slot a new, higher rowid, so rowid order
-- is write order and byte retention can delete the oldest samples without another index.
CREATE TABLE samples (
  field_id INTEGER NOT NULL,
  slot INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  left_value TEXT,
  right_value TEXT,
  PRIMARY KEY (field_id, slot)
);
-- id order is arrival order; ids stay contiguous (only the oldest are deleted), so max(id) - min(id) + 1 counts rows.
CREATE TABLE exchanges (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  endpoint_id INTEGER NOT NULL,
  request_id TEXT NOT NULL,
  primary_status INTEGER NOT NULL,
  primary_ms REAL NOT NULL,
  candidate_status INTEGER,
  candidate_ms REAL,
  secondary_status INTEGER,
  secondary_ms REAL,
  diffs INTEGER NOT NULL
);
`;

/**
 * Version 2: runs. Every aggregate belongs to a run (one candidate against one primary on one route), so a new
 * candidate is never judged on an old one's data. What a version-1 store held becomes one ended run, "before
 * runs", kept and readable but never the default. Also: whole redacted exchanges as samples (sample_docs,
 * shared by the per-field reservoirs), per-minute series, time-like counts and an example per field.
 */
const V1_TO_V2 = `
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  route TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  candidate_host TEXT NOT NULL,
  candidate_subset TEXT,
  candidate_fp TEXT NOT NULL,
  primary_host TEXT NOT NULL,
  primary_subset TEXT,
  primary_fp TEXT NOT NULL,
  mirror_fp TEXT NOT NULL,
  reason TEXT NOT NULL,
  note TEXT,
  started_at INTEGER NOT NULL,
  ended_at INTEGER
);
CREATE INDEX runs_open ON runs (route) WHERE ended_at IS NULL;
INSERT INTO runs (id, route, fingerprint, candidate_host, candidate_fp, primary_host, primary_fp, mirror_fp, reason, note, started_at, ended_at)
  SELECT 1, '(before runs)', '', '', '', '', '', '', 'started', 'recorded before Shadowgate kept runs',
    coalesce((SELECT min(at) FROM exchanges), 0), coalesce((SELECT max(at) FROM exchanges), 0)
  WHERE EXISTS (SELECT 1 FROM endpoints);
ALTER TABLE endpoints RENAME TO endpoints_v1;
CREATE TABLE endpoints (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  eid TEXT NOT NULL,
  compared INTEGER NOT NULL DEFAULT 0,
  with_secondary INTEGER NOT NULL DEFAULT 0,
  primary_errors INTEGER NOT NULL DEFAULT 0,
  candidate_errors INTEGER NOT NULL DEFAULT 0,
  UNIQUE (run_id, name)
);
INSERT INTO endpoints (id, run_id, name, eid, compared, with_secondary, primary_errors, candidate_errors)
  SELECT id, 1, name, 'e' || id, compared, with_secondary, primary_errors, candidate_errors FROM endpoints_v1;
DROP TABLE endpoints_v1;
CREATE INDEX endpoints_eid ON endpoints (run_id, eid);
ALTER TABLE fields ADD COLUMN time_like INTEGER NOT NULL DEFAULT 0;
ALTER TABLE fields ADD COLUMN example TEXT;
ALTER TABLE samples ADD COLUMN sample_id INTEGER;
CREATE INDEX samples_doc ON samples (sample_id);
CREATE TABLE sample_docs (
  id INTEGER PRIMARY KEY,
  endpoint_id INTEGER NOT NULL,
  at INTEGER NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX sample_docs_endpoint ON sample_docs (endpoint_id, id);
-- field '' is the endpoint's compared count; any other field its differences. minute: epoch minutes.
CREATE TABLE series (
  endpoint_id INTEGER NOT NULL,
  field TEXT NOT NULL,
  minute INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (endpoint_id, field, minute)
) WITHOUT ROWID;
ALTER TABLE exchanges ADD COLUMN run_id INTEGER NOT NULL DEFAULT 1;
-- One histogram per endpoint and side (counts per bucket, uint32 little-endian, up to the last non-empty
-- bucket): a verdict over 1,000 endpoints reads 2,000 rows, not a row per bucket (~100,000). Version-1 rows
-- stay in latency and are read with these.
CREATE TABLE latency_hist (
  endpoint_id INTEGER NOT NULL,
  side INTEGER NOT NULL,
  counts BLOB NOT NULL,
  PRIMARY KEY (endpoint_id, side)
) WITHOUT ROWID;
`;

/** Version 1 as it was written, so a test can make an old store and watch it upgrade. */
export const SCHEMA_V1_FOR_TESTS = SCHEMA_V1;

/** MIGRATIONS[v] takes a store from schema v to v + 1; a new store runs them all after SCHEMA_V1. */
const MIGRATIONS: Record<number, string> = { 1: V1_TO_V2 };

export type Synchronous = 'NORMAL' | 'FULL';

export interface ConnectOptions {
  readonly: boolean;
  synchronous: Synchronous;
  busyTimeoutMs: number;
  /** What a checkpoint truncates the WAL file back to. */
  walLimitBytes: number;
}

function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Opens `file`, creating the schema when it is new and writable, and checks that it is a Shadowgate store. */
export function connect(file: string, opts: ConnectOptions): Database.Database {
  // SQLite answers SQLITE_BUSY at once, without its busy handler, in a few places a new file passes through
  // while another process creates it (the switch to WAL, a read that finds the journal mode changed under it):
  // seen on Node 24's better-sqlite3 build, 1 opening in 18 with six threads. Those are retried whole, within
  // the busy timeout; any other error is final.
  const deadline = Date.now() + opts.busyTimeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return connectOnce(file, opts);
    } catch (err) {
      const busy = err instanceof StoreError && (sqliteCode(err.cause)?.startsWith('SQLITE_BUSY') ?? false);
      if (!busy || Date.now() >= deadline) throw err;
      sleepSync(Math.min(5 * attempt, 50));
    }
  }
}

/** A short synchronous pause (opening the store is synchronous, at start or in the comparison worker). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function connectOnce(file: string, opts: ConnectOptions): Database.Database {
  let db: Database.Database;
  try {
    // fileMustExist for readers: a reader that created an empty file would only fail later, less clearly.
    db = new Database(file, { readonly: opts.readonly, fileMustExist: opts.readonly, timeout: opts.busyTimeoutMs });
  } catch (err) {
    throw new StoreError('STORE_OPEN_FAILED', file, `cannot open: ${reasonOf(err)}`, { cause: err });
  }
  try {
    prepare(db, file, opts);
    return db;
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    const code = sqliteCode(err);
    if (code === 'SQLITE_NOTADB') {
      throw new StoreError('STORE_NOT_SHADOWGATE', file, 'not a Shadowgate store: not an SQLite database', { cause: err });
    }
    throw new StoreError('STORE_OPEN_FAILED', file, `cannot open: ${reasonOf(err)}${code ? ` (${code})` : ''}`, { cause: err });
  }
}

/**
 * The three header facts read in one read transaction: one snapshot. Read one by one, another process creating
 * the store could commit in between, and this one would see tables but application_id 0 (issue 15, item 11:
 * "not a Shadowgate store" one start in six with two workers on a new file).
 */
function header(db: Database.Database): { appId: number; version: number; objects: number } {
  return db.transaction(() => ({
    appId: db.pragma('application_id', { simple: true }) as number,
    version: db.pragma('user_version', { simple: true }) as number,
    objects: (db.prepare('SELECT count(*) AS n FROM sqlite_schema').get() as { n: number }).n,
  }))();
}

function prepare(db: Database.Database, file: string, opts: ConnectOptions): void {
  let h = header(db);
  if (h.appId === 0 && h.version === 0 && h.objects === 0) {
    if (opts.readonly) {
      throw new StoreError('STORE_NOT_SHADOWGATE', file, 'not a Shadowgate store: the database is empty (open it for writing once to create it)');
    }
    create(db);
    h = header(db);
  }
  if (h.appId !== APPLICATION_ID) {
    throw new StoreError(
      'STORE_NOT_SHADOWGATE',
      file,
      `not a Shadowgate store: an SQLite database with application_id ${h.appId}, not ${APPLICATION_ID} ('SGAT')`,
    );
  }
  if (h.version > SCHEMA_VERSION) {
    throw new StoreError('STORE_SCHEMA_TOO_NEW', file, `schema version ${h.version} was written by a newer Shadowgate; this one reads up to ${SCHEMA_VERSION}`);
  }
  if (h.version < SCHEMA_VERSION) {
    if (opts.readonly) {
      throw new StoreError('STORE_OPEN_FAILED', file, `schema version ${h.version} needs an upgrade to ${SCHEMA_VERSION}; open it for writing first`);
    }
    migrate(db, file);
  }
  if (!opts.readonly) {
    // WAL: readers (the verdict command) never block the writer, and a commit is one append to the WAL.
    // synchronous=NORMAL syncs the WAL at checkpoints, not at every commit: a process crash (even SIGKILL)
    // loses nothing committed, because committed frames are already in the OS page cache; only an OS crash
    // or power cut may lose the last few transactions, never corrupt the file. FULL also syncs each commit.
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous}`);
    db.pragma(`journal_size_limit = ${Math.floor(opts.walLimitBytes)}`);
  }
}

function create(db: Database.Database): void {
  // Before the first table exists, or it cannot be switched on without a VACUUM: lets byte retention
  // give freed pages back so the file really shrinks (see retention.ts).
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  // IMMEDIATE, and look again inside: two processes creating the same new file must not both create it.
  db.transaction(() => {
    if (header(db).objects !== 0) return;
    db.exec(SCHEMA_V1);
    for (let v = 1; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

function migrate(db: Database.Database, file: string): void {
  db.transaction(() => {
    for (let v = db.pragma('user_version', { simple: true }) as number; v < SCHEMA_VERSION; v++) {
      const step = MIGRATIONS[v];
      if (step === undefined) throw new StoreError('STORE_OPEN_FAILED', file, `no migration from schema version ${v}`);
      db.exec(step);
      db.pragma(`user_version = ${v + 1}`);
    }
  }).immediate();
}
