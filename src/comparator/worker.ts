// The comparison worker: diffs exchanges and writes results to the store, off the gateway's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { type CompareRules, compareExchange, compileRules, type ComparisonResult, type Exchange } from '../compare/index.js';
import { CompareStore } from '../store/index.js';

export type WorkerRequest =
  | { type: 'configure'; rules: CompareRules }
  | { type: 'batch'; id: number; exchanges: Exchange[] }
  | { type: 'reset'; id: number }
  | { type: 'close' };

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'error'; message: string }
  | { type: 'done'; id: number; compared: number; ignored: number; failed: number };

const port = parentPort!;
const { file, rules } = workerData as { file: string; rules: CompareRules };

let store: CompareStore;
try {
  store = CompareStore.open(file);
} catch (err) {
  port.postMessage({ type: 'error', message: (err as Error).message } satisfies WorkerReply);
  process.exit(0);
}
let compiled = compileRules(rules);
store.setRedaction({ headers: rules.redactHeaders, fields: rules.redactFields });
port.postMessage({ type: 'ready' } satisfies WorkerReply);

port.on('message', (msg: WorkerRequest) => {
  switch (msg.type) {
    case 'configure':
      compiled = compileRules(msg.rules);
      store.setRedaction({ headers: msg.rules.redactHeaders, fields: msg.rules.redactFields });
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
      try {
        if (results.length > 0) store.record(results);
      } catch {
        failed += results.length;
        results.length = 0;
      }
      port.postMessage({ type: 'done', id: msg.id, compared: results.length, ignored, failed } satisfies WorkerReply);
      return;
    }
    case 'reset':
      store.reset();
      port.postMessage({ type: 'done', id: msg.id, compared: 0, ignored: 0, failed: 0 } satisfies WorkerReply);
      return;
    case 'close':
      store.close();
      port.close();
      return;
  }
});
