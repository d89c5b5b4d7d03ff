// The composition root: wires sources → config → routing/upstream/mirror → proxy and admin, and owns the
// lifecycle (load, hot reload as a whole-snapshot swap, drain on shutdown).
import { AdminServer } from '../admin/index.js';
import { type Cluster, DEFAULT_SETTINGS, formatProblem, loadSnapshot, type MirrorSettings, type Problem, type Snapshot } from '../config/index.js';
import { Comparator } from '../comparator/index.js';
import { ShadowWriter } from '../mirror/index.js';
import { ListenerSet, ProxyHandler, type RoutingState } from '../proxy/index.js';
import { RouteTable } from '../routing/index.js';
import { readSources, watchSources } from '../sources/index.js';
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubernetesSource } from '../sources/kubernetes/index.js';
import { type AccessLog, Metrics } from '../telemetry/index.js';
import { ClusterManager } from '../upstream/index.js';

/** Connections per shadow endpoint when its DestinationRule sets none (see the constructor). */
export const SHADOW_MAX_CONNECTIONS_PER_ENDPOINT = 256;
/** Shadow copies waiting for a connection, per shadow cluster, when its DestinationRule sets none. */
export const SHADOW_MAX_PENDING = 64;

export interface GatewayOptions {
  files: string[];
  /** Address the service ports listen on. */
  bind: string;
  /** `host:port` of the admin listener (`port` 0 picks one). */
  admin: string;
  /** Flags win over the ShadowgateConfig resource. */
  mirrorOverrides?: Partial<MirrorSettings>;
  drainTimeoutMs?: number;
  accessLog: AccessLog;
  /** Watch the Kubernetes API too (in-cluster service account or the user's kubeconfig). */
  kubernetes?: { namespace?: string | undefined; kubeconfig?: KubeConfig; kubeconfigFile?: string | undefined; context?: string | undefined; listen?: 'taken-over' | 'all' };
  /** SQLite file for comparison results; undefined: mirrored answers are not compared. */
  store?: string;
  watch?: boolean;
  random?: () => number;
  /** Operational messages (problems, reloads); stderr by default. */
  log?: (line: string) => void;
}

export interface ReloadResult {
  result: 'applied' | 'unchanged' | 'rejected';
  hash: string;
  problems: Problem[];
}

export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new Error(`${what} must be HOST:PORT, not "${text}"`);
  return { host: m[1] ?? m[2] ?? '', port };
}

export class Gateway {
  readonly metrics = new Metrics();
  readonly primaryClusters: ClusterManager;
  /** Shadows never share a connection with the primary: a separate manager, separate pools. */
  readonly shadowClusters: ClusterManager;
  readonly shadows: ShadowWriter;
  readonly handler: ProxyHandler;
  readonly listeners: ListenerSet;
  private readonly admin: AdminServer;
  comparator: Comparator | undefined;
  private k8s: KubernetesSource | undefined;
  private state: RoutingState | undefined;
  private lastRejected: { at: string; problems: Problem[] } | undefined;
  private loadedAt = '';
  private bound = false;
  private draining = false;
  private stopWatching: (() => void) | undefined;
  adminAddress = '';
  private readonly log: (line: string) => void;

  private constructor(private readonly opts: GatewayOptions) {
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    const gw = this;
    const random = opts.random ?? Math.random;
    // Envoy keeps dialling a refusing primary endpoint unless outlierDetection says otherwise; the shadow
    // manager backs off instead, so a dead shadow costs no connect per request.
    this.primaryClusters = new ClusterManager({ random, connectBackoff: false });
    // A slow shadow would otherwise hold a connection per in-flight copy (up to maxInFlight): each one more
    // socket, more ACKs and more pool scanning on the primary's event loop. Capped, a few copies wait for a
    // connection and the rest are dropped and counted: a queue cannot raise what a slow shadow can take
    // (connections ÷ latency), it only holds memory. The shadow host's DestinationRule
    // `connectionPool.tcp.maxConnections` and `http.http1MaxPendingRequests` override the caps.
    this.shadowClusters = new ClusterManager({
      random,
      defaultMaxConnections: SHADOW_MAX_CONNECTIONS_PER_ENDPOINT,
      defaultMaxPending: SHADOW_MAX_PENDING,
    });
    this.shadows = new ShadowWriter(this.shadowClusters, this.metrics, { ...DEFAULT_SETTINGS.mirror, ...opts.mirrorOverrides });
    this.handler = new ProxyHandler({
      state: () => this.state!,
      get comparator() {
        return gw.comparator;
      },
      primary: this.primaryClusters,
      shadows: this.shadows,
      metrics: this.metrics,
      accessLog: opts.accessLog,
      random,
    });
    this.listeners = new ListenerSet(this.handler, opts.bind);
    this.admin = new AdminServer({
      isReady: () => this.isReady(),
      notReadyReason: () => this.notReadyReason(),
      configDump: () => this.configDump(),
      metrics: async () => ({ contentType: this.metrics.registry.contentType, body: await this.metrics.text() }),
      api: (path, query) => this.api(path, query),
    });
  }

  /** Loads the config (bad resources are left out and reported), binds every port, then serves. */
  static async start(opts: GatewayOptions): Promise<Gateway> {
    const gw = new Gateway(opts);
    // A worker of `--workers N` has no admin listener of its own: the primary process serves it for all.
    if (opts.admin) {
      const admin = parseHostPort(opts.admin, '--admin');
      gw.adminAddress = await gw.admin.listen(admin.host, admin.port);
    }
    if (opts.kubernetes) {
      const { KubernetesSource } = await import('../sources/kubernetes/index.js');
      gw.k8s = await KubernetesSource.start({
        namespace: opts.kubernetes.namespace,
        ...(opts.kubernetes.kubeconfig ? { kubeconfig: opts.kubernetes.kubeconfig } : {}),
        kubeconfigFile: opts.kubernetes.kubeconfigFile,
        context: opts.kubernetes.context,
        ...(opts.kubernetes.listen ? { listen: opts.kubernetes.listen } : {}),
        registry: gw.metrics.registry,
        onChange: () => void gw.reload(),
        log: gw.log,
      }).catch(async (err: unknown) => {
        // --kubeconfig unreadable, --context unknown: nothing will serve, so the admin listener must not hold the process.
        if (opts.admin) await gw.admin.close();
        throw err;
      });
    }
    const snapshot = gw.load();
    for (const p of snapshot.problems) if (p.severity !== 'info') gw.log(formatProblem(p));
    if (opts.store) gw.comparator = await Comparator.open({ file: opts.store, settings: snapshot.settings.compare, metrics: gw.metrics });
    await gw.apply(snapshot);
    gw.metrics.reloads.inc({ result: 'applied' });
    if (opts.watch !== false) gw.stopWatching = watchSources(opts.files, () => void gw.reload());
    return gw;
  }

  get snapshot(): Snapshot {
    return this.state!.snapshot;
  }

  /** Addresses of the service listeners, `host:port`. */
  addresses(): string[] {
    return this.listeners.addresses();
  }

  private load(): Snapshot {
    const read = readSources(this.opts.files);
    return loadSnapshot(read.sources, [...read.problems, ...(this.k8s?.problems() ?? [])], this.k8s?.resources() ?? []);
  }

  /** Re-reads every source; a config with errors is refused and the last good one keeps serving. */
  private reloading: Promise<unknown> = Promise.resolve();

  /** Reloads one at a time (file watch and cluster changes may ask at once), each seeing the newest sources. */
  reload(): Promise<ReloadResult> {
    const next = this.reloading.then(() => this.reloadNow());
    this.reloading = next.catch(() => {});
    return next;
  }

  private async reloadNow(): Promise<ReloadResult> {
    if (this.draining) return { result: 'unchanged', hash: this.state?.snapshot.hash ?? '', problems: [] };
    const snapshot = this.load();
    const current = this.state!.snapshot;
    // An error in a file refuses the whole reload (the last good config keeps serving). An error in a cluster
    // object disables only that object, as Istio's admission would reject only it: refusing every reload would
    // also freeze endpoint changes, which is worse.
    const fileErrors = snapshot.problems.filter((p) => p.severity === 'error' && !p.file?.startsWith('kubernetes://'));
    if (fileErrors.length > 0) {
      const problems = fileErrors;
      this.lastRejected = { at: new Date().toISOString(), problems };
      this.metrics.reloads.inc({ result: 'rejected' });
      this.log(`shadowgate: reload rejected, still serving config ${current.hash.slice(0, 12)}:`);
      for (const p of problems) this.log(`  ${formatProblem(p)}`);
      return { result: 'rejected', hash: current.hash, problems };
    }
    this.lastRejected = undefined;
    if (snapshot.hash === current.hash) {
      this.metrics.reloads.inc({ result: 'unchanged' });
      return { result: 'unchanged', hash: current.hash, problems: snapshot.problems };
    }
    await this.apply(snapshot);
    this.metrics.reloads.inc({ result: 'applied' });
    this.log(`shadowgate: config ${snapshot.hash.slice(0, 12)} applied (${this.addresses().join(', ')})`);
    for (const p of snapshot.problems) if (p.severity === 'warning') this.log(`  ${formatProblem(p)}`);
    return { result: 'applied', hash: snapshot.hash, problems: snapshot.problems };
  }

  /** Swaps the whole routing state at once; requests in flight keep the state they started with. */
  private async apply(snapshot: Snapshot): Promise<void> {
    const table = RouteTable.build(snapshot.listeners);
    this.primaryClusters.update(snapshot.clusters);
    this.shadowClusters.update(readyOnly(snapshot.clusters));
    this.shadows.configure({ ...snapshot.settings.mirror, ...this.opts.mirrorOverrides });
    this.comparator?.configure(snapshot.settings.compare);
    this.state = { snapshot, table };
    this.loadedAt = new Date().toISOString();
    for (const severity of ['error', 'warning', 'info'] as const) {
      this.metrics.configProblems.set({ severity }, snapshot.problems.filter((p) => p.severity === severity).length);
    }
    const failures = await this.listeners.reconcile(snapshot.listeners.map((l) => l.port));
    for (const f of failures) this.log(`shadowgate: error: cannot listen on ${this.opts.bind}:${f.port}: ${f.error}`);
    this.bound = failures.length === 0;
  }

  /** /api/...: comparison results (404 when comparison is off). */
  isReady(): boolean {
    return this.bound && !this.draining && this.state !== undefined && (this.k8s?.synced ?? true);
  }

  /** Why `isReady()` is false, for /ready's body (undefined: no reason worth saying). */
  notReadyReason(): string | undefined {
    if (this.draining) return 'draining';
    return this.k8s?.notReadyReason();
  }

  async api(path: string, query: URLSearchParams): Promise<unknown | undefined> {
    const c = this.comparator;
    if (!c) return path === 'verdict' ? { result: 'INCONCLUSIVE', reasons: ['comparison is off (no --store)'], compared: 0, endpoints: [] } : undefined;
    switch (path) {
      case 'verdict':
        return c.verdict();
      case 'endpoints':
        return c.endpoints();
      case 'samples':
        return c.samples(query.get('endpoint') ?? '', query.get('field') ?? '', Number(query.get('limit') ?? 20));
      case 'flush':
        await c.flush();
        return { flushed: true };
      default:
        return undefined;
    }
  }

  configDump(): unknown {
    const s = this.state?.snapshot;
    return {
      hash: s?.hash,
      loaded_at: this.loadedAt,
      ready: this.bound && !this.draining,
      draining: this.draining,
      listeners: s?.listeners,
      clusters: s?.clusters,
      settings: s ? { mirror: { ...s.settings.mirror, ...this.opts.mirrorOverrides } } : undefined,
      resources: s?.resources,
      problems: s?.problems,
      last_rejected_reload: this.lastRejected ?? null,
      upstream: { primary: this.primaryClusters.stats(), shadow: this.shadowClusters.stats() },
      shadows_in_flight: this.shadows.shadowsInFlight,
      kubernetes: this.k8s?.status() ?? null,
    };
  }

  /** SIGTERM: /ready turns 503, listeners stop accepting, in-flight requests finish (bounded), then everything closes. */
  async shutdown(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.handler.draining = true;
    this.stopWatching?.();
    await this.k8s?.close();
    this.listeners.stopAccepting();
    const drainMs = this.opts.drainTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.handler.idle(), new Promise<void>((r) => (timer = setTimeout(r, drainMs)))]);
    clearTimeout(timer);
    await this.listeners.forceClose();
    // Shadows still in flight get their bounded time to finish, so their answers are compared and stored.
    const settle = Date.now() + Math.min(drainMs, this.shadows.timeoutMs);
    while (this.shadows.shadowsInFlight > 0 && Date.now() < settle) await new Promise((r) => setTimeout(r, 10));
    await this.comparator?.close();
    await Promise.allSettled([
      this.primaryClusters.destroy(),
      this.shadowClusters.destroy(),
      this.opts.admin ? this.admin.close() : Promise.resolve(),
      this.opts.accessLog.close(),
    ]);
  }
}

/** Kubernetes' serving-but-terminating endpoints stand in for the primary when nothing is ready; shadows never use them. */
function readyOnly(clusters: Record<string, Cluster>): Record<string, Cluster> {
  let changed = false;
  const out: Record<string, Cluster> = {};
  for (const [name, c] of Object.entries(clusters)) {
    const endpoints = c.endpoints.filter((e) => e.labels['shadowgate.dev/serving-only'] !== 'true');
    if (endpoints.length !== c.endpoints.length) changed = true;
    out[name] = endpoints.length === c.endpoints.length ? c : { ...c, endpoints };
  }
  return changed ? out : clusters;
}
