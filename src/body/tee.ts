// Request bodies: one reader of the downstream stream fans chunks out to the primary (with back-pressure) and to
// shadow sinks (without it: a shadow that cannot keep up gives up, it never slows the primary).
import type { IncomingMessage } from 'node:http';
import { ChunkList } from './chunk-list.js';

/** A chunk at least this large wakes the consumer at once; smaller ones wait for the rest of the read. */
const SMALL_WAKE = 16 * 1024;

/** An async-iterable FIFO of chunks: the producer pushes, the consumer (undici) pulls what is queued at once. */
export class BodyQueue implements AsyncIterable<Buffer> {
  private readonly list = new ChunkList();
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  private wakeScheduled = false;

  constructor(private readonly onTake?: (bytes: number) => void) {}

  /** Bytes pushed and not yet taken by the consumer. */
  get bytes(): number {
    return this.list.bytes;
  }

  push(chunk: Buffer): void {
    this.list.push(chunk);
    if (chunk.length >= SMALL_WAKE) this.notify();
    else this.notifySoon();
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
    return this.list.clear();
  }

  /**
   * Node runs microtasks after every chunk its parser hands up: a consumer woken at once would take (and undici
   * write upstream) each small chunk alone. Woken after the I/O phase instead, it takes a whole read's worth.
   */
  private notifySoon(): void {
    if (this.wake === undefined || this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(this.wakeNow);
  }
  private readonly wakeNow = (): void => {
    this.wakeScheduled = false;
    this.notify();
  };

  private notify(): void {
    const w = this.wake;
    if (w === undefined) return;
    this.wake = undefined;
    w();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      if (this.error) throw this.error;
      const chunk = this.list.shift();
      if (chunk !== undefined) {
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
  /** No body byte for this long, while not paused by us: `onIdle` (nginx's client_body_timeout). */
  idleTimeoutMs?: number;
  onIdle?: () => void;
}

/** Reads the downstream body once and hands it to the current primary attempt and to every shadow sink. */
export class RequestBodyTee {
  private primary: BodyQueue | undefined;
  private readonly sinks: BodySink[] = [];
  private readonly replay = new ChunkList();
  private paused = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** `bytes` when the idle timer last looked: no change and not paused means the client went quiet. */
  private bytesSeen = 0;
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
      clearTimeout(this.idleTimer);
      this.primary?.end();
      for (const s of this.sinks.splice(0)) s.end();
    });
    req.on('error', (err) => this.fail(err));
    req.on('close', () => this.fail(new Error('downstream closed before the body ended')));
    if (opts.idleTimeoutMs !== undefined && opts.onIdle) {
      // One timer per body, looked at when it fires (no per-chunk timer work); re-armed while bytes flow.
      this.idleTimer = setTimeout(this.checkIdle, opts.idleTimeoutMs);
    }
  }

  private readonly checkIdle = (): void => {
    if (this.ended || this.failed) return;
    if (this.bytes !== this.bytesSeen || this.paused) {
      this.bytesSeen = this.bytes;
      this.idleTimer?.refresh();
      return;
    }
    this.opts.onIdle?.();
  };

  /** Ends the body in error for the primary and every shadow (the downstream failed, or was given up). */
  fail(err: Error): void {
    if (this.ended || this.failed) return;
    this.failed = err;
    clearTimeout(this.idleTimer);
    this.primary?.fail(err);
    for (const s of this.sinks.splice(0)) s.fail(err);
  }

  private onData(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.replayable) {
      if (this.replay.bytes + chunk.length <= this.opts.replayLimit) {
        this.replay.push(chunk);
      } else {
        this.replayable = false;
        this.replay.clear();
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
    for (const c of this.replay.toArray()) q.push(c);
    if (this.ended) q.end();
    else if (this.failed) q.fail(this.failed);
    this.primary = q;
    return q;
  }

  /** The primary no longer reads: keep the body flowing for the shadows. */
  detachPrimary(): void {
    this.primary = undefined;
    this.replay.clear();
    this.replayable = false;
    if (this.paused) {
      this.paused = false;
      this.req.resume();
    }
  }

  /** A shadow joins: it gets what arrived so far (if still replayable) and every chunk after. False if too late. */
  addSink(sink: BodySink): boolean {
    if (this.bytes > 0 && !this.replayable) return false;
    for (const c of this.replay.toArray()) if (!sink.push(c)) return true;
    if (this.ended) sink.end();
    else if (this.failed) sink.fail(this.failed);
    else this.sinks.push(sink);
    return true;
  }
}
