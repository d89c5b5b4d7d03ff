// The comparison pipeline's front: collects exchanges from the data path into a bounded queue and ships them
// in batches to a worker thread. A full queue drops (and counts) the exchange; the primary never waits.
import { Worker } from 'node:worker_threads';
import type { CompareSettings } from '../config/index.js';
import { analyze, type EndpointStats, type Exchange, type Sample, type Verdict } from '../compare/index.js';
import { ByteBudget } from '../mirror/index.js';
import { CompareStore } from '../store/index.js';
import type { Metrics } from '../telemetry/index.js';
import { ExchangeBuilder } from './exchange.js';
import type { WorkerReply, WorkerRequest } from './worker.js';

/** Captured body bytes held across all exchanges still waiting for their answers. */
const CAPTURE_BUDGET_BYTES = 64 * 1024 * 1024;
const BATCH_SIZE = 64;
/**
 * A partial batch waits this long for company. One message per exchange would cost the data path a
 * structured clone and a thread wake-up each (measured: most of comparison's cost on a busy 2-core machine).
 */
const SHIP_AFTER_MS = 50;
const SKIPPED = Object.freeze({ result: 'skipped' });
const DROPPED = Object.freeze({ result: 'dropped' });

export interface ComparatorOptions {
  file: string;
  settings: CompareSettings;
  metrics: Metrics;
}

export class Comparator {
  private settings: CompareSettings;
  readonly budget = new ByteBudget(CAPTURE_BUDGET_BYTES);
  private queue: Exchange[] = [];
  /** Exchanges posted to the worker and not yet written. */
  private posted = 0;
  private nextId = 1;
  private readonly waiting = new Map<number, { size: number; resolve: () => void; done: Promise<void> }>();
  private scheduled: NodeJS.Timeout | undefined;
  private reader: CompareStore | undefined;
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    readonly file: string,
    private readonly metrics: Metrics,
    settings: CompareSettings,
  ) {
    this.settings = settings;
    this.tokens = settings.maxPerSecond;
    worker.on('message', (msg: WorkerReply) => {
      if (msg.type !== 'done') return;
      const w = this.waiting.get(msg.id);
      this.waiting.delete(msg.id);
      this.posted -= w?.size ?? 0;
      this.metrics.compareExchanges.inc({ result: 'compared' }, msg.compared);
      this.metrics.compareExchanges.inc({ result: 'ignored' }, msg.ignored);
      this.metrics.compareExchanges.inc({ result: 'failed' }, msg.failed);
      this.metrics.compareQueue.set(this.queue.length + this.posted);
      w?.resolve();
    });
    worker.on('error', (err) => {
      process.stderr.write(`shadowgate: comparison worker failed: ${err.message}\n`);
    });
  }

  /** Starts the worker and opens the store (a clear error if the file cannot be a store). */
  static async open(opts: ComparatorOptions): Promise<Comparator> {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { file: opts.file, rules: opts.settings } });
    const first = await new Promise<WorkerReply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (first.type === 'error') {
      await worker.terminate();
      throw new Error(`cannot open the comparison store ${opts.file}: ${first.message}`);
    }
    worker.unref();
    return new Comparator(worker, opts.file, opts.metrics, opts.settings);
  }

  configure(settings: CompareSettings): void {
    this.settings = settings;
    this.worker.postMessage({ type: 'configure', rules: settings } satisfies WorkerRequest);
  }

  get enabled(): boolean {
    return this.settings.enabled && !this.closed;
  }

  /** Token bucket: a verdict needs a sample, not every request; under heavy load the rest go uncompared. */
  private tokens = 0;
  private refilled = performance.now();

  private admit(): boolean {
    const rate = this.settings.maxPerSecond;
    const now = performance.now();
    this.tokens = Math.min(rate, this.tokens + ((now - this.refilled) / 1000) * rate);
    this.refilled = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  /** A builder for one mirrored request's exchange, or undefined when comparison is off (or over its rate). */
  begin(base: () => Omit<Exchange, 'primary' | 'candidate' | 'secondary'>): ExchangeBuilder | undefined {
    if (!this.enabled) return undefined;
    if (!this.admit()) {
      this.metrics.compareExchanges.inc(SKIPPED);
      return undefined;
    }
    // Built only when admitted: most requests under load are not compared and should allocate nothing here.
    return new ExchangeBuilder(base(), (ex) => this.enqueue(ex), this.settings.maxBodyBytes, this.budget);
  }

  private enqueue(ex: Exchange): void {
    if (this.closed) return;
    if (this.queue.length + this.posted >= this.settings.queueSize) {
      this.metrics.compareExchanges.inc(DROPPED);
      return;
    }
    this.queue.push(ex);
    if (this.queue.length >= BATCH_SIZE) this.ship();
    else if (!this.scheduled) {
      this.scheduled = setTimeout(() => this.ship(), SHIP_AFTER_MS);
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

  private store(): CompareStore {
    this.reader ??= CompareStore.open(this.file, { readonly: true });
    return this.reader;
  }

  async endpoints(): Promise<EndpointStats[]> {
    await this.flush();
    return this.store().endpoints();
  }

  async samples(endpoint: string, field: string, limit?: number): Promise<Sample[]> {
    await this.flush();
    return this.store().samples(endpoint, field, limit);
  }

  async verdict(): Promise<Verdict> {
    return analyze(await this.endpoints(), this.settings.thresholds);
  }

  async reset(): Promise<void> {
    await this.flush();
    await this.send((id) => ({ type: 'reset', id }), 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    this.reader?.close();
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
