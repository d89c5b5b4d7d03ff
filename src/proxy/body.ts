// Request bodies: one reader of the downstream stream fans chunks out to the primary (with back-pressure) and to
// shadow sinks (without it: a shadow that cannot keep up gives up, it never slows the primary).
import type { IncomingMessage } from 'node:http';

/** An async-iterable FIFO of chunks: the producer pushes, the consumer (undici) pulls. */
export class BodyQueue implements AsyncIterable<Buffer> {
  private chunks: Array<Buffer | undefined> = [];
  private head = 0;
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  /** Bytes pushed and not yet taken by the consumer. */
  bytes = 0;

  constructor(private readonly onTake?: (bytes: number) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    this.notify();
  }
  end(): void {
    this.ended = true;
    this.notify();
  }
  fail(err: Error): void {
    this.error ??= err;
    this.notify();
  }
  /** Drops what is buffered; returns how many bytes that was. */
  clear(): number {
    const n = this.bytes;
    this.chunks = [];
    this.head = 0;
    this.bytes = 0;
    return n;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      if (this.error) throw this.error;
      if (this.head < this.chunks.length) {
        const chunk = this.chunks[this.head]!;
        this.chunks[this.head++] = undefined;
        if (this.head > 64 && this.head * 2 > this.chunks.length) {
          this.chunks = this.chunks.slice(this.head);
          this.head = 0;
        }
        this.bytes -= chunk.length;
        this.onTake?.(chunk.length);
        yield chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}

/** Receives a copy of every body chunk; returns false to stop receiving (the sink gave up). */
export interface BodySink {
  push(chunk: Buffer): boolean;
  end(): void;
  fail(err: Error): void;
}

export interface BodyTeeOptions {
  /** Bytes kept to replay the body on a retry (Envoy's per-request buffer limit). */
  replayLimit: number;
  /** Bytes queued for the primary before the downstream is paused. */
  highWater: number;
}

/** Reads the downstream body once and hands it to the current primary attempt and to every shadow sink. */
export class RequestBodyTee {
  private primary: BodyQueue | undefined;
  private readonly sinks: BodySink[] = [];
  private replay: Buffer[] = [];
  private replayBytes = 0;
  private paused = false;
  /** False once the body outgrew the replay buffer: a retry after that point is impossible. */
  replayable = true;
  ended = false;
  failed: Error | undefined;
  bytes = 0;

  constructor(
    private readonly req: IncomingMessage,
    private readonly opts: BodyTeeOptions,
  ) {
    req.on('data', (chunk: Buffer) => this.onData(chunk));
    req.on('end', () => {
      this.ended = true;
      this.primary?.end();
      for (const s of this.sinks.splice(0)) s.end();
    });
    const fail = (err: Error) => {
      if (this.ended || this.failed) return;
      this.failed = err;
      this.primary?.fail(err);
      for (const s of this.sinks.splice(0)) s.fail(err);
    };
    req.on('error', fail);
    req.on('close', () => fail(new Error('downstream closed before the body ended')));
  }

  private onData(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.replayable) {
      if (this.replayBytes + chunk.length <= this.opts.replayLimit) {
        this.replay.push(chunk);
        this.replayBytes += chunk.length;
      } else {
        this.replayable = false;
        this.replay = [];
      }
    }
    for (let i = this.sinks.length - 1; i >= 0; i--) {
      if (!this.sinks[i]!.push(chunk)) this.sinks.splice(i, 1);
    }
    if (this.primary) {
      this.primary.push(chunk);
      if (this.primary.bytes > this.opts.highWater && !this.paused) {
        this.paused = true;
        this.req.pause();
      }
    }
  }

  private onPrimaryTake = (): void => {
    if (this.paused && (this.primary?.bytes ?? 0) <= this.opts.highWater / 2) {
      this.paused = false;
      this.req.resume();
    }
  };

  /** A fresh queue for a (new) primary attempt, replaying what was received so far. Undefined when not replayable. */
  attachPrimary(): BodyQueue | undefined {
    if (this.bytes > 0 && !this.replayable) return undefined;
    const q = new BodyQueue(this.onPrimaryTake);
    for (const c of this.replay) q.push(c);
    if (this.ended) q.end();
    else if (this.failed) q.fail(this.failed);
    this.primary = q;
    return q;
  }

  /** The primary no longer reads: keep the body flowing for the shadows. */
  detachPrimary(): void {
    this.primary = undefined;
    this.replay = [];
    this.replayable = false;
    if (this.paused) {
      this.paused = false;
      this.req.resume();
    }
  }

  /** A shadow joins: it gets what arrived so far (if still replayable) and every chunk after. False if too late. */
  addSink(sink: BodySink): boolean {
    if (this.bytes > 0 && !this.replayable) return false;
    for (const c of this.replay) if (!sink.push(c)) return true;
    if (this.ended) sink.end();
    else if (this.failed) sink.fail(this.failed);
    else this.sinks.push(sink);
    return true;
  }
}
