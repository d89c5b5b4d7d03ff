// Retention: the per-exchange table bounded in rows, the whole file bounded in bytes; aggregates are kept.
import type Database from 'better-sqlite3';

/** Once over maxBytes, trim to this share of it, so the next few batches do not trim again at once. */
const BYTES_LOW_WATER = 0.9;
/** Bounded work per check: enough rounds to go from any size to the target, never an endless loop. */
const MAX_ROUNDS = 32;

export class Retention {
  private readonly trimRows: Database.Statement<[number]>;
  private readonly countExchanges: Database.Statement<[]>;
  private readonly countSamples: Database.Statement<[]>;
  private readonly dropOldestExchanges: Database.Statement<[number]>;
  private readonly dropOldestSamples: Database.Statement<[number]>;
  private readonly countDocs: Database.Statement<[]>;
  private readonly dropOldestDocs: Database.Statement<[number]>;
  private readonly dropOrphanSamples: Database.Statement<[]>;
  private readonly dropOldSeries: Database.Statement<[]>;
  private readonly trimBytesTx: (exchanges: number, samples: number, docs: number) => void;

  constructor(
    private readonly db: Database.Database,
    private readonly maxExchanges: number,
    private readonly maxBytes: number,
  ) {
    this.trimRows = db.prepare('DELETE FROM exchanges WHERE id <= ?');
    this.countExchanges = db.prepare('SELECT coalesce(max(id) - min(id) + 1, 0) AS n FROM exchanges');
    this.countSamples = db.prepare('SELECT count(*) AS n FROM samples');
    this.dropOldestExchanges = db.prepare('DELETE FROM exchanges WHERE id < (SELECT min(id) FROM exchanges) + ?');
    this.dropOldestSamples = db.prepare('DELETE FROM samples WHERE rowid IN (SELECT rowid FROM samples ORDER BY rowid LIMIT ?)');
    this.countDocs = db.prepare('SELECT count(*) AS n FROM sample_docs');
    this.dropOldestDocs = db.prepare('DELETE FROM sample_docs WHERE id IN (SELECT id FROM sample_docs ORDER BY id LIMIT ?)');
    // Docs go oldest id first, so a sample pointing below the oldest kept doc points at nothing.
    this.dropOrphanSamples = db.prepare(
      'DELETE FROM samples WHERE sample_id IS NOT NULL AND sample_id < (SELECT coalesce(min(id), 9007199254740991) FROM sample_docs)',
    );
    // Per-minute series: a day per endpoint and field is plenty for a chart.
    this.dropOldSeries = db.prepare('DELETE FROM series WHERE minute < (SELECT coalesce(max(minute), 0) - 1440 FROM series)');
    this.trimBytesTx = db.transaction((exchanges: number, samples: number, docs: number) => {
      if (exchanges > 0) this.dropOldestExchanges.run(exchanges);
      if (samples > 0) this.dropOldestSamples.run(samples);
      if (docs > 0) {
        this.dropOldestDocs.run(docs);
        this.dropOrphanSamples.run();
      }
      // Gives the freed pages back, so page_count (the size we bound) goes down; plain DELETE only
      // moves them to the freelist.
      this.db.pragma('incremental_vacuum');
    });
  }

  /** Inside record's transaction: keeps the newest maxExchanges rows. A range delete on the primary key. */
  trimToRows(lastId: number): void {
    const keepAfter = lastId - this.maxExchanges;
    if (keepAfter > 0) this.trimRows.run(keepAfter);
  }

  /** Size of the database (page_count × page_size); the WAL is bounded apart, by journal_size_limit. */
  bytes(): number {
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const size = this.db.pragma('page_size', { simple: true }) as number;
    return pages * size;
  }

  trimSeries(): void {
    this.dropOldSeries.run();
  }

  /** Deletes the oldest exchanges and samples, in proportion to the excess, until the file is under the bound. */
  trimToBytes(): void {
    let bytes = this.bytes();
    if (bytes <= this.maxBytes) return;
    const target = this.maxBytes * BYTES_LOW_WATER;
    for (let round = 0; round < MAX_ROUNDS && bytes > target; round++) {
      const exchanges = (this.countExchanges.get() as { n: number }).n;
      const samples = (this.countSamples.get() as { n: number }).n;
      const docs = (this.countDocs.get() as { n: number }).n;
      if (exchanges === 0 && samples === 0 && docs === 0) return; // only aggregates left: runs bound them
      // Overshoot a little (and at least 5%): pages are freed only when emptied, so the size falls behind the rows.
      const share = Math.min(1, Math.max(0.05, ((bytes - target) / bytes) * 1.25));
      this.trimBytesTx(Math.ceil(exchanges * share), Math.ceil(samples * share), Math.ceil(docs * share));
      bytes = this.bytes();
    }
  }
}
