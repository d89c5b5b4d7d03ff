// `--workers N`: one gateway spread over several processes. The primary process owns the admin listener and
// asks each worker over IPC (metrics are merged, readiness is all-or-nothing); the workers share the service
// ports through node:cluster, each with its own pools, shadows and comparison queue.
import cluster, { type Worker } from 'node:cluster';
import { type AdminAccessOptions, AdminServer, type AdminSource, totalsFromExposition } from '../admin/index.js';
import type { Cluster, Listener } from '../config/index.js';
import { mergeExpositions } from '../telemetry/index.js';
import type { Gateway } from './gateway.js';
import { adminAccessFor, parseHostPort } from './gateway.js';

type Request =
  | { id: number; type: 'metrics' }
  | { id: number; type: 'ready' }
  | { id: number; type: 'not_ready_reason' }
  | { id: number; type: 'config_dump' }
  | { id: number; type: 'api'; method: string; path: string; query: string; body?: string }
  | { id: number; type: 'shutdown' }
  | { id: number; type: 'reload' };

/** A request before it gets its id (Omit does not distribute over a union by itself). */
type Ask = Request extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

type Reply = { id: number; value: unknown } | { type: 'started'; addresses: string[]; hosts: string } | { type: 'start_failed'; error: string };

const ASK_TIMEOUT_MS = 10_000;
/** Set to "1" in the environment of the one worker whose gateway log is printed (see fork below). */
export const WORKER_LOGS_ENV = 'SHADOWGATE_WORKER_LOGS';

/** In a worker: the gateway's log, or nothing when another worker writes it. */
export function workerLog(): ((line: string) => void) | undefined {
  return process.env[WORKER_LOGS_ENV] === '1' ? undefined : () => {};
}

/**
 * In a worker: whether it posts the cluster's Kubernetes Events. Each worker runs the Kubernetes source and would
 * post each warning once per worker; the one that writes the log posts them (its replacement takes over).
 */
export function workerPostsEvents(): boolean {
  return process.env[WORKER_LOGS_ENV] === '1';
}

/** In a worker: answers the primary's questions about this worker's gateway. */
export function serveWorkerIpc(gw: Gateway, shutdown: () => Promise<void>): void {
  process.on('message', async (msg: Request) => {
    let value: unknown;
    try {
      switch (msg.type) {
        case 'metrics':
          value = await gw.metrics.text();
          break;
        case 'ready':
          value = gw.isReady();
          break;
        case 'not_ready_reason':
          value = gw.isReady() ? null : (gw.notReadyReason() ?? null);
          break;
        case 'config_dump':
          value = gw.configDump();
          break;
        case 'api':
          value =
            (await gw.api({
              method: msg.method,
              path: msg.path,
              query: new URLSearchParams(msg.query),
              ...(msg.body === undefined ? {} : { body: msg.body }),
            })) ?? null;
          break;
        case 'shutdown':
          await shutdown();
          value = true;
          break;
        case 'reload':
          value = (await gw.reload({ trigger: 'signal' })).result;
          break;
      }
    } catch (err) {
      value = { error: (err as Error).message };
    }
    process.send?.({ id: msg.id, value } satisfies Reply);
  });
}

export interface PrimaryOptions {
  workers: number;
  admin: string;
  /** Worker arguments (the serve command line, without --workers). */
  log: (line: string) => void;
  /** The comparison store: created and stamped here, once, before any worker opens it (issue 15, item 11). */
  store?: string | undefined;
  /** Who may use the admin listener (admin/access.ts). */
  adminAccess?: AdminAccessOptions | undefined;
}

/**
 * Node flags for the workers: the primary's, plus
 * - on Node 20, Node 22+'s young-generation size. A proxy allocates a few KiB per request that die young; V8 11
 *   (Node 20) caps each semi-space at 16 MiB, V8 12+ at 32 MiB, and on Node 20 the extra scavenges cost about 12% of
 *   a worker's CPU per mirrored request (issue 19, measured by `npm run bench`);
 * - `--no-memory-reducer`: V8's memory reducer gives an idle heap back (~50 MB of RSS per process here) and the
 *   first seconds of traffic after the lull pay to grow it again: p99 of the first 4 s of `wrk -c64` after 25 s idle,
 *   6 rounds, 8.0 against 15.3 ms, lower in every round (issue 19). A gateway's idle footprint is then its loaded
 *   one, which its memory limit is sized for anyway.
 * A flag the user set (command line or NODE_OPTIONS) is left alone.
 */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv, env: NodeJS.ProcessEnv = process.env, node = process.versions.node): string[] {
  const given = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  const out = [...execArgv];
  if (!given.some((a) => /^--(max|min)[-_]semi[-_]space[-_]size/.test(a)) && Number(node.split('.')[0]) < 22) out.push('--max-semi-space-size=32');
  if (!given.some((a) => /^--(no[-_])?memory[-_]reducer$/.test(a))) out.push('--no-memory-reducer');
  return out;
}

/** In the primary: forks the workers, serves the admin listener for all of them, restarts a worker that dies. */
export async function runPrimary(opts: PrimaryOptions): Promise<number> {
  cluster.setupPrimary({ execArgv: workerExecArgv() });
  let nextId = 1;
  const pending = new Map<number, (value: unknown) => void>();
  let stopping = false;
  const workers = new Set<Worker>();
  // Installed first, so a SIGHUP during the start does not kill the supervisor (Node's default for SIGHUP);
  // the workers starting now read the newest config anyway.
  let serving = false;
  process.on('SIGHUP', () => {
    if (serving && !stopping) void hangUp();
  });

  // One worker writes the gateway's log (startup problems, reloads): every worker loads the same files and would
  // print each line N times. When it dies, its replacement takes the pen.
  let logger: Worker | undefined;
  const fork = (): Worker => {
    const w = cluster.fork({ SHADOWGATE_WORKER: '1', [WORKER_LOGS_ENV]: logger ? '0' : '1' });
    logger ??= w;
    workers.add(w);
    w.on('message', (msg: Reply) => {
      if ('id' in msg) {
        pending.get(msg.id)?.(msg.value);
        pending.delete(msg.id);
      }
    });
    w.on('exit', (code, signal) => {
      workers.delete(w);
      if (logger === w) logger = undefined;
      if (!stopping) {
        opts.log(`shadowgate: worker ${w.process.pid} exited (${signal ?? code}); starting another`);
        setTimeout(() => {
          if (!stopping) fork();
        }, 500);
      }
    });
    return w;
  };

  const ask = (w: Worker, req: Ask): Promise<unknown> => {
    const id = nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(undefined);
      }, ASK_TIMEOUT_MS);
      pending.set(id, (v) => {
        clearTimeout(timer);
        resolve(v);
      });
      w.send({ ...req, id } as Request);
    });
  };
  const askAll = (req: Ask) => Promise.all([...workers].map((w) => ask(w, req)));
  const first = () => [...workers][0];

  if (opts.store) {
    // Workers that all find a new file would race to create it; one creation here, then they only open it.
    try {
      const { CompareStore } = await import('../store/index.js');
      CompareStore.open(opts.store).close();
    } catch (err) {
      opts.log(`shadowgate: cannot start: cannot open the comparison store ${opts.store}: ${(err as Error).message}`);
      return 1;
    }
  }

  // Start every worker and wait for each to say it is serving (or why it could not).
  const started = await Promise.all(
    Array.from({ length: opts.workers }, () => {
      const w = fork();
      return new Promise<Reply>((resolve) => {
        const onMessage = (msg: Reply) => {
          if ('type' in msg && (msg.type === 'started' || msg.type === 'start_failed')) {
            w.off('message', onMessage);
            resolve(msg);
          }
        };
        w.on('message', onMessage);
      });
    }),
  );
  const failed = started.find((s) => 'type' in s && s.type === 'start_failed');
  if (failed && 'error' in failed) {
    stopping = true;
    for (const w of workers) w.kill();
    opts.log(`shadowgate: cannot start: ${failed.error}`);
    return 1;
  }

  const adminSource: AdminSource = {
    isReady: async () => workers.size === opts.workers && !stopping && (await askAll({ type: 'ready' })).every((r) => r === true),
    notReadyReason: async () => (await askAll({ type: 'not_ready_reason' })).find((r): r is string => typeof r === 'string'),
    // The single-process shape (gateway.ts configDump): the config is every worker's, so the first one's is
    // shown; what differs per process (pools, shadows, readiness) is each worker's entry under `workers`.
    configDump: async () => {
      const dumps = (await askAll({ type: 'config_dump' })).filter((d): d is Record<string, unknown> => typeof d === 'object' && d !== null && !('error' in d));
      if (dumps.length === 0) return { ready: false, workers: [] };
      const perWorker = dumps.flatMap((d) => (Array.isArray(d.workers) ? (d.workers as unknown[]) : []));
      const ready =
        workers.size === opts.workers && !stopping && perWorker.length === opts.workers && perWorker.every((w) => (w as { ready?: unknown }).ready === true);
      return { ...dumps[0], ready, workers: perWorker };
    },
    metrics: async () => ({
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      body: mergeExpositions((await askAll({ type: 'metrics' })).filter((t): t is string => typeof t === 'string')),
    }),
    api: async (req) => {
      const w = first();
      if (!w) return undefined;
      // Each worker writes its comparisons to the shared store; asking one reads them all once every worker
      // has flushed its queue. A new run (POST /api/runs) is in the store: every worker's next write finds it.
      await askAll({ type: 'api', method: 'POST', path: 'flush', query: '' });
      const v = (await ask(w, {
        type: 'api',
        method: req.method,
        path: req.path,
        query: req.query.toString(),
        ...(req.body === undefined ? {} : { body: req.body }),
      })) as { status: number; body: string } | null | undefined;
      return v === null || v === undefined || typeof v.status !== 'number' ? undefined : v;
    },
    traffic: {
      // Every worker serves the same config: the first one's route table is everyone's.
      routing: async () => {
        const w = first();
        const dump = (w ? await ask(w, { type: 'config_dump' }) : undefined) as { listeners?: Listener[]; clusters?: Record<string, Cluster> } | undefined;
        return dump?.listeners && dump.clusters ? { listeners: dump.listeners, clusters: dump.clusters } : undefined;
      },
      totals: async () => totalsFromExposition(mergeExpositions((await askAll({ type: 'metrics' })).filter((t): t is string => typeof t === 'string'))),
    },
  };
  const admin = new AdminServer(adminSource, adminAccessFor(opts.admin, opts.adminAccess));
  const hp = parseHostPort(opts.admin, '--admin');
  let adminAddress: string;
  try {
    adminAddress = await admin.listen(hp.host, hp.port);
  } catch (err) {
    stopping = true;
    for (const w of workers) w.kill();
    opts.log(`shadowgate: cannot start: admin listener ${opts.admin}: ${(err as Error).message}`);
    return 1;
  }
  const s = started[0] as { addresses: string[]; hosts: string };
  opts.log(
    `shadowgate: ready: listening on ${s.addresses.join(', ') || '(no service ports)'} [${s.hosts}], admin http://${adminAddress}, ${opts.workers} workers`,
  );

  // SIGHUP reloads every worker's config, as nginx's master passes it on to its workers.
  async function hangUp(): Promise<void> {
    opts.log(`shadowgate: SIGHUP: reloading the config in ${workers.size} workers`);
    const results = await askAll({ type: 'reload' });
    const counts = new Map<string, number>();
    for (const r of results) counts.set(String(r ?? 'no answer'), (counts.get(String(r ?? 'no answer')) ?? 0) + 1);
    opts.log(`shadowgate: SIGHUP: ${[...counts].map(([r, n]) => `${r} in ${n}`).join(', ')}`);
  }
  serving = true;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      opts.log(`shadowgate: ${signal}: draining ${workers.size} workers`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  stopping = true;
  await Promise.all(
    [...workers].map(
      (w) =>
        new Promise<void>((resolve) => {
          w.once('exit', () => resolve());
          void ask(w, { type: 'shutdown' });
        }),
    ),
  );
  await admin.close();
  opts.log('shadowgate: stopped');
  return 0;
}

/** In a worker: tells the primary the gateway is serving (or could not start). */
export function reportStarted(gw: Gateway | undefined, error?: string): void {
  if (!gw) {
    process.send?.({ type: 'start_failed', error: error ?? 'unknown error' } satisfies Reply);
    return;
  }
  process.send?.({ type: 'started', addresses: gw.addresses(), hosts: listenerSummary(gw.snapshot.listeners) } satisfies Reply);
}

/**
 * What the ready line says each port serves: its hosts, `(https)` when it terminates TLS for HTTP, the SNI names it
 * passes through undecrypted, and those it terminates and tunnels as TCP.
 */
export function listenerSummary(listeners: readonly Listener[]): string {
  const names = (routes: Listener['passthrough']) => [...new Set((routes ?? []).filter((r) => r.destinations.length > 0).flatMap((r) => r.sniHosts))];
  return listeners
    .map((l) => {
      const sni = names(l.passthrough);
      const tunneled = names(l.tunnel);
      const parts = [
        l.virtualHosts.map((v) => v.host).join(', '),
        sni.length ? `passthrough ${sni.join(', ')}` : '',
        tunneled.length ? `tls tunnel ${tunneled.join(', ')}` : '',
      ];
      return `${l.port}${l.tls?.some((t) => !t.tunnel) ? ' (https)' : ''}: ${parts.filter(Boolean).join(' + ')}`;
    })
    .join('; ');
}
