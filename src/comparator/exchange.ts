// Pairs the answers to one mirrored request (primary, candidate, secondary) as they finish, in any order,
// and hands the complete exchange to the comparison queue.
import type { CapturedResponse, Exchange } from '../compare/index.js';
import type { ByteBudget } from '../mirror/index.js';
import { BodyCapture } from './capture.js';

export type AnswerRole = 'primary' | 'candidate' | 'secondary';

/** Records one answer: head, body (bounded), latency, or why there was none. */
export class AnswerRecorder {
  private readonly started = performance.now();
  private readonly capture: BodyCapture;
  private status = 0;
  private headers: Record<string, string | string[]> = {};
  private settled = false;

  constructor(
    private readonly deliver: (resp: CapturedResponse) => void,
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

  data(chunk: Buffer): void {
    if (!this.settled) this.capture.push(chunk);
  }

  done(): void {
    if (this.settled) return;
    this.settled = true;
    this.deliver({ status: this.status, headers: this.headers, body: this.capture.finish(), latencyMs: performance.now() - this.started });
  }

  fail(error: string): void {
    if (this.settled) return;
    this.settled = true;
    this.capture.discard();
    this.deliver({
      status: 0,
      headers: {},
      body: { size: 0, sha256: '', truncated: false },
      latencyMs: performance.now() - this.started,
      error,
    });
  }
}

export class ExchangeBuilder {
  private pending = 1;
  private readonly exchange: Exchange;

  constructor(
    base: Omit<Exchange, 'primary' | 'candidate' | 'secondary'>,
    private readonly onComplete: (ex: Exchange) => void,
    private readonly maxBodyBytes: number,
    private readonly budget: ByteBudget,
  ) {
    this.exchange = { ...base, primary: { status: 0, headers: {}, body: { size: 0, sha256: '', truncated: false }, latencyMs: 0 } };
  }

  /** Registers an answer still to come and returns its recorder. */
  expect(role: AnswerRole): AnswerRecorder {
    if (role !== 'primary') this.pending++;
    return new AnswerRecorder(
      (resp) => {
        this.exchange[role] = resp;
        if (--this.pending === 0) this.onComplete(this.exchange);
      },
      this.maxBodyBytes,
      this.budget,
    );
  }
}
