// Config from the cluster: one robust watcher per kind, their caches translated into the resources the snapshot
// is built from, and a debounced callback when they change. See issue 8 and docs in ./index.ts.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Problem } from '../../config/index.js';
import type { RawResource } from '../../config/parse.js';
import { Discovery } from './discovery.js';
import { WarningEvents } from './events.js';
import { ApiHealth, type ApiProblem, classify } from './health.js';
import { KubeHttp } from './http.js';
import { checkKubeConfig, loadKubeConfig } from './kubeconfig.js';
import { CONFIG_TYPES, ENDPOINT_SLICE, kindLabel, POD, type ResourceType, SECRET, SERVICE, WATCHED_TYPES } from './resource-types.js';
import { sourceFile, type Translation, translate } from './translate.js';
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
}

export class KubernetesSource {
  private readonly watchers: ListWatcher[];
  private readonly byType = new Map<ResourceType, ListWatcher>();
  private translation: Translation | undefined;
  private started = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private syncWaiters: Array<() => void> = [];

  private readonly events: WarningEvents | undefined;
  private readonly stop = new AbortController();
  private readonly health: ApiHealth;
  /** Set when the kubeconfig cannot work: no watcher runs, and the source never syncs. */
  private readonly unusable: ApiProblem | undefined;
  /** Makes the Secret watcher, started by the first `secret()` (undefined: no usable API server). */
  private secretWatch: (() => ListWatcher) | undefined;
  private secrets: ListWatcher | undefined;
  /** Ends `start`'s wait early: the API server cannot be used for now (unreachable, refused credentials, ...). */
  private blocked: (() => void) | undefined;

  private constructor(
    private readonly opts: KubernetesSourceOptions,
    api: KubeHttp | ApiProblem,
  ) {
    this.health = new ApiHealth(
      opts.log,
      opts.registry,
      WATCHED_TYPES.map(kindLabel),
      () => this.watchers.filter((w) => !w.hasSynced).length + (this.unusable ? WATCHED_TYPES.length : 0),
    );
    if (!(api instanceof KubeHttp)) {
      this.unusable = api;
      this.watchers = [];
      this.health.unusable(api);
      return;
    }
    this.events = new WarningEvents(api, opts.log);
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
    this.watchers = WATCHED_TYPES.map((type) => {
      const w = new ListWatcher({
        api,
        discovery,
        type,
        namespace: opts.namespace,
        tuning: opts.tuning,
        log: opts.log,
        random: opts.random,
        onChange: () => this.changed(),
        onFailure: (err) => {
          const problem = classify(err, server, kindLabel(type));
          this.health.failure(kindLabel(type), problem);
          if (problem.reason !== 'error') this.blocked?.();
        },
        onSuccess: () => this.health.success(kindLabel(type)),
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
    const source = new KubernetesSource(opts, api);
    opts.log?.(`kubernetes: watching ${opts.namespace ? `namespace ${opts.namespace}` : 'all namespaces'} on ${api.serverUrl} (kubeconfig: ${loaded.from})`);
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
    void source.events?.report(source.current().problems);
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
        file: sourceFile(w.type.kind, this.opts.namespace ?? '*', '*'),
        message: `the cluster does not serve ${w.type.group} ${w.type.kind} (CRDs not installed?); none is read`,
      }));
    return [...this.current().problems, ...notServed];
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
    if (!this.closed) this.opts.onSecretsChange?.();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.stop.abort();
    await Promise.all([...this.watchers, ...(this.secrets ? [this.secrets] : [])].map((w) => w.close()));
  }

  private current(): Translation {
    this.translation ??= translate(
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
      void this.events?.report(this.current().problems);
    }, this.opts.debounceMs ?? 50);
  }
}
