// Pairs the answers to one mirrored request (primary, candidate, secondary) as they finish, in any order,
// and hands the complete exchange to the comparison queue.
import type { CapturedResponse, Exchange } from '../compare/index.js';
import type { ByteBudget } from '../util/byte-budget.js';
import { BodyCapture } from './capture.js';

export type AnswerRole = 'primary' | 'candidate' | 'secondary';

/** Records one answer: head, body (bounded), latency, or why there was none. */
export class AnswerRecorder {
  private readonly started = performance.now();
  private readonly capture: BodyCapture;
  private status = 0;
  private headers: Record<string, string | string[]> = {};
  private settled = false;
  private origin: string | undefined;

  constructor(
    private readonly exchange: { deliver(role: AnswerRole, resp: CapturedResponse): void },
    private readonly role: AnswerRole,
    maxBodyBytes: number,
    budget: ByteBudget,
  ) {
    this.capture = new BodyCapture(maxBodyBytes, budget);
  }

  head(status: number, headers: Record<string, string | string[] | undefined>): void {
    this.status = status;
    const h: Record<string, string | string[]> = {};
    for (const k in headers) {
      const v = headers[k];
      if (v !== undefined) h[k] = v;
    }
    this.headers = h;
  }

  /** The endpoint this answer comes from (the last attempt's, after retries). */
  from(origin: string): void {
    this.origin = origin;
  }

  data(chunk: Buffer): void {
    if (!this.settled) this.capture.push(chunk);
  }

  /**
   * Trailers join the headers (gRPC's grpc-status, grpc-message and trailing metadata then compare as
   * `header.grpc-status`...); a trailers-only answer has them in its headers already, so both forms compare alike.
   */
  trailers(trailers: Record<string, string | string[] | undefined>): void {
    for (const k in trailers) {
      const v = trailers[k];
      if (v !== undefined) this.headers[k] = v;
    }
  }

  done(): void {
    if (this.settled) return;
    this.settled = true;
    const r: CapturedResponse = { status: this.status, headers: this.headers, body: this.capture.finish(), latencyMs: performance.now() - this.started };
    if (this.origin !== undefined) r.origin = this.origin;
    this.exchange.deliver(this.role, r);
  }

  fail(error: string): void {
    if (this.settled) return;
    this.settled = true;
    this.capture.discard();
    this.exchange.deliver(this.role, {
      status: 0,
      headers: {},
      body: { size: 0, sha256: '', truncated: false },
      latencyMs: performance.now() - this.started,
      error,
    });
  }
}

/** Receives the request body's chunks (the shape of proxy's BodySink, which comparator cannot import). */
export interface RequestBodySink {
  push(chunk: Buffer): boolean;
  end(): void;
  fail(err: Error): void;
}

export class ExchangeBuilder {
  private pending = 1;
  private readonly exchange: Exchange;
  private request: BodyCapture | undefined;

  constructor(
    base: Omit<Exchange, 'primary' | 'candidate' | 'secondary'>,
    private readonly onComplete: (ex: Exchange) => void,
    private readonly maxBodyBytes: number,
    private readonly budget: ByteBudget,
  ) {
    // The base is this exchange's own (ExchangeSource.build): completed in place rather than spread into a copy.
    this.exchange = Object.assign(base, { primary: { status: 0, headers: {}, body: { size: 0, sha256: '', truncated: false }, latencyMs: 0 } });
  }

  /**
   * A copy of the request body for the sample, bounded like the answers'. Whatever arrived when the last answer
   * is in is what the sample keeps (an answer before the whole body is rare, and then the body is marked cut).
   */
  requestBody(): RequestBodySink {
    const capture = new BodyCapture(this.maxBodyBytes, this.budget);
    this.request = capture;
    let open = true;
    return {
      push: (chunk) => {
        if (open && this.request === capture) capture.push(chunk);
        return open && this.request === capture;
      },
      end: () => {
        open = false;
      },
      fail: () => {
        open = false;
      },
    };
  }

  /** Registers an answer still to come and returns its recorder. */
  expect(role: AnswerRole): AnswerRecorder {
    if (role !== 'primary') this.pending++;
    // The recorder holds this builder and its role, not a closure over them (closures on the data path kept whole
    // requests alive through young-generation GCs: see proxy/upstream-attempt.ts DownstreamHook).
    return new AnswerRecorder(this, role, this.maxBodyBytes, this.budget);
  }

  /** One answer is in; the last one completes the exchange. */
  deliver(role: AnswerRole, resp: CapturedResponse): void {
    this.exchange[role] = resp;
    if (--this.pending === 0) {
      if (this.request) {
        this.exchange.requestBody = this.request.finish();
        this.request = undefined;
      }
      this.onComplete(this.exchange);
    }
  }
}
