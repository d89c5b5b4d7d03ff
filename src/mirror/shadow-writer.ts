// Writes shadow requests fire-and-forget: own pools, own timeout, bounded body buffers and in-flight count,
// and a counted reason for every shadow it gives up. Nothing here can delay or fail the primary.
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { BodyQueue, type BodySink, type RequestBodyTee } from '../body/index.js';
import type { Cluster, MirrorSettings, MirrorTarget } from '../config/index.js';
import type { AbandonReason, Metrics } from '../telemetry/index.js';
import { type ClusterManager, classifyUpstreamError, FAILURES, PICK_ABANDON } from '../upstream/index.js';
import { getOrCreate } from '../util/maps.js';
import { ByteBudget } from './byte-budget.js';

/** Receives the shadow's answer for comparison (the comparator's AnswerRecorder). */
export interface AnswerSink {
  head(status: number, headers: Record<string, string | string[] | undefined>): void;
  data(chunk: Buffer): void;
  /** HTTP/2 trailers (gRPC's status and trailing metadata), compared as headers. */
  trailers?(trailers: Record<string, string | string[] | undefined>): void;
  done(): void;
  fail(error: string): void;
}

export interface ShadowRequest {
  method: string;
  /** Path and query, after rewrites. */
  path: string;
  /** Headers as sent to the primary (after header operations). */
  headers: Record<string, string | string[]>;
  authority: string;
  /** Downstream client address, appended to x-forwarded-for as Envoy does for shadows. */
  clientAddress: string;
}

/** What the access log says about a shadow when the primary finishes. */
export interface ShadowHandle {
  cluster: string;
  outcome: string;
}

/** `nginx:8000` → `nginx-shadow:8000` (Envoy inserts the suffix before the port). */
export function shadowHost(authority: string): string {
  const m = /^(\[[^\]]*\]|[^:]*)(:\d+)?$/.exec(authority);
  if (!m) return `${authority}-shadow`;
  return `${m[1]}-shadow${m[2] ?? ''}`;
}

/** A mirror target's metric labels, built once per target (targets live as long as their config). */
interface TargetLabels {
  destination: { destination_service: string; destination_subset: string };
  byStatus: Map<number, { destination_service: string; destination_subset: string; response_code: string }>;
  byReason: Map<AbandonReason, { destination_service: string; destination_subset: string; reason: AbandonReason }>;
}

export class ShadowWriter {
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  readonly budget: ByteBudget;
  private readonly labels = new WeakMap<MirrorTarget, TargetLabels>();

  constructor(
    private readonly clusters: ClusterManager,
    private readonly metrics: Metrics,
    private settings: MirrorSettings,
  ) {
    this.budget = new ByteBudget(settings.maxTotalBodyBytes);
    metrics.shadowGauges = () => ({ inFlight: this.inFlight, bufferedBytes: this.budget.used });
  }

  configure(settings: MirrorSettings): void {
    this.settings = settings;
    this.budget.max = settings.maxTotalBodyBytes;
  }

  /** The header that marks a copy ("" when disabled); the data path strips it from what clients send. */
  get markerHeader(): string {
    return this.settings.markerHeader;
  }

  get timeoutMs(): number {
    return this.settings.timeoutMs;
  }

  get shadowsInFlight(): number {
    return this.inFlight;
  }

  private labelsOf(target: MirrorTarget): TargetLabels {
    return getOrCreate(this.labels, target, () => ({
      destination: { destination_service: target.host, destination_subset: target.subset || 'unknown' },
      byStatus: new Map(),
      byReason: new Map(),
    }));
  }

  /** A sampled copy that cannot be sent at all (an upgraded connection): counted as sampled and abandoned. */
  skip(target: MirrorTarget, reason: AbandonReason): ShadowHandle {
    const labels = this.labelsOf(target);
    this.metrics.hot.shadowsSampled.inc(labels.destination);
    this.metrics.hot.shadowAbandoned.inc(getOrCreate(labels.byReason, reason, () => ({ ...labels.destination, reason })));
    return { cluster: target.cluster, outcome: `abandoned:${reason}` };
  }

  /** Resolves when no shadow is in flight (at once when none is): for draining and for tests, no polling. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Starts one shadow. `body` is the primary's tee, or undefined for a bodyless request; `cluster` (the target's
   * model) labels the copy as the shadow workload's sidecar would count it (`reporter="destination"`).
   */
  start(target: MirrorTarget, req: ShadowRequest, body: RequestBodyTee | undefined, answer?: AnswerSink, cluster?: Cluster): ShadowHandle {
    const s = this.settings;
    const labels = this.labelsOf(target);
    const destination = labels.destination;
    const handle: ShadowHandle = { cluster: target.cluster, outcome: 'in_flight' };
    this.metrics.hot.shadowsSampled.inc(destination);
    const abandon = (reason: AbandonReason) => {
      handle.outcome = `abandoned:${reason}`;
      this.metrics.hot.shadowAbandoned.inc(getOrCreate(labels.byReason, reason, () => ({ ...destination, reason })));
      answer?.fail(`abandoned:${reason}`);
    };
    if (this.inFlight >= s.maxInFlight) {
      abandon('too_many_in_flight');
      return handle;
    }
    const picked = this.clusters.pick(target.cluster);
    if (!picked.ok) {
      // UO: the shadow's connections are all busy and its queue is full (a slow shadow).
      abandon(PICK_ABANDON[picked.flag]);
      return handle;
    }

    // undici's dispatch controller arrives when the request starts; a give-up before that is applied then.
    let controller: Dispatcher.DispatchController | undefined;
    let reason: AbandonReason | undefined;
    const giveUp = (why: AbandonReason) => {
      if (reason) return;
      reason = why;
      controller?.abort(new Error(`shadow abandoned: ${why}`));
    };

    let queue: BodyQueue | undefined;
    if (body) {
      const budget = this.budget;
      const q = new BodyQueue((n) => budget.release(n));
      queue = q;
      const sink: BodySink = {
        push: (chunk) => {
          if (reason) return false;
          if (q.bytes + chunk.length > s.maxBodyBytes) {
            giveUp('body_too_large');
            budget.release(q.clear());
            q.fail(new Error('shadow body bound'));
            return false;
          }
          if (!budget.take(chunk.length)) {
            giveUp('buffer_full');
            budget.release(q.clear());
            q.fail(new Error('shadow buffer budget'));
            return false;
          }
          q.push(chunk);
          return true;
        },
        end: () => q.end(),
        fail: (err) => {
          giveUp('primary_aborted');
          budget.release(q.clear());
          q.fail(err);
        },
      };
      if (!body.addSink(sink)) {
        picked.onDone({ kind: 'cancelled' });
        abandon('body_too_large');
        return handle;
      }
    }

    const headers: Record<string, string | string[]> = { ...req.headers };
    const host = s.hostSuffix ? shadowHost(req.authority) : req.authority;
    headers.host = host;
    const xff = headers['x-forwarded-for'];
    headers['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${req.clientAddress}` : req.clientAddress;
    if (s.markerHeader) headers[s.markerHeader] = 'true';

    this.inFlight++;
    const started = performance.now();
    const timer = setTimeout(() => giveUp('timeout'), s.timeoutMs);
    timer.unref();

    const finish = () => {
      clearTimeout(timer);
      if (queue) this.budget.release(queue.clear());
      if (--this.inFlight === 0 && this.idleWaiters.length > 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    };
    let status = 0;
    let received = 0;
    // The shadow's answer never reaches the user: it is read to the end (so the connection is reused) and
    // kept, bounded, only when it is to be compared. A dispatch handler reads it without a body stream.
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart: (c) => {
        controller = c;
        if (reason) c.abort(new Error(`shadow abandoned: ${reason}`));
      },
      onResponseStart: (_c, statusCode, resHeaders) => {
        if (statusCode < 200) return;
        status = statusCode;
        answer?.head(statusCode, resHeaders as Record<string, string | string[] | undefined>);
      },
      onResponseData: (_c, chunk) => {
        received += chunk.length;
        answer?.data(chunk);
      },
      onResponseEnd: (_c, trailers) => {
        answer?.trailers?.(trailers as Record<string, string | string[] | undefined>);
        answer?.done();
        picked.onDone({ kind: 'response', status });
        handle.outcome = String(status);
        this.metrics.hot.shadowRequests.inc(getOrCreate(labels.byStatus, status, () => ({ ...destination, response_code: String(status) })));
        this.metrics.shadowDuration.observe(destination, performance.now() - started);
        this.metrics.istio.recordAttempt(cluster, picked.endpoint, { kind: 'answered', status }, performance.now() - started, body?.bytes ?? 0, received);
        finish();
      },
      onResponseError: (_c, err) => {
        const kind = reason ? (reason === 'timeout' ? 'timeout' : 'cancelled') : classifyUpstreamError(err);
        picked.onDone({ kind });
        abandon(reason ?? FAILURES[kind].abandon);
        // A copy given up before its request started never reached the workload.
        if (controller)
          this.metrics.istio.recordAttempt(
            cluster,
            picked.endpoint,
            { kind: 'failed', failure: kind },
            performance.now() - started,
            body?.bytes ?? 0,
            received,
          );
        finish();
      },
    };
    picked.dispatcher.dispatch(
      // undici takes any async iterable as a body (its types list only streams).
      {
        path: req.path,
        method: req.method as Dispatcher.HttpMethod,
        headers: headers as IncomingHttpHeaders,
        body: (queue ?? null) as unknown as string | null,
      },
      handler,
    );
    return handle;
  }
}
