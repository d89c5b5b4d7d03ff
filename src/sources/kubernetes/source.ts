// Config from the cluster: one robust watcher per kind, their caches translated into the resources the snapshot
// is built from, and a debounced callback when they change. See issue 8 and docs in ./index.ts.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Problem } from '../../config/index.js';
import type { RawResource } from '../../config/parse.js';
import { KubeHttp } from './http.js';
import { Discovery } from './discovery.js';
import { CONFIG_TYPES, ENDPOINT_SLICE, POD, type ResourceType, SERVICE, WATCHED_TYPES } from './resource-types.js';
import { sourceFile, translate, type Translation } from './translate.js';
import { DEFAULT_TUNING, type KubeObject, ListWatcher, type WatcherStats, type WatchTuning } from './watcher.js';
import { WarningEvents } from './events.js';

export interface KubernetesSourceOptions {
  /** Watch one namespace; every namespace when absent. */
  namespace?: string;
  /** Default: in-cluster service account when running in a pod, else the user's kubeconfig (see `defaultKubeConfig`). */
  kubeconfig?: KubeConfig;
  /** Called (debounced) when `resources()`, `problems()` or `synced` may have changed. Never before `start` resolves. */
  onChange: () => void;
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

/** The in-cluster service account when running in a pod (KUBERNETES_SERVICE_HOST is set), else the user's kubeconfig. */
export async function defaultKubeConfig(): Promise<KubeConfig> {
  // Loaded on demand: the library is large, and only `--kubernetes` needs it.
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

export class KubernetesSource {
  private readonly watchers: ListWatcher[];
  private readonly byType = new Map<ResourceType, ListWatcher>();
  private translation: Translation | undefined;
  private started = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private syncWaiters: Array<() => void> = [];

  private readonly events: WarningEvents;
  private readonly stop = new AbortController();

  private constructor(
    private readonly opts: KubernetesSourceOptions,
    api: KubeHttp,
  ) {
    this.events = new WarningEvents(api, opts.log);
    const discovery = new Discovery(api, this.stop.signal, opts.tuning?.requestTimeoutMs ?? DEFAULT_TUNING.requestTimeoutMs);
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
      });
      this.byType.set(type, w);
      return w;
    });
  }

  /** Starts every watcher and resolves once each has listed (or after `syncTimeoutMs`). */
  static async start(opts: KubernetesSourceOptions): Promise<KubernetesSource> {
    const kc = opts.kubeconfig ?? (await defaultKubeConfig());
    const source = new KubernetesSource(opts, new KubeHttp(kc));
    opts.log?.(`kubernetes: watching ${opts.namespace ? `namespace ${opts.namespace}` : 'all namespaces'} on ${new KubeHttp(kc).serverUrl}`);
    for (const w of source.watchers) w.start();
    const timeoutMs = opts.syncTimeoutMs ?? 30_000;
    if (!source.synced) {
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => source.syncWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          timeout = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timeout);
      if (!source.synced) {
        const pending = source.watchers.filter((w) => !w.hasSynced).map((w) => w.type.kind);
        opts.log?.(`kubernetes: not synced after ${timeoutMs} ms (still listing ${pending.join(', ')}); serving what is known and carrying on`);
      }
    }
    source.started = true;
    void source.events.report(source.current().problems);
    return source;
  }

  /** True once every watcher has listed at least once (a kind the cluster does not serve counts as listed, empty). */
  get synced(): boolean {
    return this.watchers.every((w) => w.hasSynced);
  }

  /** Per-kind state, for tests and /config_dump. */
  status(): Array<{ kind: string; version: string | undefined; served: boolean; synced: boolean; objects: number; resourceVersion: string | undefined; stats: WatcherStats }> {
    return this.watchers.map((w) => ({
      kind: w.type.kind,
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

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.stop.abort();
    await Promise.all(this.watchers.map((w) => w.close()));
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
      void this.events.report(this.current().problems);
    }, this.opts.debounceMs ?? 50);
  }
}
