// The comparison pipeline's front: collects exchanges from the data path into a bounded queue and ships them
// in batches to a worker thread, which compares, stores and answers queries. A full queue drops (and counts)
// the exchange; the primary never waits, and no query is computed on this thread.
import { Worker } from 'node:worker_threads';
import type { EndpointStats, Exchange, VerdictReport } from '../compare/index.js';
import type { CompareSettings, Route, Snapshot } from '../config/index.js';
import type { CompareStoreOptions } from '../store/index.js';
import type { Metrics } from '../telemetry/index.js';
import { ByteBudget } from '../util/byte-budget.js';
import { ExchangeBuilder } from './exchange.js';
import type { Answer, Query } from './queries.js';
import { runIdentities, runRouteKey } from './runs.js';
import type { StoreFailure, WorkerReply, WorkerRequest } from './worker.js';

/**
 * What the data path knows of an exchange before its answers, built only when the exchange is admitted (an object
 * with a method rather than a closure, which would keep the request alive through young-generation GCs).
 */
export interface ExchangeSource {
  build(): Omit<Exchange, 'primary' | 'candidate' | 'secondary'>;
}

/** Captured body bytes held across all exchanges still waiting for their answers. */
const CAPTURE_BUDGET_BYTES = 64 * 1024 * 1024;
const BATCH_SIZE = 64;
/**
 * A partial batch waits this long for company. One message per exchange would cost the data path a
 * structured clone and a thread wake-up each (measured: most of comparison's cost on a busy 2-core machine), and
 * each batch is one store transaction, whose cost hardly depends on its size: at the default 250 exchanges a
 * second, 250 ms (batches of ~60) cost 2.5 µs less CPU per request at 5,000 req/s than 50 ms (batches of ~12).
 * Queries ship what is queued first, so nothing a query answers waits for it.
 */
const SHIP_AFTER_MS = 250;
/** A query the worker has not answered in this time answers 503 (the worker is stuck behind a huge batch). */
const QUERY_TIMEOUT_MS = 30_000;
/** A store failure is logged again after this long at the earliest... */
const RELOG_AFTER_MS = 10 * 60_000;
/** ...and "written again" once writes have worked this long since the last failure. */
const RECOVERED_AFTER_MS = 60_000;
const SKIPPED = Object.freeze({ result: 'skipped' });
const DROPPED = Object.freeze({ result: 'dropped' });
const IGNORED = Object.freeze({ result: 'ignored' });

export interface ComparatorOptions {
  file: string;
  settings: CompareSettings;
  metrics: Metrics;
  /** Store options (tests bound the store's size with maxPageCount to play a full disk). */
  storeOptions?: CompareStoreOptions;
  /** Operational messages (a store that cannot be written); stderr by default. */
  log?: (line: string) => void;
  /**
   * This process's share of `maxPerSecond` (1/N with --workers N): the rate is the gateway's, not each
   * worker's, so N workers compare what one would, and cost no more for it.
   */
  share?: number;
}

type RunTag = { route: string; fingerprint: string; candidate: { host: string; subset: string } };

export class Comparator {
  private settings: CompareSettings;
  readonly budget = new ByteBudget(CAPTURE_BUDGET_BYTES);
  private queue: Exchange[] = [];
  /** Exchanges posted to the worker and not yet written. */
  private posted = 0;
  private nextId = 1;
  private readonly waiting = new Map<number, { size: number; resolve: () => void; done: Promise<void> }>();
  private readonly asked = new Map<number, (a: Answer) => void>();
  private scheduled: NodeJS.Timeout | undefined;
  private closed = false;
  /** The run each route's exchanges belong to, for the snapshot being served. */
  private runOf = new WeakMap<Route, RunTag>();
  /** When each store failure was last logged, and when the last one happened (see storeFailed). */
  private readonly failing = new Map<StoreFailure, number>();
  private lastFailure = 0;
  private readonly log: (line: string) => void;

  private constructor(
    private readonly worker: Worker,
    readonly file: string,
    private readonly metrics: Metrics,
    settings: CompareSettings,
    log: ((line: string) => void) | undefined,
    private readonly share: number,
  ) {
    this.settings = settings;
    this.tokens = Math.max(1, this.rate());
    this.log = log ?? ((line) => process.stderr.write(`${line}\n`));
    worker.on('message', (msg: WorkerReply) => this.onReply(msg));
    worker.on('error', (err) => {
      this.log(`shadowgate: comparison worker failed: ${err.message}`);
    });
  }

  private onReply(msg: WorkerReply): void {
    if (msg.type === 'answer') {
      this.asked.get(msg.id)?.(msg.answer);
      this.asked.delete(msg.id);
      return;
    }
    if (msg.type === 'store') {
      if (!msg.ok && msg.reason) this.storeFailed(msg.reason, msg.message ?? '');
      return;
    }
    if (msg.type !== 'done') return;
    const w = this.waiting.get(msg.id);
    this.waiting.delete(msg.id);
    this.posted -= w?.size ?? 0;
    const m = this.metrics;
    m.compareExchanges.inc({ result: 'compared' }, msg.compared);
    m.compareExchanges.inc({ result: 'ignored' }, msg.ignored);
    m.compareExchanges.inc({ result: 'failed' }, msg.failed);
    m.compareExchanges.inc({ result: 'stale' }, msg.stale);
    if (msg.otherEndpoints > 0) m.compareOverflow.inc({ bucket: 'endpoint' }, msg.otherEndpoints);
    if (msg.otherFields > 0) m.compareOverflow.inc({ bucket: 'field' }, msg.otherFields);
    if (msg.storeError) this.storeFailed(msg.storeError.reason, msg.storeError.message);
    else if (msg.compared > 0 && this.failing.size > 0 && performance.now() - this.lastFailure > RECOVERED_AFTER_MS) {
      this.failing.clear();
      this.log(`shadowgate: the comparison store ${this.file} is written again`);
    }
    m.compareQueue.set(this.queue.length + this.posted);
    w?.resolve();
  }

  /**
   * Counted every time; logged once per reason (again only after ten minutes, or after writes have worked for a
   * minute: a nearly full disk lets some batches through, and flapping must not flood the log). Traffic never
   * notices: the data path only ever enqueues.
   */
  private storeFailed(reason: StoreFailure, message: string): void {
    this.metrics.compareStoreErrors.inc({ reason });
    const now = performance.now();
    this.lastFailure = now;
    const logged = this.failing.get(reason);
    if (logged !== undefined && now - logged < RELOG_AFTER_MS) return;
    this.failing.set(reason, now);
    const why = reason === 'disk_full' ? 'the disk (or the store) is full' : message;
    this.log(
      `shadowgate: warning: cannot write the comparison store ${this.file}: ${why}; comparisons are dropped and counted ` +
        `(shadowgate_compare_store_errors_total{reason="${reason}"}) until it can be written; traffic is not affected`,
    );
  }

  /** Starts the worker and opens the store (a clear error if the file cannot be a store). */
  static async open(opts: ComparatorOptions): Promise<Comparator> {
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { file: opts.file, settings: opts.settings, storeOptions: opts.storeOptions },
    });
    const first = await new Promise<WorkerReply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (first.type === 'error') {
      await worker.terminate();
      throw new Error(`cannot open the comparison store ${opts.file}: ${first.message}`);
    }
    worker.unref();
    return new Comparator(worker, opts.file, opts.metrics, opts.settings, opts.log, opts.share ?? 1);
  }

  /** A new snapshot: its compare settings, and the runs its mirrored routes make (see runs.ts and store/runs.ts). */
  apply(snapshot: Snapshot): void {
    const identities = runIdentities(snapshot);
    const byKey = new Map(
      identities.map((id) => [
        id.route,
        { route: id.route, fingerprint: id.fingerprint, candidate: { host: id.candidate.host, subset: id.candidate.subset ?? '' } },
      ]),
    );
    const runOf = new WeakMap<Route, RunTag>();
    for (const l of snapshot.listeners) {
      for (const vh of l.virtualHosts) {
        for (const route of vh.routes) {
          const tag = byKey.get(runRouteKey(route));
          if (tag) runOf.set(route, tag);
        }
      }
    }
    // Exchanges still queued were made under the old snapshot: ship them before the worker syncs the runs.
    void this.ship();
    this.runOf = runOf;
    this.settings = snapshot.settings.compare;
    this.worker.postMessage({ type: 'configure', settings: snapshot.settings.compare, runs: identities } satisfies WorkerRequest);
  }

  get enabled(): boolean {
    return this.settings.enabled && !this.closed;
  }

  /** Token bucket: a verdict needs a sample, not every request; under heavy load the rest go uncompared. */
  private tokens = 0;
  private refilled = performance.now();

  private rate(): number {
    return this.settings.maxPerSecond * this.share;
  }

  private admit(): boolean {
    const rate = this.rate();
    const now = performance.now();
    // At least one token of room: a share below 1 a second still admits one now and then.
    this.tokens = Math.min(Math.max(1, rate), this.tokens + ((now - this.refilled) / 1000) * rate);
    this.refilled = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  /** A builder for one mirrored request's exchange, or undefined when comparison is off (or over its rate). */
  begin(base: ExchangeSource, route?: Route, candidate?: { host: string; subset: string }): ExchangeBuilder | undefined {
    if (!this.enabled) return undefined;
    const run = route === undefined ? undefined : this.runOf.get(route);
    // Another candidate than the run's fired on this request (several mirrors, some not every time): it
    // belongs to no run, and comparing it would mix two candidates in one.
    if (run && candidate && (candidate.host !== run.candidate.host || candidate.subset !== run.candidate.subset)) {
      this.metrics.hot.compareExchanges.inc(IGNORED);
      return undefined;
    }
    if (!this.admit()) {
      this.metrics.hot.compareExchanges.inc(SKIPPED);
      return undefined;
    }
    // Built only when admitted: most requests under load are not compared and should allocate nothing here.
    const ex = base.build();
    if (run) ex.run = { route: run.route, fingerprint: run.fingerprint };
    return new ExchangeBuilder(ex, (done) => this.enqueue(done), this.settings.maxBodyBytes, this.budget);
  }

  private enqueue(ex: Exchange): void {
    if (this.closed) return;
    if (this.queue.length + this.posted >= this.settings.queueSize) {
      this.metrics.hot.compareExchanges.inc(DROPPED);
      return;
    }
    this.queue.push(ex);
    if (this.queue.length >= BATCH_SIZE) void this.ship();
    else if (!this.scheduled) {
      this.scheduled = setTimeout(() => void this.ship(), SHIP_AFTER_MS);
      this.scheduled.unref();
    }
  }

  private ship(): Promise<void> {
    clearTimeout(this.scheduled);
    this.scheduled = undefined;
    this.metrics.compareQueue.set(this.queue.length + this.posted);
    if (this.queue.length === 0) return Promise.resolve();
    const exchanges = this.queue;
    this.queue = [];
    this.posted += exchanges.length;
    return this.send((id) => ({ type: 'batch', id, exchanges }), exchanges.length);
  }

  /** Posts one request to the worker; resolves when the worker says it is done. */
  private send(make: (id: number) => WorkerRequest, size: number): Promise<void> {
    const id = this.nextId++;
    let resolve!: () => void;
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    this.waiting.set(id, { size, resolve, done });
    this.worker.postMessage(make(id));
    return done;
  }

  /** Resolves once everything queued so far is written to the store. */
  async flush(): Promise<void> {
    await this.ship();
    await Promise.all([...this.waiting.values()].map((w) => w.done));
  }

  /**
   * Asks the worker (after what is queued so far, so an answer includes every exchange finished before it).
   * The answer's JSON text is made there: nothing here parses, judges or serializes.
   */
  query(q: Query): Promise<Answer> {
    if (this.closed) return Promise.resolve({ status: 503, body: JSON.stringify({ error: 'comparison is shutting down' }) });
    void this.ship();
    const id = this.nextId++;
    return new Promise<Answer>((resolve) => {
      const timer = setTimeout(() => {
        this.asked.delete(id);
        resolve({ status: 503, body: JSON.stringify({ error: 'the comparison worker did not answer in time' }) });
      }, QUERY_TIMEOUT_MS);
      timer.unref();
      this.asked.set(id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      this.worker.postMessage({ type: 'query', id, query: q } satisfies WorkerRequest);
    });
  }

  /** Raw aggregates of the newest run (or `run`): the demo and tests. */
  async endpoints(run?: string): Promise<EndpointStats[]> {
    const a = await this.query(run === undefined ? { kind: 'stats' } : { kind: 'stats', run });
    return (JSON.parse(a.body) as { endpoints: EndpointStats[] }).endpoints;
  }

  /** The default verdict (the latest run of each candidate), as /api/verdict serves it. */
  async verdict(): Promise<VerdictReport> {
    return JSON.parse((await this.query({ kind: 'verdict' })).body) as VerdictReport;
  }

  async reset(): Promise<void> {
    await this.flush();
    await this.send((id) => ({ type: 'reset', id }), 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    for (const [, resolve] of this.asked) resolve({ status: 503, body: JSON.stringify({ error: 'comparison is shutting down' }) });
    this.asked.clear();
    this.worker.postMessage({ type: 'close' } satisfies WorkerRequest);
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => void this.worker.terminate().then(() => resolve()), 2_000);
      this.worker.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
