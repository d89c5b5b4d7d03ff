// `shadowgate serve`: run the gateway until SIGTERM/SIGINT, then drain and exit 0.
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { parseDurationMs, type MirrorSettings } from '../config/index.js';
import { Gateway, reportStarted, runPrimary, serveWorkerIpc } from '../gateway/index.js';
import { openAccessLog } from '../telemetry/index.js';
import { UsageError } from './index.js';

function duration(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0) throw new UsageError(`${flag} must be a duration like 500ms or 5s, not "${text}"`);
  return ms;
}

function count(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be a whole number, not "${text}"`);
  return n;
}

export async function runServe(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      bind: { type: 'string', default: '0.0.0.0' },
      admin: { type: 'string', default: '127.0.0.1:15000' },
      'shadow-timeout': { type: 'string' },
      'shadow-max-body': { type: 'string' },
      'shadow-max-total': { type: 'string' },
      'shadow-max-in-flight': { type: 'string' },
      'shadow-host-suffix': { type: 'boolean' },
      'drain-timeout': { type: 'string', default: '10s' },
      'access-log': { type: 'string', default: '-' },
      store: { type: 'string', default: 'shadowgate.db' },
      'no-watch': { type: 'boolean' },
      workers: { type: 'string' },
      kubernetes: { type: 'boolean' },
      namespace: { type: 'string' },
      'kubernetes-listen': { type: 'string', default: 'taken-over' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
    },
  });
  const files = values.filename ?? [];
  if (files.length === 0 && !values.kubernetes) throw new UsageError('serve needs at least one -f PATH, or --kubernetes');
  for (const flag of ['namespace', 'kubeconfig', 'context'] as const) if (values[flag] !== undefined && !values.kubernetes) throw new UsageError(`--${flag} goes with --kubernetes`);
  const kubernetesListen = values['kubernetes-listen'];
  if (kubernetesListen !== 'taken-over' && kubernetesListen !== 'all') throw new UsageError('--kubernetes-listen must be taken-over or all');
  const overrides: Partial<MirrorSettings> = {};
  const set = <K extends keyof MirrorSettings>(k: K, v: MirrorSettings[K] | undefined) => {
    if (v !== undefined) overrides[k] = v;
  };
  set('timeoutMs', duration('--shadow-timeout', values['shadow-timeout']));
  set('maxBodyBytes', count('--shadow-max-body', values['shadow-max-body']));
  set('maxTotalBodyBytes', count('--shadow-max-total', values['shadow-max-total']));
  set('maxInFlight', count('--shadow-max-in-flight', values['shadow-max-in-flight']));
  if (values['shadow-host-suffix']) overrides.hostSuffix = true;

  const workers = count('--workers', values.workers) ?? availableParallelism();
  if (workers < 1) throw new UsageError('--workers must be at least 1');
  const log = (line: string) => process.stderr.write(`${line}\n`);
  // Several workers: this process only supervises and serves the admin listener; each worker runs this
  // same command line and takes the branch below.
  if (cluster.isPrimary && workers > 1) return runPrimary({ workers, admin: values.admin, log });
  const isWorker = cluster.isWorker;

  let gateway: Gateway;
  try {
    gateway = await Gateway.start({
      files,
      bind: values.bind,
      admin: isWorker ? '' : values.admin,
      mirrorOverrides: overrides,
      drainTimeoutMs: duration('--drain-timeout', values['drain-timeout']),
      accessLog: openAccessLog(values['access-log']),
      store: values.store === 'off' ? undefined : values.store,
      ...(values.kubernetes
        ? { kubernetes: { namespace: values.namespace, kubeconfigFile: values.kubeconfig, context: values.context, listen: kubernetesListen } }
        : {}),
      watch: !values['no-watch'],
    });
  } catch (err) {
    if (isWorker) reportStarted(undefined, (err as Error).message);
    else log(`shadowgate: cannot start: ${(err as Error).message}`);
    return 1;
  }
  if (isWorker) {
    let stopping: Promise<void> | undefined;
    // Drain, then leave: the primary waits for this process to exit.
    const stop = () => {
      stopping ??= gateway.shutdown().then(() => {
        setImmediate(() => process.exit(0));
      });
      return stopping;
    };
    serveWorkerIpc(gateway, stop);
    // Ctrl-C in a terminal reaches every process of the group; the primary also asks over IPC.
    process.once('SIGINT', () => void stop());
    process.once('SIGTERM', () => void stop());
    process.on('disconnect', () => void stop());
    reportStarted(gateway);
    await new Promise(() => {});
  }
  const hosts = gateway.snapshot.listeners.map((l) => `${l.port}: ${l.virtualHosts.map((v) => v.host).join(', ')}`).join('; ');
  process.stderr.write(
    `shadowgate: ready: listening on ${gateway.addresses().join(', ') || '(no service ports)'} [${hosts}], admin http://${gateway.adminAddress}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stderr.write(`shadowgate: ${signal}: draining\n`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await gateway.shutdown();
  process.stderr.write('shadowgate: stopped\n');
  return 0;
}
