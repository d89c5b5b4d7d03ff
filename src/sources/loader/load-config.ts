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
}

export type LoadOutcome =
  /** `snapshot` is absent when its hash equals `currentHash`. */
  | { type: 'loaded'; hash: string; problems: Problem[]; files: string[]; snapshot?: Snapshot }
  | { type: 'refused'; reason: 'timeout' | 'memory' | 'failed'; message: string };

export function loadConfig(input: LoadInput, budget: LoadBudget = DEFAULT_LOAD_BUDGET): Promise<LoadOutcome> {
  const request: LoadRequest = {
    files: [...input.files],
    extraProblems: [...(input.extraProblems ?? [])],
    extraResources: (input.extraResources ?? []).map(({ locate: _locate, ...plain }): PlainResource => plain),
    currentHash: input.currentHash,
  };
  return new Promise((resolve) => {
    let settled = false;
    let worker: Worker;
    try {
      worker = startWorker(request, budget);
    } catch (err) {
      // No thread to be had (out of memory, out of file descriptors): refused like any failed load.
      resolve({ type: 'refused', reason: 'failed', message: `cannot start the config loader: ${(err as Error).message}` });
      return;
    }
    const finish = (outcome: LoadOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      resolve(outcome);
    };
    const timer = setTimeout(
      () => finish({ type: 'refused', reason: 'timeout', message: `loading the config took longer than ${budget.timeoutMs} ms` }),
      budget.timeoutMs,
    );
    worker.once('message', (answer: WorkerAnswer) => {
      if (answer.type === 'failed') finish({ type: 'refused', reason: 'failed', message: `the config loader failed: ${answer.message}` });
      else finish({ ...answer, ...(answer.snapshot ? { snapshot: deepFreeze(answer.snapshot) } : {}) });
    });
    worker.once('error', (err: Error & { code?: string }) => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        finish({ type: 'refused', reason: 'memory', message: `loading the config needed more than ${budget.maxHeapMb} MiB of heap` });
      } else finish({ type: 'refused', reason: 'failed', message: `the config loader failed: ${err.message}` });
    });
    worker.once('exit', (code) => finish({ type: 'refused', reason: 'failed', message: `the config loader exited (${code}) without an answer` }));
  });
}

function startWorker(request: LoadRequest, budget: LoadBudget): Worker {
  return new Worker(new URL('./worker.js', import.meta.url), {
    workerData: request,
    resourceLimits: { maxOldGenerationSizeMb: budget.maxHeapMb, maxYoungGenerationSizeMb: Math.min(64, Math.max(8, budget.maxHeapMb / 8)) },
    // The worker's output is the message; nothing it prints belongs on the gateway's stderr.
    stdout: true,
    stderr: true,
  });
}

/** A structured clone is not frozen: the served snapshot is immutable again before anyone sees it. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
