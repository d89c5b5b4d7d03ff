// Config from the cluster: one robust watcher per kind, their caches translated into the resources the snapshot
// is built from, and a debounced callback when they change. See issue 8 and docs in ./index.ts.
import { EventEmitter } from 'node:events';
import type { KubeConfig } from '@kubernetes/client-node';
import { Gauge, type Registry } from 'prom-client';
import {
  type CertificateCheck,
  DEFAULT_GATEWAY_CONTROLLER,
  type Problem,
  type ResourceSummary,
  withAddresses,
  withCertificateChecks,
} from '../../config/index.js';
import type { RawResource } from '../../config/parse.js';
import { certificateSecretProblem } from '../../tls/index.js';
import { ClusterSettings, type ConfigMapRef, DEFAULT_CONFIG_MAP_KEY, DEFAULT_CONFIG_MAP_NAME } from './cluster-settings.js';
import { Discovery } from './discovery.js';
import { WarningEvents } from './events.js';
import { ApiHealth, type ApiProblem, classify } from './health.js';
import { KubeHttp } from './http.js';
import { checkKubeConfig, loadKubeConfig } from './kubeconfig.js';
import {
  CONFIG_MAP,
  CONFIG_TYPES,
  ENDPOINT_SLICE,
  kindLabel,
  POD,
  type ResourceType,
  SECRET,
  SERVICE,
  SHADOWGATE_CONFIG,
  WATCHED_TYPES,
} from './resource-types.js';
import { StatusWriter } from './status-writer.js';
import { isClusterSource, sourceFile, type Translation, translate } from './translate.js';
import { DEFAULT_TUNING, type KubeObject, ListWatcher, type WatcherStats, type WatchTuning } from './watcher.js';

export interface KubernetesSourceOptions {
  /** Watch one namespace; every namespace when absent. */
  namespace?: string;
  /** A KubeConfig ready to use (tests). Default: loaded as `kubeconfigFile` and `context` say (see ./kubeconfig.ts). */
  kubeconfig?: KubeConfig;
  /** `--kubeconfig FILE`. */
  kubeconfigFile?: string | undefined;
  /** `--context NAME`. */
  context?: string | undefined;
  /** Where `shadowgate_kubernetes_*` metrics are registered (the gateway's registry). */
  registry?: Registry;
  /** Called (debounced) when `resources()`, `problems()` or `synced` may have changed. Never before `start` resolves. */
  onChange: () => void;
  /** Called when a Secret changed (`secret()` reads them): certificates re-read, no config load. */
  onSecretsChange?: () => void;
  log?: (line: string) => void;
  /** Pods with all these labels are Shadowgate's own and never endpoints. Default `app.kubernetes.io/name: shadowgate`. */
  ownPodSelector?: Record<string, string>;
  /** Which Services get listeners: only taken-over ones (default), or every Service (a dedicated gateway namespace). */
  listen?: 'taken-over' | 'all';
  /** Bursts of changes within this window give one `onChange`. Default 50 ms. */
  debounceMs?: number;
  /** `start` waits at most this long for every watcher to list once; then it resolves anyway (`synced` false). Default 30 s. */
  syncTimeoutMs?: number;
  /** Watch timings (defaults: 300 s server timeout, stall after 3 × 60 s of silence, backoff 250 ms..30 s). */
  tuning?: Partial<WatchTuning>;
  /** For jitter; default Math.random. */
  random?: () => number;
  /**
   * The ConfigMap holding a ShadowgateConfig (`serve --kubernetes` defaults to `shadowgate`, key `config.yaml`).
   * `namespace` defaults to `namespace`, else the kubeconfig context's (a pod's own), else `default`. Absent: none.
   */
  configMap?: { namespace?: string | undefined; name?: string | undefined; key?: string | undefined };
  /** The GatewayClass controllerName Shadowgate answers to, and writes Gateway API status as. Default shadowgate.dev/gateway-controller. */
  gatewayController?: string | undefined;
  /** Write Gateway API status back (default true). */
  writeStatus?: boolean;
  /**
   * The address a service port is bound to now (undefined: not bound), for Gateways' `status.addresses`. Absent:
   * no address is written.
   */
  boundAddress?: (port: number) => string | undefined;
  /** Post Warning Events for the cluster's setup problems (default true; with --workers N only one worker does). */
  postEvents?: boolean;
}

export class KubernetesSource {
  private readonly watchers: ListWatcher[];
  private readonly byType = new Map<ResourceType, ListWatcher>();
  private translation: Translation | undefined;
  private started = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private syncWaiters: Array<() => void> = [];
  /** Every kind watched: WATCHED_TYPES, and the ConfigMap when one is named. */
  private readonly types: readonly ResourceType[];
  private readonly settings: ClusterSettings;
  /** Where the settings ConfigMap is read, when one is. */
  readonly configMap: ConfigMapRef | undefined;
  private readonly statusWriter: StatusWriter | undefined;
  /** 'activity' whenever a watcher's cache, stats or sync state moves, or a debounced change is delivered. */
  private readonly activity = new EventEmitter();
  /** The last round of Events posted (tests wait on it rather than on a clock). */
  private reported: Promise<void> = Promise.resolve();

  private readonly events: WarningEvents | undefined;
  private readonly stop = new AbortController();
  private readonly health: ApiHealth;
  /** Set when the kubeconfig cannot work: no watcher runs, and the source never syncs. */
  private readonly unusable: ApiProblem | undefined;
  /** Makes the Secret watcher, started by the first `secret()` (undefined: no usable API server). */
  private secretWatch: (() => ListWatcher) | undefined;
  private secrets: ListWatcher | undefined;
  /** The resources last published, kept while a Gateway names Secrets: a Secret's change publishes them again. */
  private certificateStatus: readonly ResourceSummary[] | undefined;
  /** The resources of the last status published (the served snapshot's). */
  private published: readonly ResourceSummary[] | undefined;
  /** Ends `start`'s wait early: the API server cannot be used for now (unreachable, refused credentials, ...). */
  private blocked: (() => void) | undefined;

  private constructor(
    private readonly opts: KubernetesSourceOptions,
    api: KubeHttp | ApiProblem,
    contextNamespace?: string,
  ) {
    if (opts.configMap) {
      this.configMap = {
        namespace: opts.configMap.namespace || opts.namespace || contextNamespace || 'default',
        name: opts.configMap.name || DEFAULT_CONFIG_MAP_NAME,
        key: opts.configMap.key || DEFAULT_CONFIG_MAP_KEY,
      };
    }
    this.types = this.configMap ? [...WATCHED_TYPES, CONFIG_MAP] : WATCHED_TYPES;
    this.settings = new ClusterSettings(this.configMap, (resource, errors, keeping) => {
      const first = errors[0];
      opts.log?.(
        `kubernetes: ${resource}: ShadowgateConfig refused (${first ? `${first.path ? `${first.path}: ` : ''}${first.message}` : 'errors'}); ${keeping ? 'the last good version keeps serving' : 'not applied'}`,
      );
    });
    if (opts.registry) {
      const settings = this.settings;
      new Gauge({
        name: 'shadowgate_kubernetes_settings_rejected',
        help: 'ShadowgateConfigs from the cluster (the ConfigMap, ShadowgateConfig objects) whose newest version is refused; the last good version serves',
        registers: [opts.registry],
        collect(): void {
          this.set(settings.rejected);
        },
      });
    }
    const types = this.types;
    this.health = new ApiHealth(
      opts.log,
      opts.registry,
      types.map(kindLabel),
      () => this.watchers.filter((w) => !w.hasSynced).length + (this.unusable ? types.length : 0),
    );
    if (!(api instanceof KubeHttp)) {
      this.unusable = api;
      this.watchers = [];
      this.health.unusable(api);
      return;
    }
    if (opts.postEvents !== false) this.events = new WarningEvents(api, opts.log);
    if (opts.writeStatus !== false) {
      this.statusWriter = new StatusWriter(
        api,
        opts.gatewayController ?? DEFAULT_GATEWAY_CONTROLLER,
        (kind) => {
          const w = this.watchers.find((x) => x.type.kind === kind && x.type.group === 'gateway.networking.k8s.io' && CONFIG_TYPES.includes(x.type));
          return w && { type: w.type, version: w.version, cache: w.cache };
        },
        opts.log,
        opts.registry,
      );
    }
    const discovery = new Discovery(api, this.stop.signal, opts.tuning?.requestTimeoutMs ?? DEFAULT_TUNING.requestTimeoutMs);
    this.secretWatch = () =>
      new ListWatcher({
        api,
        discovery,
        type: SECRET,
        namespace: opts.namespace,
        tuning: opts.tuning,
        log: opts.log,
        random: opts.random,
        onChange: () => this.secretsChanged(),
      });
    const server = api.serverUrl;
    this.watchers = types.map((type) => {
      const cm = type === CONFIG_MAP ? this.configMap : undefined;
      const w = new ListWatcher({
        api,
        discovery,
        type,
        namespace: cm ? cm.namespace : opts.namespace,
        ...(cm ? { fieldSelector: `metadata.name=${cm.name}` } : {}),
        tuning: opts.tuning,
        log: opts.log,
        random: opts.random,
        onChange: () => this.changed(),
        // A status write echoed back (every write by any replica comes back to each): no reload, which on a large
        // config costs seconds in every replica; the status is checked again, so one overwritten by hand or by
        // another writer is put right as before.
        onStatusOnly: () => {
          if (this.published) void this.publishStatus(this.published);
        },
        onFailure: (err) => {
          const problem = classify(err, server, kindLabel(type));
          this.health.failure(kindLabel(type), problem);
          if (problem.reason !== 'error') this.blocked?.();
        },
        onSuccess: () => this.health.success(kindLabel(type)),
        onActivity: () => this.activity.emit('activity'),
      });
      this.byType.set(type, w);
      return w;
    });
  }

  /**
   * Starts every watcher and resolves once each has listed, or the API server is found unusable for now
   * (unreachable, credentials refused, TLS, RBAC: the watchers keep retrying), or after `syncTimeoutMs`.
   * Throws KubeConfigError when `--kubeconfig` cannot be read or `--context` is not in it. A kubeconfig that
   * cannot work (none found, plain http without insecure-skip-tls-verify) gives a source that never syncs and
   * says why in `notReadyReason()`.
   */
  static async start(opts: KubernetesSourceOptions): Promise<KubernetesSource> {
    const loaded = opts.kubeconfig
      ? { kc: opts.kubeconfig, from: 'the given KubeConfig' }
      : await loadKubeConfig({ file: opts.kubeconfigFile, context: opts.context });
    const problem = 'problem' in loaded ? loaded.problem : checkKubeConfig(loaded.kc, loaded.from);
    if ('problem' in loaded || problem) {
      const source = new KubernetesSource(opts, 'problem' in loaded ? loaded.problem : problem!);
      source.started = true;
      return source;
    }
    const api = new KubeHttp(loaded.kc);
    const source = new KubernetesSource(opts, api, loaded.kc.getContextObject(loaded.kc.getCurrentContext())?.namespace);
    const cm = source.configMap;
    opts.log?.(
      `kubernetes: watching ${opts.namespace ? `namespace ${opts.namespace}` : 'all namespaces'} on ${api.serverUrl} (kubeconfig: ${loaded.from})${cm ? `; settings from ConfigMap ${cm.namespace}/${cm.name} key ${cm.key}` : ''}`,
    );
    for (const w of source.watchers) w.start();
    const timeoutMs = opts.syncTimeoutMs ?? 30_000;
    if (!source.synced) {
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => source.syncWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          source.blocked = resolve;
        }),
        new Promise<void>((resolve) => {
          timeout = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timeout);
      source.blocked = undefined;
      // A problem with the API server has been said once already (and /ready says it until it answers).
      if (!source.synced && !source.health.problem()) {
        const pending = source.watchers.filter((w) => !w.hasSynced).map((w) => w.type.kind);
        opts.log?.(`kubernetes: not synced after ${timeoutMs} ms (still listing ${pending.join(', ')}); serving what is known and carrying on`);
      }
    }
    source.started = true;
    source.reported = source.events?.report(source.current().problems) ?? Promise.resolve();
    return source;
  }

  /** True once every watcher has listed at least once (a kind the cluster does not serve counts as listed, empty). */
  get synced(): boolean {
    return !this.unusable && this.watchers.every((w) => w.hasSynced);
  }

  /** Why the source is not synced (for /ready): the API server's problem, or the kinds still being listed. */
  notReadyReason(): string | undefined {
    if (this.synced) return undefined;
    const problem = this.health.problem();
    if (problem) return `kubernetes: ${problem.message}`;
    return `kubernetes: still listing ${this.watchers
      .filter((w) => !w.hasSynced)
      .map((w) => w.type.kind)
      .join(', ')}`;
  }

  /** Per-kind state, for tests and /config_dump. */
  status(): Array<{
    kind: string;
    version: string | undefined;
    served: boolean;
    synced: boolean;
    objects: number;
    resourceVersion: string | undefined;
    stats: WatcherStats;
  }> {
    return this.watchers.map((w) => ({
      kind: kindLabel(w.type),
      version: w.version,
      served: w.served,
      synced: w.hasSynced,
      objects: w.cache.size,
      resourceVersion: w.resourceVersion,
      stats: { ...w.stats },
    }));
  }

  /** The cluster's resources, ready for `buildSnapshot` (alone or after the files' resources). */
  resources(): RawResource[] {
    return this.current().resources;
  }

  /** Warnings about the cluster's setup, plus one per Istio kind the cluster does not serve. */
  problems(): Problem[] {
    const notServed: Problem[] = this.watchers
      .filter((w) => !w.served && !w.type.optional)
      .map((w) => ({
        severity: 'info',
        code: 'kind-not-served',
        file: sourceFile(w.type.kind, w.type === CONFIG_MAP ? this.configMap!.namespace : (this.opts.namespace ?? '*'), '*'),
        message: `the cluster does not serve ${w.type.group} ${w.type.kind} (CRDs not installed?); none is read`,
      }));
    return [...this.current().problems, ...notServed];
  }

  /**
   * Writes the Gateway API status of the served snapshot's resources back to the cluster (what differs from the
   * objects' own). Only once synced: a status computed from a partial view (a route listed before its Gateway)
   * would be wrong.
   */
  publishStatus(resources: readonly ResourceSummary[]): Promise<void> {
    if (!this.synced || this.closed || !this.statusWriter) return Promise.resolve();
    this.published = resources;
    this.certificateStatus = resources.some((r) => r.certificateRefs && isClusterSource(r.file)) ? resources : undefined;
    return this.statusWriter.publish(this.withRuntime(resources));
  }

  /**
   * Gateways' status completed with what only the running gateway knows: listeners' certificateRefs checked against
   * the Secrets in the cluster now (the snapshot assumed them usable), and the addresses the listeners' ports are
   * bound to. A Gateway whose Secrets are still being listed is left out of this round: the listing's end is a
   * Secret change, which publishes again.
   */
  private withRuntime(resources: readonly ResourceSummary[]): ResourceSummary[] {
    const check: CertificateCheck = (name) => certificateSecretProblem(name, (n) => this.secret(n));
    const bound = this.opts.boundAddress;
    const out: ResourceSummary[] = [];
    for (const r of resources) {
      if (r.kind !== 'Gateway' || !r.status || !isClusterSource(r.file)) {
        out.push(r);
        continue;
      }
      let status: Record<string, unknown> | 'pending' = r.status;
      if (r.certificateRefs) status = withCertificateChecks(status, r.certificateRefs, check);
      if (status === 'pending') continue;
      if (bound && r.listenerPorts) status = withAddresses(status, r.listenerPorts, bound);
      out.push(status === r.status ? r : { ...r, status });
    }
    return out;
  }

  /**
   * Calls `listener` whenever something may have moved: a watcher's cache, stats or sync state, or a debounced
   * `onChange` delivered. Returns the unsubscribe. For tests and probes that wait on a condition without polling.
   */
  onActivity(listener: () => void): () => void {
    this.activity.on('activity', listener);
    return () => this.activity.off('activity', listener);
  }

  /** True while a change waits for its debounce window to deliver `onChange`. */
  get changePending(): boolean {
    return this.timer !== undefined;
  }

  /** Resolves when the Events of the last change have been posted (or failed). */
  eventsPosted(): Promise<void> {
    return this.reported;
  }

  /** Status writes done, skipped as unchanged, retried after a conflict, failed (tests, /config_dump). */
  statusStats(): StatusWriter['stats'] | undefined {
    return this.statusWriter && { ...this.statusWriter.stats };
  }

  /**
   * A Secret `namespace/name` with its data decoded, as a Gateway server's `credentialName` reads it (undefined: not
   * in the cache, or Secrets may not be read).
   */
  secret(name: string): { ref: string; data: Record<string, Buffer> } | 'pending' | undefined {
    if (!this.secrets) {
      if (!this.secretWatch || this.closed) return undefined;
      this.secrets = this.secretWatch();
      this.secrets.start();
    }
    if (!this.secrets.hasSynced) return 'pending';
    const obj = this.secrets.cache.get(name);
    if (!obj) return undefined;
    const data: Record<string, Buffer> = {};
    const raw = obj.data;
    if (raw && typeof raw === 'object') for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') data[k] = Buffer.from(v, 'base64');
    return { ref: `Secret ${name}`, data };
  }

  private secretsChanged(): void {
    if (this.closed) return;
    this.opts.onSecretsChange?.();
    // A listener's certificate Secret created, fixed or deleted: its status says so on this write, not the next reload.
    if (this.certificateStatus) void this.publishStatus(this.certificateStatus);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.stop.abort();
    await Promise.all([...this.watchers, ...(this.secrets ? [this.secrets] : [])].map((w) => w.close()));
    await this.statusWriter?.idle();
  }

  private current(): Translation {
    if (this.translation) return this.translation;
    const t = translate(
      {
        istio: CONFIG_TYPES.flatMap((t) => this.objects(t)),
        services: this.objects(SERVICE),
        endpointSlices: this.objects(ENDPOINT_SLICE),
        pods: this.objects(POD),
      },
      {
        ...(this.opts.ownPodSelector ? { ownPodSelector: this.opts.ownPodSelector } : {}),
        ...(this.opts.listen ? { listen: this.opts.listen } : {}),
      },
    );
    const settings = this.settings.update(this.objects(CONFIG_MAP), this.objects(SHADOWGATE_CONFIG));
    this.translation = { resources: [...t.resources, ...settings.resources], problems: [...t.problems, ...settings.problems] };
    return this.translation;
  }

  private objects(t: ResourceType): KubeObject[] {
    return [...(this.byType.get(t)?.cache.values() ?? [])];
  }

  private changed(): void {
    this.translation = undefined;
    if (this.synced) for (const resolve of this.syncWaiters.splice(0)) resolve();
    if (!this.started || this.closed || this.timer) return;
    // A window from the first change, not reset by later ones: a steady stream of events cannot starve it.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      this.opts.onChange();
      this.reported = this.events?.report(this.current().problems) ?? Promise.resolve();
      this.activity.emit('activity');
    }, this.opts.debounceMs ?? 50);
  }
}
