// The comparison worker: diffs exchanges and writes results to the store, and answers the admin API's
// questions, all off the gateway's event loop.

import { createHash } from 'node:crypto';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import {
  type CompareSettings,
  type ComparisonResult,
  checkDescriptorSet,
  compareExchange,
  compileRules,
  type Exchange,
  type GrpcDescriptorSet,
  isGrpcAnswer,
  pathOnly,
  type RunIdentity,
} from '../compare/index.js';
import { CompareStore, type CompareStoreOptions } from '../store/index.js';
import { reflectService } from './grpc-reflection.js';
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

// The comparison is background work: when the cores are busy, the data path comes first. Linux keeps a nice
// value per thread, and pid 0 names the calling thread, so this lowers this thread only (lowering needs no
// privilege), by 10 from what it inherited; elsewhere it would lower the whole process, data path included, so
// it is Linux only. Its queue is bounded: a comparison that falls behind drops and counts, it never holds a
// request.
if (process.platform === 'linux') {
  try {
    setPriority(0, Math.min(19, getPriority(0) + 10));
  } catch {
    // A sandbox may refuse it; comparing at the normal priority is still correct.
  }
}

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

// gRPC server reflection (compare.grpc.reflection): descriptor sets asked of the primary for services no
// configured set describes. A batch with such a service waits for the answer (bounded) before it is compared,
// so a run's fields are named one way from its first exchange; a service that could not be reflected is
// compared by bytes and asked again only after a while.
const REFLECTION_TIMEOUT_MS = 2_000;
const REFLECTION_RETRY_MS = 60_000;
let reflected: GrpcDescriptorSet[] = [];
const asked = new Map<string, number>();

function compile(): void {
  compiled = compileRules(current);
  if (reflected.length === 0) return;
  const merged = compileRules({ ...current, grpc: { ...current.grpc, descriptorSets: [...current.grpc.descriptorSets, ...reflected] } });
  // A reflected set that clashes with a configured one must not take the configured decoding away.
  if (merged.grpc) compiled = merged;
}

async function reflect(exchanges: readonly Exchange[]): Promise<void> {
  if (!current.grpc?.reflection) return;
  const wanted = new Map<string, { origin: string; authority: string }>();
  const now = Date.now();
  for (const ex of exchanges) {
    const origin = ex.primary.origin;
    if (origin === undefined || !isGrpcAnswer(ex.primary)) continue;
    const path = pathOnly(ex.path);
    if (compiled.grpc?.method(path)) continue;
    const service = path.split('/')[1];
    if (!service || wanted.has(service)) continue;
    const at = asked.get(service);
    if (at !== undefined && now - at < REFLECTION_RETRY_MS) continue;
    asked.set(service, now);
    wanted.set(service, { origin, authority: ex.host });
  }
  if (wanted.size === 0) return;
  const sets = await Promise.all(
    [...wanted].map(async ([service, { origin, authority }]): Promise<GrpcDescriptorSet | undefined> => {
      try {
        const bytes = await reflectService(origin, authority, service, REFLECTION_TIMEOUT_MS);
        // Checked alone first: a server's odd descriptors (relative type names) fail only its own service.
        checkDescriptorSet(bytes);
        const data = Buffer.from(bytes);
        return { file: `reflection:${origin}/${service}`, sha256: createHash('sha256').update(data).digest('hex'), data: data.toString('base64') };
      } catch {
        return undefined;
      }
    }),
  );
  const got = sets.filter((s): s is GrpcDescriptorSet => s !== undefined);
  if (got.length === 0) return;
  reflected = [...reflected, ...got];
  compile();
}

// One message at a time, in order (a batch may wait for reflection): a query still sees every batch sent before it.
let chain: Promise<void> = Promise.resolve();
port.on('message', (msg: WorkerRequest) => {
  // A failure escapes as it did before the chain (an uncaught error ends the worker, which the comparator sees).
  chain = chain
    .then(() => handle(msg))
    .catch((err: unknown) => {
      setImmediate(() => {
        throw err;
      });
    });
});

async function handle(msg: WorkerRequest): Promise<void> {
  switch (msg.type) {
    case 'configure':
      current = msg.settings;
      // Another config may route to another primary: what its reflection said is asked again.
      reflected = [];
      asked.clear();
      compile();
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
      await reflect(msg.exchanges);
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
}
