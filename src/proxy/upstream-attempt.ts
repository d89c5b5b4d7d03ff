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
   * Where the attempt registers what to do if the downstream connection closes early (the request's one
   * 'close' listener calls it): one listener per request instead of one per attempt.
   */
  downstream: { onClose: (() => void) | undefined };
  /** Decided on the status and headers: retry (discard this answer) or commit it. */
  retryOnStatus(status: number, headers: Record<string, string | string[] | undefined>): boolean;
  /** Writes the response head downstream (header operations are the caller's). */
  commit(status: number, headers: Record<string, string | string[] | undefined>): void;
  /** Sees every body chunk sent downstream (byte counts, capture for comparison). */
  onData(chunk: Buffer): void;
  /** The whole answer arrived, with its trailers (HTTP/2, gRPC); called before the downstream response ends. */
  onEnd(trailers: Record<string, string | string[] | undefined>): void;
  /** performance.now() deadline of the route timeout, if any. */
  routeDeadline?: number;
  perTryTimeoutMs?: number;
}

type Abort = 'route' | 'per-try' | 'downstream';

export function runAttempt(o: AttemptOptions): Promise<AttemptOutcome> {
  return new Promise((resolve) => {
    const { res } = o;
    let controller: Dispatcher.DispatchController | undefined;
    let aborted: Abort | undefined;
    let committed = false;
    let retryStatus = 0;
    let status = 0;
    let settled = false;
    let routeTimer: NodeJS.Timeout | undefined;
    let tryTimer: NodeJS.Timeout | undefined;

    const abort = (why: Abort) => {
      if (settled || aborted) return;
      aborted = why;
      controller?.abort(new Error(`${why} abort`));
    };
    const onClose = () => abort('downstream');
    const done = (outcome: AttemptOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(routeTimer);
      clearTimeout(tryTimer);
      o.downstream.onClose = undefined;
      resolve(outcome);
    };
    o.downstream.onClose = onClose;
    if (o.routeDeadline !== undefined) routeTimer = setTimeout(() => abort('route'), Math.max(0, o.routeDeadline - performance.now()));
    if (o.perTryTimeoutMs !== undefined) tryTimer = setTimeout(() => abort('per-try'), o.perTryTimeoutMs);

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (aborted) c.abort(new Error(`${aborted} abort`));
      },
      onResponseStart(_c, statusCode, headers) {
        if (statusCode < 200) return; // 1xx: the final head follows
        status = statusCode;
        if (o.retryOnStatus(statusCode, headers as Record<string, string | string[] | undefined>)) {
          retryStatus = statusCode;
          return;
        }
        committed = true;
        o.commit(statusCode, headers as Record<string, string | string[] | undefined>);
      },
      onResponseData(c, chunk) {
        if (!committed) return;
        o.onData(chunk);
        if (!res.write(chunk)) {
          c.pause();
          res.once('drain', () => c.resume());
        }
      },
      onResponseEnd(_c, trailers) {
        if (!committed) return done({ kind: 'retry-status', status: retryStatus });
        o.onEnd(trailers as Record<string, string | string[] | undefined>);
        res.end();
        done({ kind: 'answered', status });
      },
      onResponseError(_c, err) {
        const failure: UpstreamFailure =
          aborted === 'route' || aborted === 'per-try' ? 'timeout' : aborted === 'downstream' ? 'cancelled' : classifyUpstreamError(err);
        const outcome: AttemptOutcome = { kind: 'failed', failure, afterCommit: committed };
        if (aborted === 'route' || aborted === 'per-try') outcome.timeout = aborted;
        done(outcome);
      },
    };
    o.dispatcher.dispatch({ path: o.path, method: o.method as Dispatcher.HttpMethod, headers: o.headers, body: o.body as unknown as string | null }, handler);
  });
}
