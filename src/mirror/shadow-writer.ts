// Writes shadow requests fire-and-forget: own pools, own timeout, bounded body buffers and in-flight count,
// and a counted reason for every shadow it gives up. Nothing here can delay or fail the primary.
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { BodyQueue, type BodySink, type RequestBodyTee } from '../body/index.js';
import type { Cluster, MirrorSettings, MirrorTarget } from '../config/index.js';
import type { AbandonReason, Metrics } from '../telemetry/index.js';
import { type ClusterManager, classifyUpstreamError, FAILURES, PICK_ABANDON, type Picked } from '../upstream/index.js';
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
  /** A gRPC call: the workload-side metrics carry its grpc-status (`request_protocol="grpc"`). */
  grpc?: boolean;
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
    readonly metrics: Metrics,
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
    return getOrCreate(this.labels, target, targetLabels);
  }

  /** A sampled copy that cannot be sent at all (an upgraded connection): counted as sampled and abandoned. */
  skip(target: MirrorTarget, reason: AbandonReason): ShadowHandle {
    const labels = this.labelsOf(target);
    this.metrics.hot.shadowsSampled.inc(labels.destination);
    this.metrics.hot.shadowAbandoned.inc(getOrCreate(labels.byReason, reason, reasonLabels, labels.destination));
    return { cluster: target.cluster, outcome: `abandoned:${reason}` };
  }

  /** Resolves when no shadow is in flight (at once when none is): for draining and for tests, no polling. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Counts a give-up before the copy was sent (or while it was), as the access log and metrics report it. */
  abandon(labels: TargetLabels, handle: ShadowHandle, answer: AnswerSink | undefined, reason: AbandonReason): void {
    handle.outcome = `abandoned:${reason}`;
    this.metrics.hot.shadowAbandoned.inc(getOrCreate(labels.byReason, reason, reasonLabels, labels.destination));
    answer?.fail(`abandoned:${reason}`);
  }

  /**
   * Starts one shadow. `body` is the primary's tee, or undefined for a bodyless request; `cluster` (the target's
   * model) labels the copy as the shadow workload's sidecar would count it (`reporter="destination"`).
   */
  start(target: MirrorTarget, req: ShadowRequest, body: RequestBodyTee | undefined, answer?: AnswerSink, cluster?: Cluster): ShadowHandle {
    const s = this.settings;
    const labels = this.labelsOf(target);
    const handle: ShadowHandle = { cluster: target.cluster, outcome: 'in_flight' };
    this.metrics.hot.shadowsSampled.inc(labels.destination);
    if (this.inFlight >= s.maxInFlight) {
      this.abandon(labels, handle, answer, 'too_many_in_flight');
      return handle;
    }
    const picked = this.clusters.pick(target.cluster);
    if (!picked.ok) {
      // UO: the shadow's connections are all busy and its queue is full (a slow shadow).
      this.abandon(labels, handle, answer, PICK_ABANDON[picked.flag]);
      return handle;
    }
    const shadow = new Shadow(this, labels, handle, answer, cluster, picked, body);
    if (req.grpc) shadow.grpcStatus = '';
    if (body) {
      if (!body.addSink(shadow.bodySink(s.maxBodyBytes))) {
        picked.onDone({ kind: 'cancelled' });
        this.abandon(labels, handle, answer, 'body_too_large');
        return handle;
      }
    }

    // Copied key by key: an object spread here was measured to keep every shadow alive through young-generation
    // GCs (V8 cloned it into a long-lived allocation; 0.3 KB promoted per request, bench:gc).
    const headers: Record<string, string | string[]> = {};
    for (const name in req.headers) headers[name] = req.headers[name]!;
    headers.host = s.hostSuffix ? shadowHost(req.authority) : req.authority;
    const xff = headers['x-forwarded-for'];
    headers['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${req.clientAddress}` : req.clientAddress;
    if (s.markerHeader) headers[s.markerHeader] = 'true';

    this.inFlight++;
    shadow.arm(s.timeoutMs);
    shadow.request = {
      path: req.path,
      method: req.method as Dispatcher.HttpMethod,
      headers: headers as IncomingHttpHeaders,
      // undici takes any async iterable as a body (its types list only streams).
      body: (shadow.queue ?? null) as unknown as string | null,
      // The shadow's own timer (arm) bounds its whole life; undici's per-request timers (0 = none) would add a
      // timer object per copy that outlives a young-generation GC (see upstream/socket-idle.ts).
      headersTimeout: 0,
      bodyTimeout: 0,
    };
    // Sent once the code that started it has run on: the data path starts the shadows before the primary
    // attempt, and the primary's request should reach the wire first (undici writes a bodyless request at once).
    this.outbox.push(shadow);
    // nextTick rather than queueMicrotask: Node wraps every queued microtask in an AsyncResource.
    if (this.outbox.length === 1) process.nextTick(this.sendOutbox);
    return handle;
  }

  /**
   * One array for the life of the writer, emptied after each batch: a fresh array per batch that V8 decided to
   * allocate in the old generation kept the batch's shadows alive until the next full GC.
   */
  private readonly outbox: Shadow[] = [];
  private readonly sendOutbox = (): void => {
    const out = this.outbox;
    // A shadow started while sending joins this batch (the length is read on every turn).
    for (let i = 0; i < out.length; i++) out[i]!.send();
    out.length = 0;
  };

  /** A shadow has ended (answered or given up). */
  ended(): void {
    if (--this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

/**
 * One shadow in flight: its state and undici's dispatch handler in one object (methods on the prototype, so a copy
 * allocates this object, its headers and its timer rather than a closure per callback). The shadow's answer never
 * reaches the user: it is read to the end (so the connection is reused) and kept, bounded, only when it is to be
 * compared.
 */
class Shadow implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  /** Why it was given up; a give-up before the request started is applied when it starts. */
  private reason: AbandonReason | undefined;
  private status = 0;
  private received = 0;
  /** gRPC: the status from the answer's headers (trailers-only) or, later, its trailers; undefined otherwise. */
  grpcStatus: string | undefined;
  private readonly started = performance.now();
  private timer: NodeJS.Timeout | undefined;
  queue: BodyQueue | undefined;
  request: Dispatcher.DispatchOptions | undefined;

  constructor(
    private readonly writer: ShadowWriter,
    private readonly labels: TargetLabels,
    private readonly handle: ShadowHandle,
    private readonly answer: AnswerSink | undefined,
    private readonly cluster: Cluster | undefined,
    private readonly picked: Picked,
    private readonly body: RequestBodyTee | undefined,
  ) {}

  /** The copy's own bounded buffer of the request body (`queue`, its request's body), and the sink the primary's tee feeds. */
  bodySink(maxBodyBytes: number): BodySink {
    const budget = this.writer.budget;
    const q = new BodyQueue((n) => budget.release(n));
    const sink: BodySink = {
      push: (chunk) => {
        if (this.reason) return false;
        if (q.bytes + chunk.length > maxBodyBytes) {
          this.giveUp('body_too_large');
          budget.release(q.clear());
          q.fail(new Error('shadow body bound'));
          return false;
        }
        if (!budget.take(chunk.length)) {
          this.giveUp('buffer_full');
          budget.release(q.clear());
          q.fail(new Error('shadow buffer budget'));
          return false;
        }
        q.push(chunk);
        return true;
      },
      end: () => q.end(),
      fail: (err) => {
        this.giveUp('primary_aborted');
        budget.release(q.clear());
        q.fail(err);
      },
    };
    this.queue = q;
    return sink;
  }

  arm(timeoutMs: number): void {
    // The shadow rides as the timer's argument: a closure over it would keep every shadow (and what it points to)
    // alive through young-generation GCs (see proxy/upstream-attempt.ts DownstreamHook).
    this.timer = setTimeout(timedOut, timeoutMs, this);
    this.timer.unref();
  }

  /** The shadow's own timeout fired. */
  timedOut(): void {
    this.giveUp('timeout');
  }

  send(): void {
    this.picked.dispatcher.dispatch(this.request!, this);
  }

  private giveUp(why: AbandonReason): void {
    if (this.reason) return;
    this.reason = why;
    this.controller?.abort(new Error(`shadow abandoned: ${why}`));
  }

  private finish(): void {
    clearTimeout(this.timer);
    if (this.queue) this.writer.budget.release(this.queue.clear());
    this.writer.ended();
  }

  private grpcOf(h: Record<string, string | string[] | undefined>): void {
    const v = h['grpc-status'];
    if (this.grpcStatus !== undefined && v !== undefined) this.grpcStatus = Array.isArray(v) ? (v[0] ?? '') : v;
  }

  onRequestStart(c: Dispatcher.DispatchController): void {
    this.controller = c;
    if (this.reason) c.abort(new Error(`shadow abandoned: ${this.reason}`));
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return;
    this.status = statusCode;
    this.grpcOf(headers);
    this.answer?.head(statusCode, headers);
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.received += chunk.length;
    this.answer?.data(chunk);
  }

  onResponseEnd(_c: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    const { answer, labels, status } = this;
    this.grpcOf(trailers);
    answer?.trailers?.(trailers);
    answer?.done();
    this.picked.onDone({ kind: 'response', status });
    this.handle.outcome = String(status);
    const metrics = this.writer.metrics;
    metrics.hot.shadowRequests.inc(getOrCreate(labels.byStatus, status, statusLabels, labels.destination));
    const ms = performance.now() - this.started;
    metrics.shadowDuration.observe(labels.destination, ms);
    metrics.istio.recordAttempt(this.cluster, this.picked.endpoint, { kind: 'answered', status }, ms, this.body?.bytes ?? 0, this.received, this.grpcStatus);
    this.finish();
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    const reason = this.reason;
    const kind = reason ? (reason === 'timeout' ? 'timeout' : 'cancelled') : classifyUpstreamError(err);
    this.picked.onDone({ kind });
    this.writer.abandon(this.labels, this.handle, this.answer, reason ?? FAILURES[kind].abandon);
    // A copy given up before its request started never reached the workload.
    if (this.controller)
      this.writer.metrics.istio.recordAttempt(
        this.cluster,
        this.picked.endpoint,
        { kind: 'failed', failure: kind },
        performance.now() - this.started,
        this.body?.bytes ?? 0,
        this.received,
        this.grpcStatus,
      );
    this.finish();
  }
}

// The label sets of one mirror target, made once each (getOrCreate's `make`: no closure per call).
function targetLabels(target: MirrorTarget): TargetLabels {
  return { destination: { destination_service: target.host, destination_subset: target.subset || 'unknown' }, byStatus: new Map(), byReason: new Map() };
}
function statusLabels(status: number, destination: TargetLabels['destination']) {
  return { ...destination, response_code: String(status) };
}
function reasonLabels(reason: AbandonReason, destination: TargetLabels['destination']) {
  return { ...destination, reason };
}

function timedOut(shadow: Shadow): void {
  shadow.timedOut();
}
