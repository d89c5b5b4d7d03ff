// One attempt to the primary upstream, on undici's dispatch-handler API: the answer streams straight from the
// upstream socket to the downstream response (no intermediate body stream, no AbortController per request),
// with back-pressure both ways. A retriable status is read to the end and discarded, never sent.
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { classifyUpstreamError, type UpstreamFailure } from '../upstream/index.js';

export type AttemptOutcome =
  /** The answer was sent downstream (completely, unless the client went away). */
  | { kind: 'answered'; status: number }
  /** A status the retry policy retries: nothing was sent downstream. */
  | { kind: 'retry-status'; status: number }
  | {
      kind: 'failed';
      failure: UpstreamFailure;
      /** Which timer fired, for a timeout. */
      timeout?: 'route' | 'per-try';
      /** True when the head had already been sent downstream. */
      afterCommit: boolean;
    };

export interface AttemptOptions {
  dispatcher: Pick<Dispatcher, 'dispatch'>;
  path: string;
  method: string;
  headers: Record<string, string | string[]>;
  /** undici takes any async iterable as a body. */
  body: AsyncIterable<Buffer> | null;
  res: ServerResponse;
  /**
   * Where the attempt registers itself to hear that the downstream connection closed early (the request's one
   * 'close' listener calls it): one listener per request instead of one per attempt.
   */
  downstream: DownstreamHook;
  /** What the caller does with the answer (an object, not closures: see DownstreamHook). */
  events: AttemptEvents;
  /** performance.now() deadline of the route timeout, if any. */
  routeDeadline?: number;
  perTryTimeoutMs?: number;
}

/** The answer as it arrives, told to the caller. */
export interface AttemptEvents {
  /** Decided on the status and headers: retry (discard this answer) or commit it. */
  retryOnStatus(status: number, headers: Record<string, string | string[] | undefined>): boolean;
  /** Writes the response head downstream (header operations are the caller's). */
  commit(status: number, headers: Record<string, string | string[] | undefined>): void;
  /** Sees every body chunk sent downstream (byte counts, capture for comparison). */
  onData(chunk: Buffer): void;
  /** The whole answer arrived, with its trailers (HTTP/2, gRPC); called before the downstream response ends. */
  onEnd(trailers: Record<string, string | string[] | undefined>): void;
}

type Abort = 'route' | 'per-try' | 'downstream';

/** What runs on the request while its client is connected: told when the client goes away first. */
export interface DownstreamListener {
  downstreamClosed(): void;
}

/**
 * The slot a request keeps for its running attempt (or tunnel). An object, not a closure: a closure capturing
 * the attempt was measured to keep every request's objects alive through young-generation GCs until the next
 * full GC (about 3 KiB promoted per request, `npm run bench:gc`); an object reference does not.
 */
export interface DownstreamHook {
  onClose: DownstreamListener | undefined;
}

/**
 * One attempt's state and undici's dispatch handler in one object: its methods live on the prototype, so an
 * attempt allocates this object, its promise and the downstream hook, not a closure per callback (the data path
 * runs one per request).
 */
class Attempt implements Dispatcher.DispatchHandler, DownstreamListener {
  private controller: Dispatcher.DispatchController | undefined;
  private aborted: Abort | undefined;
  private committed = false;
  private retryStatus = 0;
  private status = 0;
  private settled = false;
  private routeTimer: NodeJS.Timeout | undefined;
  private tryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: AttemptOptions,
    private readonly resolve: (outcome: AttemptOutcome) => void,
  ) {
    o.downstream.onClose = this;
    // The attempt rides as the timers' argument, not in a closure (see DownstreamHook).
    if (o.routeDeadline !== undefined) this.routeTimer = setTimeout(abortAttempt, Math.max(0, o.routeDeadline - performance.now()), this, 'route');
    if (o.perTryTimeoutMs !== undefined) this.tryTimer = setTimeout(abortAttempt, o.perTryTimeoutMs, this, 'per-try');
  }

  downstreamClosed(): void {
    this.abort('downstream');
  }

  abort(why: Abort): void {
    if (this.settled || this.aborted) return;
    this.aborted = why;
    this.controller?.abort(new Error(`${why} abort`));
  }

  private done(outcome: AttemptOutcome): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.routeTimer);
    clearTimeout(this.tryTimer);
    this.o.downstream.onClose = undefined;
    this.resolve(outcome);
  }

  onRequestStart(c: Dispatcher.DispatchController): void {
    this.controller = c;
    if (this.aborted) c.abort(new Error(`${this.aborted} abort`));
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return; // 1xx: the final head follows
    this.status = statusCode;
    if (this.o.events.retryOnStatus(statusCode, headers)) {
      this.retryStatus = statusCode;
      return;
    }
    this.committed = true;
    this.o.events.commit(statusCode, headers);
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.committed) return;
    this.o.events.onData(chunk);
    if (!this.o.res.write(chunk)) {
      c.pause();
      this.o.res.once('drain', () => c.resume());
    }
  }

  onResponseEnd(_c: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (!this.committed) {
      this.done({ kind: 'retry-status', status: this.retryStatus });
      return;
    }
    this.o.events.onEnd(trailers);
    this.o.res.end();
    this.done({ kind: 'answered', status: this.status });
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    const aborted = this.aborted;
    const failure: UpstreamFailure =
      aborted === 'route' || aborted === 'per-try' ? 'timeout' : aborted === 'downstream' ? 'cancelled' : classifyUpstreamError(err);
    const outcome: AttemptOutcome = { kind: 'failed', failure, afterCommit: this.committed };
    if (aborted === 'route' || aborted === 'per-try') outcome.timeout = aborted;
    this.done(outcome);
  }
}

function abortAttempt(attempt: Attempt, why: Abort): void {
  attempt.abort(why);
}

export function runAttempt(o: AttemptOptions): Promise<AttemptOutcome> {
  return new Promise((resolve) => {
    o.dispatcher.dispatch(
      {
        path: o.path,
        method: o.method as Dispatcher.HttpMethod,
        headers: o.headers,
        body: o.body as unknown as string | null,
        // No undici timers per request (0 = none): the connection's idle bound stands for them
        // (upstream/socket-idle.ts).
        headersTimeout: 0,
        bodyTimeout: 0,
      },
      new Attempt(o, resolve),
    );
  });
}
