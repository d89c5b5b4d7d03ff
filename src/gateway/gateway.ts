// The composition root: wires sources → config → routing/upstream/mirror → proxy and admin, and owns the
// lifecycle (load, hot reload as a whole-snapshot swap, drain on shutdown).

import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { AdminAccess, type AdminAccessOptions, type AdminApiRequest, AdminServer, type AdminSource } from '../admin/index.js';
import { Comparator, DEFAULT_RUN_METRICS, handleCompareApi, type RunMetricsOptions } from '../comparator/index.js';
import type { MirrorSettings, Problem, Snapshot } from '../config/index.js';
// config's own modules, not its index (which loads the compiler and yaml): see config/index.ts.
import { DEFAULT_SETTINGS } from '../config/model.js';
import { formatProblem } from '../config/problems.js';
import { type FleetSource, handleFleetVerdict, handleGate, RevisionBook } from '../fleet/index.js';
import { ShadowWriter } from '../mirror/index.js';
import { type BindFailure, type DownstreamLimits, ListenerSet, Passthrough, ProxyHandler, type RoutingState } from '../proxy/index.js';
import { RouteTable } from '../routing/index.js';
import { ConfigLoader, DEFAULT_LOAD_BUDGET, isClusterSource, type LoadBudget, type LoadOutcome, readyOnly, watchSources } from '../sources/index.js';
import type { KubernetesSource } from '../sources/kubernetes/index.js';
import { type AccessLog, type ClusterGaugeSource, Metrics } from '../telemetry/index.js';
import { TlsTermination } from '../tls/index.js';
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
  /** The GatewayClass controllerName Shadowgate answers to (default shadowgate.dev/gateway-controller). */
  gatewayController?: string;
  drainTimeoutMs?: number;
  /** What a downstream client may send or hold on the service ports (proxy/limits.ts has the defaults). */
  downstream?: Partial<DownstreamLimits>;
  accessLog: AccessLog;
  /** Watch the Kubernetes API too (in-cluster service account or the user's kubeconfig). */
  kubernetes?: {
    namespace?: string | undefined;
    kubeconfig?: KubeConfig;
    kubeconfigFile?: string | undefined;
    context?: string | undefined;
    listen?: 'taken-over' | 'all';
    /** The ConfigMap holding a ShadowgateConfig (sources/kubernetes/cluster-settings.ts); absent: none is read. */
    configMap?: { namespace?: string | undefined; name?: string | undefined; key?: string | undefined };
    /** Post Kubernetes Events for setup warnings (default true): with --workers N, only the worker that logs does. */
    postEvents?: boolean;
  };
  /** SQLite file for comparison results; undefined: mirrored answers are not compared. */
  store?: string;
  /** Store options for tests (e.g. a size bound that plays a full disk). */
  storeOptions?: import('../store/index.js').CompareStoreOptions;
  /** With --workers N, each worker compares its share (1/N) of compare.maxPerSecond (default 1: all of it). */
  compareShare?: number;
  watch?: boolean;
  /** Re-read server certificates when their files change (default on, whatever `watch` says). */
  watchCertificates?: boolean;
  /** Time and heap for loading the config in its worker thread; a load past it is refused (issue 15). */
  configBudget?: LoadBudget;
  /** How long watched files must keep the same size and mtime before a reload reads them (ms). */
  settleMs?: number;
  random?: () => number;
  /** Operational messages (problems, reloads); stderr by default. */
  log?: (line: string) => void;
  /** prom-client's process_* and nodejs_* families on /metrics (`serve` turns them on). */
  processMetrics?: boolean;
  /** The comparison runs on /metrics: how long ended runs stay, and the per-run caps (issue 13). */
  runMetrics?: Partial<Omit<RunMetricsOptions, 'now'>>;
  /** A Prometheus that scrapes every replica: /api/gate judges the fleet's sums there (issue 13). */
  prometheus?: FleetSource;
  /** Who may use the admin listener: allowed Host names, a token (admin/access.ts). */
  adminAccess?: AdminAccessOptions;
}

export interface ReloadResult {
  result: 'applied' | 'unchanged' | 'rejected';
  hash: string;
  problems: Problem[];
}

/**
 * What asked for a reload. An operator's (`signal`: SIGHUP, `api`: a caller of `reload()`) applies what the files
 * say now, removals included; a watch or cluster change refuses a reload in which a served file vanished, since
 * an editor's save or a half-done sync looks exactly like that (issue 15).
 */
export type ReloadTrigger = 'api' | 'signal' | 'watch' | 'kubernetes';

export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new Error(`${what} must be HOST:PORT, not "${text}"`);
  return { host: m[1] ?? m[2] ?? '', port };
}

/** The admin listener's access rules: the options given, and the name it binds (`--admin HOST:PORT`). */
export function adminAccessFor(admin: string, o: AdminAccessOptions | undefined): AdminAccess {
  const host = admin === '' ? undefined : parseHostPort(admin, '--admin').host;
  return new AdminAccess(host ? { ...o, bindHost: host } : { ...o });
}

/** How long a scrape waits for the comparison runs' families (comparator/metrics-export.ts). */
const RUN_METRICS_WAIT_MS = 3_000;

export class Gateway {
  readonly metrics = new Metrics();
  /**
   * `reload` (a ReloadResult with its `trigger`) once each reload is decided, whatever asked for it: what a caller
   * embedding the gateway, or a test, waits on instead of polling the config or the counters.
   */
  readonly events = new EventEmitter();
  readonly primaryClusters: ClusterManager;
  /** Shadows never share a connection with the primary: a separate manager, separate pools. */
  readonly shadowClusters: ClusterManager;
  readonly shadows: ShadowWriter;
  readonly handler: ProxyHandler;
  readonly listeners: ListenerSet;
  /** TLS on the ports that terminate it (Istio Gateway servers, Gateway API HTTPS listeners). */
  readonly tls: TlsTermination;
  private readonly admin: AdminServer;
  /** Which runs each Flagger checksum claimed at /api/gate, shared with the other replicas through /metrics. */
  private readonly revisions = new RevisionBook({
    claimed: (c) => this.metrics.gateChecksumRuns.set({ canary_namespace: c.namespace, canary: c.canary, checksum: c.checksum, run: c.run }, c.at / 1000),
    forgotten: (c) => this.metrics.gateChecksumRuns.remove({ canary_namespace: c.namespace, canary: c.canary, checksum: c.checksum, run: c.run }),
  });
  comparator: Comparator | undefined;
  private k8s: KubernetesSource | undefined;
  private state: RoutingState | undefined;
  private lastRejected: { at: string; problems: Problem[] } | undefined;
  private loadedAt = '';
  private bound = false;
  /** False when no resource of the served config was accepted: nothing useful to serve, so not ready. */
  private usable = false;
  /** Files read by the last load that was not rejected (a file gone from this set refuses an automatic reload). */
  private lastFiles = new Set<string>();
  private draining = false;
  private stopWatching: (() => void) | undefined;
  adminAddress = '';
  private readonly log: (line: string) => void;
  /** The config-loading thread (kept between reloads: a Kubernetes endpoint change costs a load, not a thread). */
  private readonly loader: ConfigLoader;

  private constructor(private readonly opts: GatewayOptions) {
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.loader = new ConfigLoader(opts.configBudget ?? DEFAULT_LOAD_BUDGET);
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
    this.metrics.clusterStats = () => [...clusterGauges('primary', this.primaryClusters), ...clusterGauges('shadow', this.shadowClusters)];
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
      ...(opts.downstream ? { limits: opts.downstream } : {}),
    });
    this.tls = new TlsTermination({
      log: this.log,
      registry: this.metrics.registry,
      handshakeTimeoutMs: this.handler.limits.headerTimeoutMs,
      watch: opts.watchCertificates !== false,
    });
    const passthrough = new Passthrough({
      listener: (port) => this.state?.snapshot.listeners.find((l) => l.port === port),
      clusters: this.primaryClusters,
      connectTimeoutMs: (cluster) => this.state?.snapshot.clusters[cluster]?.policy.connectionPool.connectTimeoutMs,
      random,
      helloTimeoutMs: this.handler.limits.headerTimeoutMs,
      registry: this.metrics.registry,
    });
    this.listeners = new ListenerSet(this.handler, opts.bind, this.tls, passthrough);
    const adminSource: AdminSource = {
      isReady: () => this.isReady(),
      notReadyReason: () => this.notReadyReason(),
      configDump: () => this.configDump(),
      metrics: async () => ({ contentType: this.metrics.registry.contentType, body: await this.metrics.text() }),
      api: (req) => this.api(req),
      traffic: {
        routing: async () => this.state && { listeners: this.state.snapshot.listeners, clusters: this.state.snapshot.clusters },
        totals: () => this.metrics.trafficTotals(),
      },
    };
    this.admin = new AdminServer(adminSource, adminAccessFor(opts.admin, opts.adminAccess));
  }

  /**
   * Loads the config (bad resources are left out and reported), binds every port, then serves. Anything that
   * keeps it from serving (a busy port, a store it cannot open, a config past its load budget) closes what was
   * opened and throws: the caller exits non-zero instead of lingering half-started (issue 15).
   */
  static async start(opts: GatewayOptions): Promise<Gateway> {
    const gw = new Gateway(opts);
    try {
      await gw.startUp();
    } catch (err) {
      await gw.abortStart();
      throw err;
    }
    return gw;
  }

  private async startUp(): Promise<void> {
    const opts = this.opts;
    // A worker of `--workers N` has no admin listener of its own: the primary process serves it for all.
    if (opts.admin) {
      const admin = parseHostPort(opts.admin, '--admin');
      this.adminAddress = await this.admin.listen(admin.host, admin.port);
    }
    if (opts.kubernetes) {
      const { KubernetesSource } = await import('../sources/kubernetes/index.js');
      this.k8s = await KubernetesSource.start({
        namespace: opts.kubernetes.namespace,
        ...(opts.kubernetes.kubeconfig ? { kubeconfig: opts.kubernetes.kubeconfig } : {}),
        kubeconfigFile: opts.kubernetes.kubeconfigFile,
        context: opts.kubernetes.context,
        ...(opts.kubernetes.listen ? { listen: opts.kubernetes.listen } : {}),
        ...(opts.kubernetes.configMap ? { configMap: opts.kubernetes.configMap } : {}),
        ...(opts.kubernetes.postEvents === false ? { postEvents: false } : {}),
        gatewayController: opts.gatewayController,
        registry: this.metrics.registry,
        onChange: () => void this.reload({ trigger: 'kubernetes' }),
        onSecretsChange: () => this.secretsChanged(),
        boundAddress: (port) => this.listeners.boundAddress(port),
        log: this.log,
      });
      const k8s = this.k8s;
      this.tls.secrets = (name) => k8s.secret(name);
      // DestinationRule credentialName (origination): primary and shadow pools read the same watched Secrets.
      this.primaryClusters.secrets = this.tls.secrets;
      this.shadowClusters.secrets = this.tls.secrets;
    }
    const loaded = await this.load();
    if (loaded.type === 'refused') throw new Error(`config not loaded: ${loaded.message}`);
    const snapshot = loaded.snapshot!;
    this.lastFiles = new Set(loaded.files);
    for (const p of snapshot.problems) if (p.severity !== 'info') this.log(formatProblem(p));
    if (opts.store) {
      const c = { file: opts.store, settings: snapshot.settings.compare, metrics: this.metrics, log: this.log, share: opts.compareShare ?? 1 };
      this.comparator = await Comparator.open(opts.storeOptions ? { ...c, storeOptions: opts.storeOptions } : c);
      const runMetrics = { ...DEFAULT_RUN_METRICS, ...opts.runMetrics };
      // A comparison worker stuck behind a huge batch must not cost the scrape its other families: the run
      // families wait at most RUN_METRICS_WAIT_MS, then this scrape goes without them.
      this.metrics.runMetrics = async () => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), RUN_METRICS_WAIT_MS);
        });
        const a = await Promise.race([this.comparator?.query({ kind: 'metrics', options: { ...runMetrics, now: Date.now() } }), late]);
        clearTimeout(timer);
        return a?.status === 200 ? a.body : '';
      };
    }
    if (opts.processMetrics) this.metrics.collectProcessMetrics();
    const failures = await this.apply(snapshot);
    if (failures.length > 0) throw new Error(failures.map((f) => `cannot listen on ${this.opts.bind}:${f.port}: ${f.error}`).join('; '));
    this.recordLoad(true, this.servedProblems());
    this.metrics.reloads.inc({ result: 'applied' });
    if (!this.usable) this.log('shadowgate: no resource of the config was accepted: not ready until a reload brings a valid one');
    if (this.reloadAfterStart) void this.reload({ trigger: 'kubernetes' });
    if (opts.watch !== false) {
      this.stopWatching = watchSources(
        opts.files,
        () => void this.reload({ trigger: 'watch' }),
        opts.settleMs === undefined ? {} : { settleMs: opts.settleMs },
      );
    }
  }

  /**
   * A Secret changed (or the Secrets were first listed): origination pools re-read theirs before the certificates of
   * the served ports are refreshed, so that the TLS module's 'refreshed' event also means the clusters have them.
   * A cluster whose Secret problem changed says so in one line (the shadow manager reads the same Secrets: not twice).
   */
  private secretsChanged(): void {
    for (const c of this.primaryClusters.refreshSecrets()) {
      this.log(c.problems.length > 0 ? `shadowgate: error: cluster ${c.name}: ${c.problems.join('; ')}` : `shadowgate: cluster ${c.name}: TLS Secret read`);
    }
    this.shadowClusters.refreshSecrets();
    this.tls.refresh();
  }

  /** Closes whatever a failed start opened (ports, admin listener, watches, store), so the process can exit. */
  private async abortStart(): Promise<void> {
    this.draining = true;
    this.stopWatching?.();
    this.listeners.stopAccepting();
    await this.listeners.forceClose();
    this.tls.close();
    await Promise.allSettled([
      this.k8s?.close(),
      this.comparator?.close(),
      this.primaryClusters.destroy(),
      this.shadowClusters.destroy(),
      this.adminAddress ? this.admin.close() : Promise.resolve(),
      this.opts.accessLog.close(),
      this.loader.close(),
    ]);
  }

  get snapshot(): Snapshot {
    return this.state!.snapshot;
  }

  /** Addresses of the service listeners, `host:port`. */
  addresses(): string[] {
    return this.listeners.addresses();
  }

  /** Reads and checks every source in a worker thread, within the load budget. */
  private load(): Promise<LoadOutcome> {
    return this.loader.load({
      files: this.opts.files,
      extraProblems: this.k8s?.problems() ?? [],
      extraResources: this.k8s?.resources() ?? [],
      currentHash: this.state?.snapshot.hash,
      gatewayController: this.opts.gatewayController,
    });
  }

  /** The two config gauges: did the last load succeed, and the problems it found (issue 20). */
  private recordLoad(success: boolean, problems: readonly Problem[]): void {
    this.metrics.configLastReloadSuccess.set(success ? 1 : 0);
    for (const severity of ['error', 'warning', 'info'] as const) {
      this.metrics.configProblems.set({ severity }, problems.filter((p) => p.severity === severity).length);
    }
  }

  private queued: { promise: Promise<ReloadResult>; explicit: boolean } | undefined;
  private reloadAfterStart = false;
  private reloading: Promise<unknown> = Promise.resolve();

  /**
   * Re-reads every source; a config with errors is refused and the last good one keeps serving. Reloads run one
   * at a time, and every request for one made while another waits joins the waiting one (it will read the newest
   * sources anyway), so a burst of file events or cluster changes costs one load, not one each.
   */
  reload(opts: { trigger?: ReloadTrigger } = {}): Promise<ReloadResult> {
    const explicit = opts.trigger === undefined || opts.trigger === 'api' || opts.trigger === 'signal';
    if (!this.state) {
      // Still starting (a cluster change while the first config loads): reloaded once the start is done.
      this.reloadAfterStart = true;
      return Promise.resolve({ result: 'unchanged', hash: '', problems: [] });
    }
    if (this.queued) {
      this.queued.explicit ||= explicit;
      return this.queued.promise;
    }
    const q: { promise: Promise<ReloadResult>; explicit: boolean } = { explicit, promise: Promise.resolve() as never };
    q.promise = this.reloading
      .then(() => {
        if (this.queued === q) this.queued = undefined;
        return this.reloadNow(q.explicit);
      })
      // Callers (a file watch, a signal, the cluster) fire and forget: a failure is a refused reload, never a crash.
      .catch((err: Error) => {
        const problem: Problem = { severity: 'error', code: 'reload-failed', message: `the reload failed: ${err.message}` };
        return this.reject(this.state!.snapshot, [problem], [problem]);
      })
      .then((r) => {
        this.events.emit('reload', { ...r, trigger: opts.trigger ?? 'api' });
        return r;
      });
    this.queued = q;
    this.reloading = q.promise.catch(() => {});
    return q.promise;
  }

  private async reloadNow(explicit: boolean): Promise<ReloadResult> {
    if (this.draining) return { result: 'unchanged', hash: this.state?.snapshot.hash ?? '', problems: [] };
    const loaded = await this.load();
    const current = this.state!.snapshot;
    if (loaded.type === 'refused') {
      const problem: Problem = { severity: 'error', code: `config-load-${loaded.reason}`, message: loaded.message };
      return this.reject(current, [problem], [problem]);
    }
    // An error in a file refuses the whole reload (the last good config keeps serving). An error in a cluster
    // object disables only that object, as Istio's admission would reject only it: refusing every reload would
    // also freeze endpoint changes, which is worse.
    const fileErrors = loaded.problems.filter((p) => p.severity === 'error' && !isClusterSource(p.file));
    if (!explicit) {
      const now = new Set(loaded.files);
      for (const file of this.lastFiles) {
        // A ConfigMap volume swaps its `..data` symlink: its directory changes atomically, so a removal there is meant.
        if (now.has(file) || existsSync(join(dirname(file), '..data'))) continue;
        fileErrors.push({
          severity: 'error',
          code: 'file-vanished',
          file,
          message: 'this file of the served config is gone (an editor saving, a sync half done?); send SIGHUP to apply its removal',
        });
      }
    }
    if (fileErrors.length > 0) return this.reject(current, fileErrors, loaded.problems);
    this.lastRejected = undefined;
    this.lastFiles = new Set(loaded.files);
    if (!loaded.snapshot || loaded.hash === current.hash) {
      // The routing is the same, but what /config_dump shows and the status written back may not be (a refused
      // cluster ShadowgateConfig, a route's observedGeneration): the served snapshot takes the new ones.
      this.state = { ...this.state!, snapshot: Object.freeze({ ...current, resources: loaded.resources, problems: loaded.problems }) };
      void this.k8s?.publishStatus(loaded.resources);
      // The same config may name certificate files whose contents changed (SIGHUP after a rotation).
      this.tls.refresh();
      this.recordLoad(true, loaded.problems);
      this.metrics.reloads.inc({ result: 'unchanged' });
      return { result: 'unchanged', hash: current.hash, problems: loaded.problems };
    }
    const snapshot = loaded.snapshot;
    // At startup a port that cannot be bound fails the start; on a reload the other ports keep serving.
    for (const f of await this.apply(snapshot)) this.log(`shadowgate: error: cannot listen on ${this.opts.bind}:${f.port}: ${f.error}`);
    this.recordLoad(true, this.servedProblems());
    this.metrics.reloads.inc({ result: 'applied' });
    this.log(`shadowgate: config ${snapshot.hash.slice(0, 12)} applied (${this.addresses().join(', ')})`);
    for (const p of snapshot.problems) if (p.severity === 'warning') this.log(`  ${formatProblem(p)}`);
    return { result: 'applied', hash: snapshot.hash, problems: this.servedProblems() };
  }

  private reject(current: Snapshot, problems: Problem[], allProblems: readonly Problem[]): ReloadResult {
    this.lastRejected = { at: new Date().toISOString(), problems };
    this.metrics.reloads.inc({ result: 'rejected' });
    this.recordLoad(false, [...new Set([...allProblems, ...problems])]);
    this.log(`shadowgate: reload rejected, still serving config ${current.hash.slice(0, 12)}:`);
    for (const p of problems) this.log(`  ${formatProblem(p)}`);
    return { result: 'rejected', hash: current.hash, problems };
  }

  /** Swaps the whole routing state at once; requests in flight keep the state they started with. */
  private async apply(snapshot: Snapshot): Promise<BindFailure[]> {
    const table = RouteTable.build(snapshot.listeners);
    // What only compiling the routes finds (a duplicate listener port, a route that did not compile) is reported
    // with the snapshot's problems: logged now, counted, in the reload's result and in /config_dump.
    for (const p of table.problems) this.log(formatProblem(p));
    this.primaryClusters.update(snapshot.clusters);
    // Kubernetes' serving-but-terminating endpoints stand in for the primary when nothing is ready; shadows never use them.
    this.shadowClusters.update(readyOnly(snapshot.clusters));
    // What a cluster could not build (a TLS file unreadable or mismatched, an endpoint skipped): one line each.
    for (const [name, c] of Object.entries(this.primaryClusters.stats())) for (const p of c.problems) this.log(`shadowgate: error: cluster ${name}: ${p}`);
    this.shadows.configure({ ...snapshot.settings.mirror, ...this.opts.mirrorOverrides });
    this.comparator?.apply(snapshot);
    this.state = { snapshot, table };
    this.loadedAt = new Date().toISOString();
    const accepted = snapshot.resources.some((r) => r.accepted);
    this.usable = accepted || (snapshot.resources.length === 0 && !snapshot.problems.some((p) => p.severity === 'error'));
    // Certificates first: a port that turns HTTPS must have them before its next connection.
    this.tls.configure(new Map(snapshot.listeners.flatMap((l) => (l.tls ? [[l.port, l.tls] as const] : []))));
    const binds = new Map(snapshot.listeners.flatMap((l) => (l.bind ? [[l.port, l.bind] as const] : [])));
    const failures = await this.listeners.reconcile(
      snapshot.listeners.map((l) => l.port),
      binds,
    );
    this.bound = failures.length === 0;
    // Gateway API status, as a controller writes it (sources/kubernetes/status-writer.ts): fire and forget. After
    // the ports are bound: Gateways' status.addresses are those they are listening on.
    void this.k8s?.publishStatus(snapshot.resources);
    return failures;
  }

  /** The served config's problems: the snapshot's and the route table's. */
  private servedProblems(): Problem[] {
    const s = this.state;
    if (!s) return [];
    return s.table.problems.length === 0 ? s.snapshot.problems : [...s.snapshot.problems, ...s.table.problems];
  }

  isReady(): boolean {
    return (
      this.bound &&
      this.usable &&
      !this.draining &&
      this.state !== undefined &&
      (this.k8s?.synced ?? true) &&
      this.tls.ready() &&
      !this.primaryClusters.waitingForSecrets
    );
  }

  /** Why `isReady()` is false, for /ready's body (undefined: no reason worth saying). */
  notReadyReason(): string | undefined {
    if (this.draining) return 'draining';
    if (this.state && !this.usable) return 'no resource of the config was accepted';
    if (!this.tls.ready()) return 'waiting for the Secrets of Gateway servers (credentialName) to be listed';
    if (this.primaryClusters.waitingForSecrets) return 'waiting for the Secrets of DestinationRules (credentialName) to be listed';
    return this.k8s?.notReadyReason();
  }

  /** /api/...: the comparison's API (comparator/api.ts); the composition root only wires it. */
  api(req: AdminApiRequest): Promise<{ status: number; body: string } | undefined> {
    if (req.path === 'gate') {
      return handleGate(req, {
        comparator: this.comparator,
        prometheus: this.opts.prometheus,
        thresholds: () => this.thresholds(),
        revisions: this.revisions,
      });
    }
    // Argo Rollouts' web metric reads /api/verdict: with --prometheus it is the fleet's, as /api/gate is.
    if (req.path === 'verdict' && this.opts.prometheus) return handleFleetVerdict(req, this.opts.prometheus, this.thresholds());
    return handleCompareApi(this.comparator, req);
  }

  private thresholds() {
    return (this.state?.snapshot ?? this.snapshot).settings.compare.thresholds;
  }

  configDump(): unknown {
    const s = this.state?.snapshot;
    return {
      hash: s?.hash,
      loaded_at: this.loadedAt,
      ready: this.bound && this.usable && !this.draining,
      draining: this.draining,
      listeners: s?.listeners,
      clusters: s?.clusters,
      settings: s ? { mirror: { ...s.settings.mirror, ...this.opts.mirrorOverrides } } : undefined,
      resources: s?.resources,
      problems: s ? this.servedProblems() : undefined,
      last_rejected_reload: this.lastRejected ?? null,
      kubernetes: this.k8s?.status() ?? null,
      tls_certificates: this.tls.certificates(),
      // What each process holds for itself (its pools, its shadows): one entry here, one per worker under
      // --workers N (workers.ts), so the dump has one shape whatever the worker count.
      workers: [
        {
          pid: process.pid,
          ready: this.isReady(),
          upstream: { primary: this.primaryClusters.stats(), shadow: this.shadowClusters.stats() },
          shadows_in_flight: this.shadows.shadowsInFlight,
          // With --workers N one worker posts the cluster's Events (sources/kubernetes/events.ts), not each.
          ...(this.k8s ? { kubernetes_events: this.opts.kubernetes?.postEvents !== false } : {}),
        },
      ],
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
    await idleWithin(this.handler.idle(), drainMs);
    await this.listeners.forceClose();
    this.tls.close();
    // Shadows still in flight get their bounded time to finish, so their answers are compared and stored.
    await idleWithin(this.shadows.idle(), Math.min(drainMs, this.shadows.timeoutMs));
    await this.comparator?.close();
    await Promise.allSettled([
      this.primaryClusters.destroy(),
      this.shadowClusters.destroy(),
      this.opts.admin ? this.admin.close() : Promise.resolve(),
      this.opts.accessLog.close(),
      this.loader.close(),
    ]);
  }
}

/** Waits for `idle` or `ms`, whichever comes first; the timer is cleared so it never holds the process open. */
async function idleWithin(idle: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([idle, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** The cluster managers' counters as the metrics read them at scrape time. */
function clusterGauges(role: 'primary' | 'shadow', clusters: ClusterManager): ClusterGaugeSource[] {
  return Object.values(clusters.stats()).map((c) => ({
    role,
    cluster: c.name,
    overflow: c.counters.overflow,
    noHealthyUpstream: c.counters.noHealthyUpstream,
    ejections: c.counters.ejections,
    ejectionsOverflow: c.counters.ejectionsOverflow,
    endpoints: c.endpoints.length,
    healthyEndpoints: c.endpoints.filter((e) => !e.ejected).length,
    activeRequests: c.activeRequests,
    pendingRequests: c.pendingRequests,
  }));
}
