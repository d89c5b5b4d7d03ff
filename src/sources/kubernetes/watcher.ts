// List-then-watch of one kind, that never gives up: resumes from the last resource version (bookmarks move it),
// relists on 410 Gone, backs off with jitter on every other error, and aborts a stream that has gone quiet.
// Written here rather than taken from the client library's informer, which stops on errors and never notices a
// dead connection. Semantics: https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
import { setTimeout as sleep } from 'node:timers/promises';
import type { Discovery } from './discovery.js';
import {
  ACCEPT_METADATA,
  ACCEPT_METADATA_LIST,
  AnswerTooLargeError,
  apiError,
  isForbidden,
  isGone,
  isNotFound,
  type KubeHttp,
  MAX_ANSWER_BYTES,
  MAX_WATCH_LINE_BYTES,
} from './http.js';
import { apiVersionOf, collectionPath, type ResourceType } from './resource-types.js';

export type KubeObject = Record<string, unknown>;

export interface WatchTuning {
  /** Server-side watch timeout, jittered by ±20% so watchers do not reconnect in step. */
  timeoutSeconds: number;
  /** How often the API server sends a BOOKMARK on a quiet watch (kube-apiserver: about a minute). */
  bookmarkIntervalMs: number;
  /** A stream with no event, bookmark or byte for `stallFactor × bookmarkIntervalMs` is dead: abort and resume. */
  stallFactor: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** Timeout of one list page or discovery request. */
  requestTimeoutMs: number;
  /** How often to look again for a kind the server does not serve (Istio CRDs installed later). */
  rediscoverMs: number;
  /** `limit` of one list page. */
  pageSize: number;
  /** Largest list page read; a watch event line is bounded by the smaller of this and MAX_WATCH_LINE_BYTES. */
  maxAnswerBytes: number;
}

export const DEFAULT_TUNING: WatchTuning = Object.freeze({
  timeoutSeconds: 300,
  bookmarkIntervalMs: 60_000,
  stallFactor: 3,
  backoffInitialMs: 250,
  backoffMaxMs: 30_000,
  requestTimeoutMs: 30_000,
  rediscoverMs: 30_000,
  pageSize: 500,
  maxAnswerBytes: MAX_ANSWER_BYTES,
});

export interface WatcherStats {
  /** Complete lists (the first one, and every relist). */
  lists: number;
  /** Watch requests sent. */
  watches: number;
  /** Relists forced by 410 Gone. */
  gone: number;
  /** Streams found stalled and aborted. */
  stalls: number;
  /** Other failures (dropped connections, HTTP errors, bad JSON), each followed by a backoff. */
  errors: number;
  bookmarks: number;
  events: number;
}

export interface WatcherOptions {
  api: KubeHttp;
  /** Shared by every watcher of a source: the server is asked once, not once per kind. */
  discovery: Discovery;
  type: ResourceType;
  namespace?: string;
  /** `metadata.name=shadowgate`: one object (RBAC can then grant that name alone). */
  fieldSelector?: string;
  tuning?: Partial<WatchTuning>;
  onChange: (cache: ReadonlyMap<string, KubeObject>) => void;
  /**
   * An object changed in its `status` alone (the echo of a status write, ours or another controller's): nothing a
   * config is built from (no reader looks at an input's status), so it calls this instead of `onChange`. Without
   * it, such changes call `onChange` like any other.
   */
  onStatusOnly?: () => void;
  /** A request failed (not a 410 or a stall): told once per failure; the watcher itself then logs nothing. */
  onFailure?: (err: unknown) => void;
  /** A list, or a watch's head, came back 2xx. */
  onSuccess?: () => void;
  /** Anything in `stats`, the cache or the sync state moved (what a test or a probe waits on instead of polling). */
  onActivity?: () => void;
  log?: (line: string) => void;
  random?: () => number;
}

class StallError extends Error {
  override name = 'StallError';
}
class StoppedError extends Error {
  override name = 'StoppedError';
}

/** The object without what a status write changes: its `status` and `metadata.resourceVersion`. */
function withoutStatus(obj: KubeObject): string {
  const { status: _status, metadata, ...rest } = obj;
  const { resourceVersion: _rv, ...meta } = (metadata ?? {}) as Record<string, unknown>;
  return JSON.stringify({ ...rest, metadata: meta });
}

/** Two versions of an object that differ in status alone (keys in the server's order, which it keeps). */
export function sameBesidesStatus(a: KubeObject, b: KubeObject): boolean {
  return withoutStatus(a) === withoutStatus(b);
}

export function objectKey(obj: KubeObject): string {
  const meta = (obj.metadata ?? {}) as { namespace?: unknown; name?: unknown };
  return `${typeof meta.namespace === 'string' ? meta.namespace : ''}/${typeof meta.name === 'string' ? meta.name : ''}`;
}

function resourceVersionOf(obj: unknown): string | undefined {
  const rv = (obj as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
  return typeof rv === 'string' && rv ? rv : undefined;
}

export class ListWatcher {
  /** Current objects by `namespace/name`. Replaced in place on a relist. */
  readonly cache = new Map<string, KubeObject>();
  readonly stats: WatcherStats = { lists: 0, watches: 0, gone: 0, stalls: 0, errors: 0, bookmarks: 0, events: 0 };
  /** Listed at least once (or known not to be served). */
  hasSynced = false;
  /** The version being watched; undefined until discovered. */
  version: string | undefined;
  /** False when the server does not serve this kind (for Istio kinds: no CRDs). */
  served = true;
  /** Last resource version seen (list, event or bookmark); a watch resumes from it. */
  resourceVersion: string | undefined;
  private readonly tuning: WatchTuning;
  private readonly stop = new AbortController();
  private running: Promise<void> | undefined;
  private progressed = false;
  /** Set when discovery's answer proved stale (kind not served, or a 404): ask again, sharing one new answer. */
  private staleDiscovery: number | undefined;
  /** The discovery generation `version` came from. */
  private discoveredAt = 0;

  constructor(private readonly opts: WatcherOptions) {
    this.tuning = { ...DEFAULT_TUNING, ...opts.tuning };
  }

  get type(): ResourceType {
    return this.opts.type;
  }

  /** `VirtualService (networking.istio.io/v1)` */
  get label(): string {
    const t = this.opts.type;
    return `${t.kind} (${apiVersionOf(t.group, this.version ?? '?')})`;
  }

  start(): void {
    this.running ??= this.run();
  }

  async close(): Promise<void> {
    this.stop.abort(new StoppedError('watcher closed'));
    await this.running;
  }

  private log(line: string): void {
    this.opts.log?.(`kubernetes: ${this.label}: ${line}`);
  }

  private emit(): void {
    this.opts.onChange(this.cache);
    this.opts.onActivity?.();
  }

  private backoff(failures: number): number {
    const { backoffInitialMs, backoffMaxMs } = this.tuning;
    const ceiling = Math.min(backoffMaxMs, backoffInitialMs * 2 ** Math.min(failures - 1, 20));
    // "Equal jitter": never less than half the ceiling, so retries spread without hammering.
    return ceiling / 2 + (this.opts.random ?? Math.random)() * (ceiling / 2);
  }

  private async run(): Promise<void> {
    let failures = 0;
    const signal = this.stop.signal;
    while (!signal.aborted) {
      try {
        if (this.version === undefined) {
          if (this.staleDiscovery !== undefined) this.opts.discovery.invalidate(this.staleDiscovery);
          this.staleDiscovery = undefined;
          const { version, generation } = await this.opts.discovery.versionOf(this.opts.type, this.opts.namespace);
          // The server answered (even "not served"): whatever failed before is over for this kind.
          if (!this.opts.type.builtIn) this.opts.onSuccess?.();
          if (version === undefined) {
            this.notServed();
            this.staleDiscovery = generation;
            await sleep(this.tuning.rediscoverMs, undefined, { signal });
            continue;
          }
          if (!this.served) this.log('now served');
          this.version = version;
          this.discoveredAt = generation;
          this.served = true;
        }
        if (this.resourceVersion === undefined) await this.list();
        const started = Date.now();
        await this.watchOnce();
        // A watch ended cleanly at once, with nothing in it (a proxy closing streams?): back off, or this would spin.
        if (!this.progressed && Date.now() - started < 1_000) {
          failures++;
          await sleep(this.backoff(failures), undefined, { signal });
        } else failures = 0;
        this.progressed = false;
      } catch (err) {
        if (signal.aborted) break;
        // An optional kind Shadowgate may not read (a Role without the Gateway API kinds) must not hold readiness back.
        if (isForbidden(err) && this.opts.type.optional) {
          if (this.served)
            this.log(
              `not allowed to read ${this.opts.type.kind} (403); treated as not served, looking again every ${Math.round(this.tuning.rediscoverMs / 1000)} s`,
            );
          this.notServed(true);
          try {
            await sleep(this.tuning.rediscoverMs, undefined, { signal });
          } catch {
            break;
          }
          continue;
        }
        if (this.progressed) failures = 0;
        this.progressed = false;
        const message = err instanceof Error ? err.message : String(err);
        let immediate = false;
        /** Told to onFailure, which logs once per cause rather than once per retry. */
        let reported = false;
        if (isGone(err)) {
          this.stats.gone++;
          this.resourceVersion = undefined;
          immediate = failures === 0;
          this.log(`resource version too old (410 Gone): relisting`);
        } else if (err instanceof StallError) {
          this.stats.stalls++;
          immediate = failures === 0;
          this.log(`${message}: resuming from resource version ${this.resourceVersion}`);
        } else {
          this.stats.errors++;
          this.opts.onFailure?.(err);
          reported = this.opts.onFailure !== undefined;
          // A kind that disappeared (CRD deleted, version no longer served) is discovered again.
          if (isNotFound(err) && !this.opts.type.builtIn) {
            this.version = undefined;
            this.staleDiscovery = this.discoveredAt;
          }
        }
        failures++;
        this.opts.onActivity?.();
        if (!immediate) {
          const delay = Math.round(this.backoff(failures));
          if (!reported) this.log(`${message}; retrying in ${delay} ms${this.resourceVersion ? ` from resource version ${this.resourceVersion}` : ''}`);
          try {
            await sleep(delay, undefined, { signal });
          } catch {
            break;
          }
        }
      }
    }
  }

  /** `forbidden`: said already (403), not a missing CRD. */
  private notServed(forbidden = false): void {
    if (!forbidden && (this.served || !this.hasSynced)) {
      this.log(
        `not served by this cluster (are the ${this.opts.type.group} CRDs installed?); looking again every ${Math.round(this.tuning.rediscoverMs / 1000)} s`,
      );
    }
    this.served = false;
    this.resourceVersion = undefined;
    const wasSynced = this.hasSynced;
    this.hasSynced = true;
    if (this.cache.size > 0 || !wasSynced) {
      this.cache.clear();
      this.emit();
    }
  }

  private path(): string {
    return collectionPath(this.opts.type, this.version!, this.opts.namespace);
  }

  /** Sets apiVersion/kind (list items of built-in kinds have none) and drops what is never read. */
  private normalize(raw: unknown): KubeObject | undefined {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
    const obj = raw as KubeObject;
    const t = this.opts.type;
    const apiVersion = apiVersionOf(t.group, this.version!);
    const meta = { ...((obj.metadata ?? {}) as Record<string, unknown>) };
    delete meta.managedFields;
    if (t.metadataOnly) {
      return {
        apiVersion,
        kind: t.kind,
        metadata: { name: meta.name, namespace: meta.namespace, uid: meta.uid, resourceVersion: meta.resourceVersion, labels: meta.labels ?? {} },
      };
    }
    return { ...obj, apiVersion, kind: t.kind, metadata: meta };
  }

  private async list(): Promise<void> {
    const accept = this.opts.type.metadataOnly ? ACCEPT_METADATA_LIST : 'application/json';
    const items = new Map<string, KubeObject>();
    let continueToken: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await this.opts.api.getJson(
        this.path(),
        { limit: this.tuning.pageSize, continue: continueToken, fieldSelector: this.opts.fieldSelector },
        accept,
        this.stop.signal,
        this.tuning.requestTimeoutMs,
        this.tuning.maxAnswerBytes,
      );
      for (const item of Array.isArray(page.items) ? page.items : []) {
        const obj = this.normalize(item);
        if (obj) items.set(objectKey(obj), obj);
      }
      const meta = (page.metadata ?? {}) as { continue?: unknown; resourceVersion?: unknown };
      continueToken = typeof meta.continue === 'string' && meta.continue ? meta.continue : undefined;
      resourceVersion = typeof meta.resourceVersion === 'string' ? meta.resourceVersion : resourceVersion;
    } while (continueToken);
    if (!resourceVersion) throw new Error('list answer has no metadata.resourceVersion');
    this.cache.clear();
    for (const [k, v] of items) this.cache.set(k, v);
    this.resourceVersion = resourceVersion;
    this.stats.lists++;
    this.hasSynced = true;
    this.opts.onSuccess?.();
    this.emit();
  }

  /** One watch request, from `resourceVersion`. Resolves when the server ends it cleanly (its timeout). */
  private watchOnce(): Promise<void> {
    const t = this.tuning;
    const timeoutSeconds = Math.max(1, Math.round(t.timeoutSeconds * (0.8 + (this.opts.random ?? Math.random)() * 0.4)));
    const stallMs = t.bookmarkIntervalMs * t.stallFactor;
    const lineBound = Math.min(MAX_WATCH_LINE_BYTES, t.maxAnswerBytes);
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, this.stop.signal]);
    this.stats.watches++;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let abortStream: ((e: Error) => void) | undefined;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.stop.signal.removeEventListener('abort', onStop);
        if (err) {
          controller.abort(err);
          abortStream?.(err);
          reject(err);
        } else resolve();
      };
      const onStop = () => settle(new StoppedError('watcher closed'));
      this.stop.signal.addEventListener('abort', onStop);
      // The stall clock runs from the request on: a server that never sends the head is as dead as a silent stream.
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => settle(new StallError(`watch stalled (nothing for ${stallMs} ms)`)), stallMs);
      };
      arm();
      this.opts.api
        .open(
          this.path(),
          { watch: true, resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds, fieldSelector: this.opts.fieldSelector },
          this.opts.type.metadataOnly ? ACCEPT_METADATA : 'application/json',
          signal,
        )
        .then(({ response, abort }) => {
          abortStream = abort;
          if (settled) {
            abort(new StoppedError('watch no longer wanted'));
            return;
          }
          this.opts.onSuccess?.();
          this.opts.onActivity?.();
          arm();
          response.socket?.setKeepAlive(true, 30_000);
          response.setEncoding('utf8');
          let buffered = '';
          response.on('data', (chunk: string) => {
            if (settled) return;
            arm();
            buffered += chunk;
            // One event per line, its object bounded by etcd: a line past the bound is a broken stream, not an event.
            if (buffered.length > lineBound && buffered.indexOf('\n') < 0) {
              settle(new AnswerTooLargeError(`watch event larger than the ${lineBound}-byte bound; reconnecting`));
              return;
            }
            for (let nl = buffered.indexOf('\n'); nl >= 0 && !settled; nl = buffered.indexOf('\n')) {
              const line = buffered.slice(0, nl).trim();
              buffered = buffered.slice(nl + 1);
              if (!line) continue;
              if (line.length > lineBound) {
                settle(new AnswerTooLargeError(`watch event larger than the ${lineBound}-byte bound; reconnecting`));
                return;
              }
              try {
                this.handleEvent(JSON.parse(line));
              } catch (err) {
                settle(err instanceof Error ? err : new Error(String(err)));
              }
            }
          });
          response.on('error', (err) => settle(err));
          response.on('close', () => {
            if (!response.complete) {
              settle(new Error('watch connection dropped'));
              return;
            }
            try {
              if (buffered.trim() && !settled) this.handleEvent(JSON.parse(buffered));
              settle();
            } catch (err) {
              settle(err instanceof Error ? err : new Error(String(err)));
            }
          });
        })
        .catch((err: unknown) => settle(err instanceof Error ? err : new Error(String(err))));
    });
  }

  private handleEvent(event: unknown): void {
    const { type, object } = (event ?? {}) as { type?: unknown; object?: unknown };
    if (type === 'ERROR') {
      const status = (object ?? {}) as Record<string, unknown>;
      throw apiError(typeof status.code === 'number' ? status.code : 500, status);
    }
    const rv = resourceVersionOf(object);
    this.progressed = true;
    if (type === 'BOOKMARK') {
      this.stats.bookmarks++;
      if (rv) this.resourceVersion = rv;
      return;
    }
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') throw new Error(`unknown watch event type ${String(type)}`);
    const obj = this.normalize(object);
    if (!obj) throw new Error(`watch event ${type} without an object`);
    this.stats.events++;
    const key = objectKey(obj);
    const before = type === 'MODIFIED' && this.opts.onStatusOnly ? this.cache.get(key) : undefined;
    if (type === 'DELETED') this.cache.delete(key);
    else this.cache.set(key, obj);
    if (rv) this.resourceVersion = rv;
    if (before && sameBesidesStatus(before, obj)) {
      this.opts.onStatusOnly!();
      this.opts.onActivity?.();
      return;
    }
    this.emit();
  }
}
