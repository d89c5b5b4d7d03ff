// Bounded capture of a response body off the data path: bytes up to a bound (per body and in total across
// the process), then only size and hash. Capture never holds back or fails the stream it copies.
import { createHash, type Hash } from 'node:crypto';
import type { CapturedBody } from '../compare/index.js';
import type { ByteBudget } from '../util/byte-budget.js';

export class BodyCapture {
  private readonly hash: Hash = createHash('sha256');
  private chunks: Buffer[] | undefined = [];
  private held = 0;
  size = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly budget: ByteBudget,
  ) {}

  push(chunk: Buffer): void {
    this.size += chunk.length;
    this.hash.update(chunk);
    if (!this.chunks) return;
    if (this.held + chunk.length > this.maxBytes || !this.budget.take(chunk.length)) {
      // Too big to keep: from here on only size and hash.
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
    const body: CapturedBody = { size: this.size, sha256: this.hash.digest('hex'), truncated: this.chunks === undefined };
    if (this.chunks) body.bytes = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
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
