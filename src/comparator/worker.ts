// The comparison worker: diffs exchanges and writes results to the store, and answers the admin API's
// questions, all off the gateway's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { type CompareSettings, type ComparisonResult, compareExchange, compileRules, type Exchange, type RunIdentity } from '../compare/index.js';
import { CompareStore, type CompareStoreOptions } from '../store/index.js';
import { type Answer, answer, type Query } from './queries.js';
import { JudgeCache } from './reports.js';

export type WorkerRequest =
  | { type: 'configure'; settings: CompareSettings; runs?: RunIdentity[] }
  | { type: 'batch'; id: number; exchanges: Exchange[] }
  | { type: 'query'; id: number; query: Query }
  | { type: 'reset'; id: number }
  | { type: 'close' };

/** Why a write failed, as a metric label: a full disk is told apart, since it is the operator's to fix. */
export type StoreFailure = 'disk_full' | 'busy' | 'io' | 'other';

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'error'; message: string }
  | {
      type: 'done';
      id: number;
      compared: number;
      ignored: number;
      failed: number;
      stale: number;
      otherEndpoints: number;
      otherFields: number;
      storeError?: { reason: StoreFailure; message: string };
    }
  | { type: 'answer'; id: number; answer: Answer }
  | { type: 'store'; ok: boolean; reason?: StoreFailure; message?: string };

const port = parentPort!;
const { file, settings, storeOptions } = workerData as { file: string; settings: CompareSettings; storeOptions?: CompareStoreOptions };

function failure(err: unknown): { reason: StoreFailure; message: string } {
  const code = String((err as { code?: unknown })?.code ?? '');
  const reason: StoreFailure =
    code === 'SQLITE_FULL'
      ? 'disk_full'
      : code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')
        ? 'busy'
        : code.startsWith('SQLITE_IOERR')
          ? 'io'
          : 'other';
  return { reason, message: (err as Error)?.message ?? String(err) };
}

let store: CompareStore;
try {
  store = CompareStore.open(file, { ...storeOptions, maxEndpointsPerRun: settings.maxEndpointsPerRun, maxFieldsPerEndpoint: settings.maxFieldsPerEndpoint });
} catch (err) {
  port.postMessage({ type: 'error', message: (err as Error).message } satisfies WorkerReply);
  process.exit(0);
}
let current = settings;
const judged = new JudgeCache();
let compiled = compileRules(settings);
port.postMessage({ type: 'ready' } satisfies WorkerReply);

port.on('message', (msg: WorkerRequest) => {
  switch (msg.type) {
    case 'configure':
      current = msg.settings;
      compiled = compileRules(msg.settings);
      store.setCaps(msg.settings);
      if (msg.runs) {
        try {
          store.syncRuns(msg.runs);
          judged.clear();
        } catch (err) {
          port.postMessage({ type: 'store', ok: false, ...failure(err) } satisfies WorkerReply);
        }
      }
      return;
    case 'batch': {
      const results: ComparisonResult[] = [];
      let ignored = 0;
      let failed = 0;
      for (const ex of msg.exchanges) {
        try {
          const r = compareExchange(ex, compiled);
          if (r) results.push(r);
          else ignored++;
        } catch {
          // One odd answer must not stop the comparison of the others.
          failed++;
        }
      }
      const reply: Extract<WorkerReply, { type: 'done' }> = {
        type: 'done',
        id: msg.id,
        compared: 0,
        ignored,
        failed,
        stale: 0,
        otherEndpoints: 0,
        otherFields: 0,
      };
      try {
        if (results.length > 0) {
          const report = store.record(results);
          reply.stale = report.stale;
          reply.otherEndpoints = report.otherEndpoints;
          reply.otherFields = report.otherFields;
          reply.compared = results.length - report.stale;
          judged.written += reply.compared;
        }
      } catch (err) {
        // A full disk, a lock held too long: these results are lost (and counted), the next batch tries again.
        reply.failed += results.length;
        reply.storeError = failure(err);
      }
      port.postMessage(reply satisfies WorkerReply);
      return;
    }
    case 'query': {
      let a: Answer;
      try {
        a = answer(store, msg.query, current.thresholds, compiled, judged);
      } catch (err) {
        a = { status: 500, body: JSON.stringify({ error: (err as Error).message }) };
      }
      port.postMessage({ type: 'answer', id: msg.id, answer: a } satisfies WorkerReply);
      return;
    }
    case 'reset':
      store.reset();
      judged.clear();
      port.postMessage({ type: 'done', id: msg.id, compared: 0, ignored: 0, failed: 0, stale: 0, otherEndpoints: 0, otherFields: 0 } satisfies WorkerReply);
      return;
    case 'close':
      store.close();
      port.close();
      return;
  }
});
