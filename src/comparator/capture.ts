// Bounded capture of a response body off the data path: bytes up to a bound (per body and in total across
// the process), then only size and hash. Capture never holds back or fails the stream it copies.
import { createHash, type Hash, hash } from 'node:crypto';
import type { CapturedBody } from '../compare/index.js';
import type { ByteBudget } from '../util/byte-budget.js';

export class BodyCapture {
  /** Only for a body too big to keep: a kept body is hashed once, whole, when it is finished (cheaper). */
  private hash: Hash | undefined;
  private chunks: Buffer[] | undefined = [];
  private held = 0;
  size = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly budget: ByteBudget,
  ) {}

  push(chunk: Buffer): void {
    this.size += chunk.length;
    if (!this.chunks) {
      this.hash!.update(chunk);
      return;
    }
    if (this.held + chunk.length > this.maxBytes || !this.budget.take(chunk.length)) {
      // Too big to keep: from here on only size and hash.
      const h = createHash('sha256');
      for (const c of this.chunks) h.update(c);
      h.update(chunk);
      this.hash = h;
      this.budget.release(this.held);
      this.held = 0;
      this.chunks = undefined;
      return;
    }
    this.chunks.push(chunk);
    this.held += chunk.length;
  }

  /** The captured body; releases the budget (the bytes now belong to the comparison queue). */
  finish(): CapturedBody {
    const bytes = this.chunks ? (this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)) : undefined;
    const sha256 = bytes ? hash('sha256', bytes, 'hex') : (this.hash?.digest('hex') ?? hash('sha256', '', 'hex'));
    const body: CapturedBody = { size: this.size, sha256, truncated: this.chunks === undefined };
    if (bytes) body.bytes = bytes;
    this.budget.release(this.held);
    this.held = 0;
    this.chunks = undefined;
    return body;
  }

  /** Drops what was captured (the answer will not be compared). */
  discard(): void {
    this.budget.release(this.held);
    this.held = 0;
    this.chunks = undefined;
  }
}
