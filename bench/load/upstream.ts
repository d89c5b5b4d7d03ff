// A load-bench upstream, run as its own process (forked with an IPC channel, so its CPU is not the gateway's):
// a keep-alive HTTP/1.1 responder answering an 18-byte body, or misbehaving as a shadow does.
//   node upstream.js ok        answers at once
//   node upstream.js slow 200  answers after 200 ms
//   node upstream.js hung      reads the request and never answers (the socket stays open)
// It counts requests received in full (head and body) and tells the parent over IPC: {type:'count'} → {count}.
//
// Why raw `net` and not `node:http`: the bench measures the proxies, not the upstream. A `node:http` server
// costs ~16 µs of CPU per request; on a 2-core machine shared by wrk, two upstreams and the proxy under
// test, that is CPU taken from the proxy (the issue's own figures — nginx proxy_pass at 105k req/s — come
// from an upstream far cheaper than `node:http`). This responder parses only what it must: the end of the
// head, `content-length` and chunked bodies; a request it cannot parse closes the connection.

import type { AddressInfo } from 'node:net';
import net from 'node:net';

const mode = process.argv[2] ?? 'ok';
const delayMs = Number(process.argv[3] ?? 200);
const RESPONSE = Buffer.from(
  'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 18\r\nkeep-alive: timeout=120\r\n\r\nThis is version 1\n',
  'latin1',
);
const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const MAX_HEAD = 64 * 1024;
let count = 0;

/** Per connection: what is left of the current request. */
class RequestReader {
  private buffered: Buffer | null = null;
  /** Body bytes still to skip (content-length), or -1 while reading the head. */
  private bodyLeft = -1;
  /** Chunked body: bytes of the current chunk (with its CRLF) still to skip, or -1 when a size line is next. */
  private chunked = false;
  private chunkLeft = -1;
  private lastChunk = false;

  constructor(private readonly onRequest: () => void) {}

  /** Returns false when the bytes are not HTTP/1.1 this reader understands (the caller closes). */
  push(data: Buffer): boolean {
    const buf = this.buffered ? Buffer.concat([this.buffered, data]) : data;
    this.buffered = null;
    let at = 0;
    while (at < buf.length) {
      if (this.bodyLeft < 0 && !this.chunked) {
        const end = buf.indexOf(HEAD_END, at);
        if (end < 0) {
          if (buf.length - at > MAX_HEAD) return false;
          this.buffered = buf.subarray(at);
          return true;
        }
        const head = buf.toString('latin1', at, end).toLowerCase();
        at = end + 4;
        const te = /\r\ntransfer-encoding:[^\r]*chunked/.test(head);
        const cl = /\r\ncontent-length:\s*(\d+)/.exec(head);
        if (te) {
          this.chunked = true;
          this.chunkLeft = -1;
        } else {
          this.bodyLeft = cl ? Number(cl[1]) : 0;
        }
      }
      if (this.bodyLeft >= 0) {
        const take = Math.min(this.bodyLeft, buf.length - at);
        at += take;
        this.bodyLeft -= take;
        if (this.bodyLeft > 0) return true;
        this.bodyLeft = -1;
        this.onRequest();
        continue;
      }
      // Chunked: size line, data + CRLF, …, `0` CRLF, CRLF.
      if (this.chunkLeft < 0) {
        const eol = buf.indexOf(CRLF, at);
        if (eol < 0) {
          this.buffered = buf.subarray(at);
          return true;
        }
        const size = Number.parseInt(buf.toString('latin1', at, eol), 16);
        if (!Number.isFinite(size)) return false;
        at = eol + 2;
        // The last chunk (`0`) is followed by one CRLF (the proxies benched send no trailers).
        this.chunkLeft = size + 2;
        this.lastChunk = size === 0;
        continue;
      }
      const take = Math.min(this.chunkLeft, buf.length - at);
      at += take;
      this.chunkLeft -= take;
      if (this.chunkLeft === 0) {
        this.chunkLeft = -1;
        if (this.lastChunk) {
          this.lastChunk = false;
          this.chunked = false;
          this.onRequest();
        }
      }
    }
    return true;
  }
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  const reader = new RequestReader(() => {
    count++;
    if (mode === 'hung') return;
    if (mode === 'slow') {
      setTimeout(() => {
        if (!socket.destroyed) socket.write(RESPONSE);
      }, delayMs);
      return;
    }
    socket.write(RESPONSE);
  });
  socket.on('data', (data: Buffer) => {
    if (!reader.push(data)) socket.destroy();
  });
  socket.on('error', () => {});
});

// UPSTREAM_PORT: run it by hand on a fixed port (profiling a peer without the bench).
server.listen(Number(process.env.UPSTREAM_PORT ?? 0), '127.0.0.1', () => {
  process.send?.({ type: 'listening', port: (server.address() as AddressInfo).port });
});
process.on('message', (msg: { type: string; id: number }) => {
  if (msg.type === 'count') process.send?.({ type: 'count', id: msg.id, count });
});
// The bench is gone (even killed): do not outlive it.
process.on('disconnect', () => process.exit(0));
