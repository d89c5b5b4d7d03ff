// `shadowgate serve`: run the gateway until SIGTERM/SIGINT, then drain and exit 0; SIGHUP reloads the config (as
// nginx does); a start that cannot serve exits 1 with one line.
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { AdminAccess, type AdminAccessOptions } from '../admin/index.js';
// config's own modules, not its index (which loads the compiler and yaml): see config/index.ts.
import { parseDurationMs } from '../config/duration.js';
import type { MirrorSettings } from '../config/index.js';
import { checkSelector, type FleetSource } from '../fleet/index.js';
import { Gateway, listenerSummary, type ReloadResult, reportStarted, runPrimary, serveWorkerIpc, workerLog, workerPostsEvents } from '../gateway/index.js';
import type { DownstreamLimits } from '../proxy/index.js';
import { DEFAULT_LOAD_BUDGET, type LoadBudget } from '../sources/index.js';
import { openAccessLog } from '../telemetry/index.js';
import { hostPort, UsageError, type Values } from './options.js';
import { readTokenFile } from './token-file.js';

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

export async function runServe(v: Values): Promise<number> {
  const values = v as {
    filename?: string[];
    bind: string;
    admin: string;
    'shadow-timeout'?: string;
    'shadow-max-body'?: string;
    'shadow-max-total'?: string;
    'shadow-max-in-flight'?: string;
    'shadow-host-suffix'?: boolean;
    'drain-timeout': string;
    'access-log': string;
    store: string;
    'no-watch'?: boolean;
    workers?: string;
    kubernetes?: boolean;
    namespace?: string;
    'kubernetes-listen': string;
    'config-load-timeout'?: string;
    'config-load-heap'?: string;
    'max-request-headers'?: string;
    'path-normalization'?: string;
    'header-timeout'?: string;
    'body-idle-timeout'?: string;
    'max-connections'?: string;
    kubeconfig?: string;
    context?: string;
    'config-map': string;
    'config-map-key': string;
    'gateway-controller-name': string;
    prometheus?: string;
    'prometheus-selector'?: string;
    'prometheus-window'?: string;
    'run-metrics-retention'?: string;
    'admin-allowed-hosts'?: string[];
    'admin-token-file'?: string;
    'admin-token-scope': string;
  };
  hostPort('--admin', values.admin);
  const adminAccess = adminAccessOptions(values);
  const files = values.filename ?? [];
  if (files.length === 0 && !values.kubernetes) throw new UsageError('serve needs at least one -f PATH, or --kubernetes');
  for (const flag of ['namespace', 'kubeconfig', 'context'] as const)
    if (values[flag] !== undefined && !values.kubernetes) throw new UsageError(`--${flag} goes with --kubernetes`);
  const fleet = fleetOptions(values);
  const kubernetesListen = values['kubernetes-listen'];
  const configMap = configMapFlag(values['config-map'], values['config-map-key']);
  const gatewayController = values['gateway-controller-name'];
  // GatewayClass controllerName: a domain-prefixed path (the CRD's validation).
  if (
    !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/.test(gatewayController) ||
    gatewayController.length > 253
  )
    throw new UsageError(`--gateway-controller-name must be DOMAIN/PATH (a GatewayClass controllerName), not "${gatewayController}"`);
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
  const downstream = downstreamFlags(values);

  const heapMb = count('--config-load-heap', values['config-load-heap']);
  if (heapMb !== undefined && heapMb < 16) throw new UsageError('--config-load-heap must be at least 16 (MiB)');
  const configBudget: LoadBudget = {
    timeoutMs: duration('--config-load-timeout', values['config-load-timeout']) ?? DEFAULT_LOAD_BUDGET.timeoutMs,
    maxHeapMb: heapMb ?? DEFAULT_LOAD_BUDGET.maxHeapMb,
  };
  const workers = count('--workers', values.workers) ?? availableParallelism();
  if (workers < 1) throw new UsageError('--workers must be at least 1');
  const log = (line: string) => process.stderr.write(`${line}\n`);
  // Several workers: this process only supervises and serves the admin listener; each worker runs this
  // same command line and takes the branch below.
  if (cluster.isPrimary && workers > 1)
    return runPrimary({ workers, admin: values.admin, log, store: values.store === 'off' ? undefined : values.store, adminAccess });
  const isWorker = cluster.isWorker;

  // Installed before the start so a SIGHUP meanwhile does not kill the process (Node's default); the config
  // being loaded is already the newest.
  let gateway: Gateway | undefined;
  // --workers N: one worker writes the gateway's lines, so each is printed once (a terminal's SIGHUP reaches all).
  const gatewayLog = isWorker ? workerLog() : undefined;
  process.on('SIGHUP', () => {
    if (gateway) void hangUp(gateway, gatewayLog ?? log);
  });
  try {
    gateway = await Gateway.start({
      files,
      bind: values.bind,
      admin: isWorker ? '' : values.admin,
      mirrorOverrides: overrides,
      gatewayController,
      drainTimeoutMs: duration('--drain-timeout', values['drain-timeout']),
      downstream,
      accessLog: openAccessLog(values['access-log']),
      store: values.store === 'off' ? undefined : values.store,
      // compare.maxPerSecond is the gateway's rate: each of N workers takes 1/N of it.
      compareShare: isWorker ? 1 / workers : 1,
      ...(values.kubernetes
        ? {
            kubernetes: {
              namespace: values.namespace,
              kubeconfigFile: values.kubeconfig,
              context: values.context,
              listen: kubernetesListen,
              ...(configMap ? { configMap } : {}),
              // --workers N: one worker posts the cluster's Events, as one writes the log.
              postEvents: !isWorker || workerPostsEvents(),
            },
          }
        : {}),
      watch: !values['no-watch'],
      configBudget,
      ...(gatewayLog ? { log: gatewayLog } : {}),
      processMetrics: true,
      adminAccess,
      ...fleet,
    });
  } catch (err) {
    if (isWorker) reportStarted(undefined, (err as Error).message);
    else log(`shadowgate: cannot start: ${(err as Error).message}`);
    return 1;
  }
  const gw = gateway;
  if (isWorker) {
    let stopping: Promise<void> | undefined;
    // Drain, then leave: the primary waits for this process to exit.
    const stop = () => {
      stopping ??= gw.shutdown().then(() => {
        setImmediate(() => process.exit(0));
      });
      return stopping;
    };
    serveWorkerIpc(gw, stop);
    // Ctrl-C in a terminal reaches every process of the group; the primary also asks over IPC.
    process.once('SIGINT', () => void stop());
    process.once('SIGTERM', () => void stop());
    process.on('disconnect', () => void stop());
    reportStarted(gw);
    await new Promise(() => {});
  }
  process.stderr.write(
    `shadowgate: ready: listening on ${gw.addresses().join(', ') || '(no service ports)'} [${listenerSummary(gw.snapshot.listeners)}], admin http://${gw.adminAddress}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stderr.write(`shadowgate: ${signal}: draining\n`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await gw.shutdown();
  process.stderr.write('shadowgate: stopped\n');
  return 0;
}

/** SIGHUP: reload now; requests in flight keep the config they started with, new ones get the new one. */
export async function hangUp(gw: Gateway, log: (line: string) => void): Promise<ReloadResult> {
  log('shadowgate: SIGHUP: reloading the config');
  const r = await gw.reload({ trigger: 'signal' });
  // Applied and rejected reloads log themselves; say so when nothing changed too.
  if (r.result === 'unchanged') log(`shadowgate: config ${r.hash.slice(0, 12)} unchanged`);
  return r;
}

/** The admin listener's access flags, checked (and the token read) before starting. */
function adminAccessOptions(v: { 'admin-allowed-hosts'?: string[]; 'admin-token-file'?: string; 'admin-token-scope': string }): AdminAccessOptions {
  const out: AdminAccessOptions = {};
  const hosts = (v['admin-allowed-hosts'] ?? []).flatMap((h) => h.split(',')).map((h) => h.trim());
  if (hosts.length > 0) out.allowedHosts = hosts;
  const scope = v['admin-token-scope'];
  if (scope !== 'api' && scope !== 'all') throw new UsageError(`--admin-token-scope must be api or all, not "${scope}"`);
  const file = v['admin-token-file'];
  if (file === undefined) {
    if (scope !== 'api') throw new UsageError('--admin-token-scope goes with --admin-token-file');
  } else {
    const token = readTokenFile('--admin-token-file', file);
    out.token = token;
    out.tokenScope = scope;
  }
  try {
    new AdminAccess(out);
  } catch (err) {
    throw new UsageError(`--admin-allowed-hosts: ${(err as Error).message}`);
  }
  return out;
}

const PATH_MODES = ['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'] as const;

/** The downstream limits flags (defaults in proxy/limits.ts). */
/** `--config-map [NS/]NAME|off` and `--config-map-key KEY`: which ConfigMap holds the ShadowgateConfig (issue 20). */
function configMapFlag(text: string, key: string): { namespace?: string; name: string; key: string } | undefined {
  if (text === 'off') return undefined;
  // Names as Kubernetes allows them (DNS-1123 subdomain); a ConfigMap key as kubectl allows it.
  const name = /^(?:([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/)?([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(text);
  if (!name || text.length > 253 + 64) throw new UsageError(`--config-map must be NAME, NS/NAME or off, not "${text}"`);
  if (!/^[-._a-zA-Z0-9]+$/.test(key) || key.length > 253)
    throw new UsageError(`--config-map-key must be a ConfigMap key (letters, digits, '-', '_', '.'), not "${key}"`);
  return { ...(name[1] ? { namespace: name[1] } : {}), name: name[3]!, key };
}

function downstreamFlags(values: Record<string, string | boolean | string[] | undefined>): Partial<DownstreamLimits> {
  const text = (k: string) => values[k] as string | undefined;
  const out: Partial<DownstreamLimits> = {};
  const headers = count('--max-request-headers', text('max-request-headers'));
  if (headers !== undefined) {
    if (headers < 1) throw new UsageError('--max-request-headers must be at least 1');
    out.maxRequestHeaders = headers;
  }
  const mode = text('path-normalization');
  if (mode !== undefined) {
    const m = PATH_MODES.find((p) => p === mode.toUpperCase());
    if (!m) throw new UsageError(`--path-normalization must be one of ${PATH_MODES.join(', ')}, not "${mode}"`);
    out.pathNormalization = m;
  }
  const header = duration('--header-timeout', text('header-timeout'));
  if (header !== undefined) out.headerTimeoutMs = header;
  const body = duration('--body-idle-timeout', text('body-idle-timeout'));
  if (body !== undefined) out.bodyIdleTimeoutMs = body;
  const upgradeIdle = duration('--upgrade-idle-timeout', text('upgrade-idle-timeout'));
  if (upgradeIdle !== undefined) out.upgradeIdleTimeoutMs = upgradeIdle;
  const conns = count('--max-connections', text('max-connections'));
  if (conns !== undefined) out.maxConnections = conns;
  return out;
}

/** serve's issue-13 options: the gate's Prometheus and the runs' retention on /metrics, checked before starting. */
function fleetOptions(v: { prometheus?: string; 'prometheus-selector'?: string; 'prometheus-window'?: string; 'run-metrics-retention'?: string }): {
  prometheus?: FleetSource;
  runMetrics?: { retentionMs: number };
} {
  const out: { prometheus?: FleetSource; runMetrics?: { retentionMs: number } } = {};
  if (v['run-metrics-retention'] !== undefined) out.runMetrics = { retentionMs: duration('--run-metrics-retention', v['run-metrics-retention'])! };
  if (v.prometheus === undefined) {
    if (v['prometheus-selector'] !== undefined || v['prometheus-window'] !== undefined)
      throw new UsageError('--prometheus-selector and --prometheus-window go with --prometheus');
    return out;
  }
  let url: URL;
  try {
    url = new URL(v.prometheus);
  } catch {
    throw new UsageError(`--prometheus takes a URL such as http://prometheus:9090, not "${v.prometheus}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--prometheus takes an http or https URL');
  const src: FleetSource = { url: v.prometheus };
  if (v['prometheus-selector'] !== undefined) {
    try {
      checkSelector(v['prometheus-selector']);
    } catch (e) {
      throw new UsageError(`--prometheus-selector: ${(e as Error).message}`);
    }
    src.selector = v['prometheus-selector'];
  }
  if (v['prometheus-window'] !== undefined) src.windowMs = duration('--prometheus-window', v['prometheus-window'])!;
  out.prometheus = src;
  return out;
}
