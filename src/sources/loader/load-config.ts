// Loads the config in a worker thread with a memory limit and a time budget: whatever the files hold, the
// serving thread only waits for a message, and a load past its budget is refused instead of taking the process.
import { Worker } from 'node:worker_threads';
import type { Problem, RawResource, Snapshot } from '../../config/index.js';
import type { LoadRequest, PlainResource, WorkerAnswer } from './protocol.js';

export interface LoadBudget {
  /** Wall time for reading, parsing and checking everything (the worker is terminated after it). */
  timeoutMs: number;
  /** V8 old-generation heap of the worker, MiB (Worker `resourceLimits.maxOldGenerationSizeMb`). */
  maxHeapMb: number;
}

/**
 * 10,000 resources (2 MB of YAML) load in about 2.4 s on a quiet 2-core machine and 7–9 s on the same machine
 * at a load average of 13: the time limit leaves room for a busy host, the heap limit is what stops a bomb.
 */
export const DEFAULT_LOAD_BUDGET: LoadBudget = Object.freeze({ timeoutMs: 30_000, maxHeapMb: 512 });

export interface LoadInput {
  files: readonly string[];
  extraProblems?: readonly Problem[];
  extraResources?: readonly RawResource[];
  currentHash?: string | undefined;
  /** The GatewayClass controllerName Shadowgate answers to. */
  gatewayController?: string | undefined;
}

export type LoadOutcome =
  /** `snapshot` is absent when its hash equals `currentHash`. */
  /** `resources` (with their status) and `problems` come with every load: they can change while the routing does not. */
  | { type: 'loaded'; hash: string; problems: Problem[]; resources: Snapshot['resources']; files: string[]; snapshot?: Snapshot }
  | { type: 'refused'; reason: 'timeout' | 'memory' | 'failed'; message: string };

/**
 * One loader thread, kept between loads and replaced after one that it could not finish (past its time, out of
 * its heap, crashed). Loads run one at a time, in the order asked. The thread never keeps the process alive.
 */
export class ConfigLoader {
  private worker: Worker | undefined;
  /** Loads the current thread has done. */
  private uses = 0;
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly budget: LoadBudget = DEFAULT_LOAD_BUDGET) {}

  load(input: LoadInput): Promise<LoadOutcome> {
    const next = this.queue.then(() => this.loadNow(input));
    this.queue = next.catch(() => {});
    return next;
  }

  /** Stops the thread (a later load starts another). */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }

  private loadNow(input: LoadInput): Promise<LoadOutcome> {
    const budget = this.budget;
    const request: LoadRequest = {
      id: this.nextId++,
      files: [...input.files],
      extraProblems: [...(input.extraProblems ?? [])],
      extraResources: (input.extraResources ?? []).map(({ locate: _locate, ...plain }): PlainResource => plain),
      currentHash: input.currentHash,
      gatewayController: input.gatewayController,
    };
    return new Promise((resolve) => {
      let worker: Worker;
      try {
        if (this.closed) throw new Error('the loader is closed');
        if (!this.worker) {
          this.worker = startWorker(budget);
          this.uses = 0;
        }
        worker = this.worker;
        worker.postMessage(request);
      } catch (err) {
        // No thread to be had (out of memory, out of file descriptors), or a request that cannot be copied.
        resolve({ type: 'refused', reason: 'failed', message: `cannot run the config loader: ${(err as Error).message}` });
        return;
      }
      const finish = (outcome: LoadOutcome, failed: boolean) => {
        clearTimeout(timer);
        // V8 grows a worker's heap lazily toward its limit (about 30 MiB more RSS per 1,000 small loads here):
        // a fresh thread every RECYCLE_AFTER loads keeps a gateway that reloads on every endpoint change lean.
        const retire = failed || ++this.uses >= RECYCLE_AFTER;
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        if (retire) {
          if (this.worker === worker) this.worker = undefined;
          void worker.terminate();
        }
        resolve(outcome);
      };
      const onMessage = (answer: WorkerAnswer) => {
        if (answer.id !== request.id) return;
        if (answer.type === 'failed') finish({ type: 'refused', reason: 'failed', message: `the config loader failed: ${answer.message}` }, false);
        else
          finish(
            {
              type: 'loaded',
              hash: answer.hash,
              problems: answer.problems,
              resources: answer.resources,
              files: answer.files,
              ...(answer.snapshot ? { snapshot: deepFreeze(answer.snapshot) } : {}),
            },
            false,
          );
      };
      const onError = (err: Error & { code?: string }) => {
        if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
          finish({ type: 'refused', reason: 'memory', message: `loading the config needed more than ${budget.maxHeapMb} MiB of heap` }, true);
        } else finish({ type: 'refused', reason: 'failed', message: `the config loader failed: ${err.message}` }, true);
      };
      const onExit = (code: number) => finish({ type: 'refused', reason: 'failed', message: `the config loader exited (${code}) without an answer` }, true);
      const timer = setTimeout(
        () => finish({ type: 'refused', reason: 'timeout', message: `loading the config took longer than ${budget.timeoutMs} ms` }, true),
        budget.timeoutMs,
      );
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
    });
  }
}

const RECYCLE_AFTER = 100;

/** One load with a loader of its own (`validate`, tests). */
export async function loadConfig(input: LoadInput, budget: LoadBudget = DEFAULT_LOAD_BUDGET): Promise<LoadOutcome> {
  const loader = new ConfigLoader(budget);
  try {
    return await loader.load(input);
  } finally {
    await loader.close();
  }
}

function startWorker(budget: LoadBudget): Worker {
  const worker = new Worker(new URL('./worker.js', import.meta.url), {
    resourceLimits: { maxOldGenerationSizeMb: budget.maxHeapMb, maxYoungGenerationSizeMb: Math.min(64, Math.max(8, budget.maxHeapMb / 8)) },
    // The worker's output is the message; nothing it prints belongs on the gateway's stderr.
    stdout: true,
    stderr: true,
  });
  worker.unref();
  return worker;
}

/** A structured clone is not frozen: the served snapshot is immutable again before anyone sees it. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
