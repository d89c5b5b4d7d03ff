// A FIFO of body bytes whose cost per chunk is one small copy: chunks under 1 KiB are packed into 16 KiB slabs,
// so 100,000 one-byte chunks are ~7 buffers to hold, hand on and write, not 100,000 objects and socket writes.

/** Chunks smaller than this are copied into a slab; larger ones are kept as they are (no copy). */
const SMALL_CHUNK = 1024;
const SLAB_BYTES = 16 * 1024;

export class ChunkList {
  private chunks: Array<Buffer | undefined> = [];
  private head = 0;
  /** The slab small chunks are copied into; bytes [start, end) are queued and not yet in `chunks`. */
  private slab: Buffer | undefined;
  private start = 0;
  private end = 0;
  /** Bytes queued. */
  bytes = 0;

  push(chunk: Buffer): void {
    const n = chunk.length;
    if (n === 0) return;
    this.bytes += n;
    if (n >= SMALL_CHUNK) {
      this.seal();
      this.chunks.push(chunk);
      return;
    }
    if (this.slab === undefined || this.end + n > this.slab.length) {
      this.seal();
      this.slab = Buffer.allocUnsafe(SLAB_BYTES);
      this.start = 0;
      this.end = 0;
    }
    chunk.copy(this.slab, this.end);
    this.end += n;
  }

  /** The oldest queued bytes (a whole chunk, or all the slab holds), or undefined when empty. */
  shift(): Buffer | undefined {
    if (this.head === this.chunks.length) this.seal();
    if (this.head === this.chunks.length) return undefined;
    const chunk = this.chunks[this.head]!;
    this.chunks[this.head++] = undefined;
    if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    this.bytes -= chunk.length;
    return chunk;
  }

  /** Every queued buffer, oldest first, without taking them. */
  toArray(): Buffer[] {
    this.seal();
    return this.chunks.slice(this.head) as Buffer[];
  }

  /** Drops everything; returns how many bytes that was. */
  clear(): number {
    const n = this.bytes;
    this.chunks = [];
    this.head = 0;
    this.slab = undefined;
    this.start = 0;
    this.end = 0;
    this.bytes = 0;
    return n;
  }

  /** Moves the slab's queued bytes into the list as one view; later small chunks fill the slab past them. */
  private seal(): void {
    if (this.slab !== undefined && this.end > this.start) {
      this.chunks.push(this.slab.subarray(this.start, this.end));
      this.start = this.end;
    }
  }
}
