// An endpoint's HTTP/2 pool on node:http2 (cleartext h2c, or h2 over TLS with ALPN): few connections, many streams each, and the same
// dispatch-handler contract as undici's Pool, so the data path and the shadows use either unchanged.

import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import type { ConnectionOptions } from 'node:tls';
import type { Dispatcher } from 'undici';
import { REFUSED_STREAM_CODE } from '../classify-error.js';
import { UPSTREAM_IDLE_CODE, UPSTREAM_IDLE_TIMEOUT_MS } from '../socket-idle.js';

export interface H2PoolOptions {
  connectTimeoutMs: number;
  /** A connection with no stream open for this long is closed (GOAWAY). */
  idleTimeoutMs: number;
  /** Connections at most; undefined: as many as the streams need. */
  maxConnections?: number | undefined;
  /** Streams per connection at most (Istio's `http.maxConcurrentStreams`); the server's own limit also applies. */
  maxConcurrentStreams?: number | undefined;
  /** Streams a connection carries in its life before it is drained (Istio's `maxRequestsPerConnection`). */
  maxRequestsPerConnection?: number | undefined;
  /** TLS origination (an `https:` origin): the cluster's connect options (upstream/tls.ts); ALPN must choose h2. */
  tls?: ConnectionOptions | undefined;
  /** A stream that receives and sends nothing for this long fails as a timeout (default: Envoy's 5 minutes). */
  silentStreamMs?: number | undefined;
}

/** The upstream windows: a stream that is not read (a slow client) holds at most this much (Envoy's edge values). */
const STREAM_WINDOW = 65_536;
const CONNECTION_WINDOW = 1_048_576;
/** Until the server's SETTINGS arrive, RFC 9113 §6.5.2 suggests assuming at least 100 concurrent streams. */
const ASSUMED_STREAMS = 100;

/** Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2); Node refuses a request that carries one. */
const CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'host']);

class Connection {
  streams = 0;
  total = 0;
  connected = false;
  draining = false;
  error: Error | undefined;
  constructor(readonly session: http2.ClientHttp2Session) {}
}

type Headers = Record<string, string | string[] | undefined>;

/** An error with the code the upstream classifier reads (connect failure, reset). */
function coded(message: string, code: string, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

export class H2Pool extends EventEmitter {
  private conns: Connection[] = [];
  private readonly waiting: Array<() => void> = [];
  private running = 0;
  private closing = false;
  private isDestroyed = false;
  private readonly authority: string;
  /** SETTINGS_MAX_CONCURRENT_STREAMS of the last connection that opened: the server's limit for the next ones. */
  private serverStreams: number | undefined;

  constructor(
    readonly origin: string,
    private readonly o: H2PoolOptions,
  ) {
    super();
    this.authority = new URL(origin).host;
  }

  /** As undici's Pool: true once close() or destroy() was called. */
  get closed(): boolean {
    return this.closing;
  }

  get destroyed(): boolean {
    return this.isDestroyed;
  }

  get stats(): { connected: number; free: number; pending: number; queued: number; running: number; size: number } {
    let connected = 0;
    let free = 0;
    for (const c of this.conns) {
      if (c.connected) connected++;
      if (c.connected && c.streams === 0) free++;
    }
    const queued = this.waiting.length;
    return { connected, free, pending: queued, queued, running: this.running, size: this.running + queued };
  }

  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.closing) {
      const c = new StreamController();
      handler.onRequestStart?.(c, {});
      handler.onResponseError?.(c, coded('pool closed', 'UND_ERR_DESTROYED'));
      return false;
    }
    const conn = this.choose();
    if (conn) this.start(conn, opts, handler);
    else this.waiting.push(() => this.dispatch(opts, handler));
    return true;
  }

  /**
   * Streams this pool can run at once before a request has to wait (Envoy's pending requests): the open slots
   * of every usable connection, what a draining one still runs, and a full connection for each one not yet
   * opened. Infinite without a connection cap: a new connection is opened whenever the others are full.
   */
  capacity(): number {
    const max = this.o.maxConnections;
    if (max === undefined) return Number.POSITIVE_INFINITY;
    let streams = 0;
    for (const c of this.conns) streams += c.draining ? c.streams : Math.max(c.streams, this.streamLimit(c));
    return streams + Math.max(0, max - this.conns.length) * this.streamLimit(undefined);
  }

  /** The least busy connection with a free stream, a new one when all are full and more are allowed. */
  private choose(): Connection | undefined {
    let best: Connection | undefined;
    for (const c of this.conns) {
      if (c.draining || c.streams >= this.streamLimit(c)) continue;
      if (!best || c.streams < best.streams) best = c;
    }
    if (best) return best;
    if (this.o.maxConnections !== undefined && this.conns.length >= this.o.maxConnections) return undefined;
    return this.connect();
  }

  /** Streams a connection may carry at once; for a connection not yet opened, what the last one learned of the server. */
  private streamLimit(c: Connection | undefined): number {
    const remote = c?.connected ? (c.session.remoteSettings.maxConcurrentStreams ?? ASSUMED_STREAMS) : (this.serverStreams ?? ASSUMED_STREAMS);
    return Math.min(remote, this.o.maxConcurrentStreams ?? remote);
  }

  private connect(): Connection {
    const session = http2.connect(this.origin, {
      ...(this.o.tls ?? {}),
      settings: { initialWindowSize: STREAM_WINDOW, enablePush: false },
    });
    const conn = new Connection(session);
    this.conns.push(conn);
    const timer = setTimeout(() => {
      if (!conn.connected) session.destroy(coded(`connect timeout after ${this.o.connectTimeoutMs} ms`, 'UND_ERR_CONNECT_TIMEOUT'));
    }, this.o.connectTimeoutMs);
    session.once('connect', () => {
      clearTimeout(timer);
      conn.connected = true;
      this.serverStreams = session.remoteSettings.maxConcurrentStreams;
      try {
        session.setLocalWindowSize(CONNECTION_WINDOW);
      } catch {
        // Closed meanwhile.
      }
      this.emit('connect', this.origin);
    });
    session.on('error', (err: Error) => {
      conn.error = err;
      if (!conn.connected) this.emit('connectionError', this.origin, err);
    });
    // The server is going away: finish what runs here, start nothing new.
    session.on('goaway', () => {
      conn.draining = true;
    });
    session.once('close', () => {
      clearTimeout(timer);
      conn.draining = true;
      this.conns = this.conns.filter((c) => c !== conn);
      this.next();
    });
    session.setTimeout(this.o.idleTimeoutMs, () => {
      if (conn.streams === 0) {
        conn.draining = true;
        session.close();
      }
    });
    return conn;
  }

  /** A stream slot freed (or a connection closed): start what waits. */
  private next(): void {
    while (this.waiting.length > 0 && !this.closing) {
      const before = this.waiting.length;
      const conn = this.choose();
      if (!conn) return;
      this.waiting.shift()!();
      if (this.waiting.length >= before) return;
    }
  }

  private start(conn: Connection, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    const controller = new StreamController();
    const headers: http2.OutgoingHttpHeaders = {};
    const given = (opts.headers ?? {}) as Headers;
    let authority = this.authority;
    for (const name in given) {
      const v = given[name];
      if (v === undefined) continue;
      const lower = name.toLowerCase();
      if (lower === 'host') authority = Array.isArray(v) ? v[0]! : v;
      if (CONNECTION_HEADERS.has(lower) || lower.charCodeAt(0) === 58) continue;
      if (lower === 'te' && v !== 'trailers') continue;
      headers[lower] = v;
    }
    headers[':method'] = opts.method;
    headers[':path'] = opts.path;
    headers[':scheme'] = 'http';
    headers[':authority'] = authority;
    const body = opts.body as unknown;

    conn.streams++;
    conn.total++;
    this.running++;
    if (this.o.maxRequestsPerConnection !== undefined && conn.total >= this.o.maxRequestsPerConnection) conn.draining = true;

    let settled = false;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      conn.streams--;
      this.running--;
      if (conn.draining && conn.streams === 0) conn.session.close();
      this.next();
    };
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      handler.onResponseError?.(controller, err);
    };

    let stream: http2.ClientHttp2Stream;
    try {
      stream = conn.session.request(headers, { endStream: body === null || body === undefined });
    } catch (err) {
      release();
      handler.onRequestStart?.(controller, {});
      fail(err as Error);
      return;
    }
    controller.bind(stream, (err) => {
      fail(err);
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    });
    handler.onRequestStart?.(controller, {});
    if (controller.aborted) return;
    // The bound on an upstream that goes silent, per stream as Envoy's stream idle timeout (one silent stream on a
    // busy connection is still caught): Node refreshes it on every frame the stream reads or writes. Without it a
    // stream the upstream never answered held its request for as long as the client waited. (The HTTP/1.1 pools
    // sweep their connections instead, socket-idle.ts: a connection carries one request at a time.)
    const silentMs = this.o.silentStreamMs ?? UPSTREAM_IDLE_TIMEOUT_MS;
    stream.setTimeout(silentMs, () => controller.abort(coded(`upstream stream silent for ${silentMs} ms`, UPSTREAM_IDLE_CODE)));

    let responded = false;
    let trailers: Headers = {};
    let streamError: Error | undefined;
    stream.on('response', (h) => {
      responded = true;
      const status = Number(h[':status']);
      const out: Headers = {};
      for (const k in h) if (k.charCodeAt(0) !== 58) out[k] = h[k];
      handler.onResponseStart?.(controller, status, out, '');
    });
    stream.on('data', (chunk: Buffer) => {
      if (!settled) handler.onResponseData?.(controller, chunk);
    });
    // Trailers arrive before 'end' but after data still buffered in a paused stream: report them at the end.
    stream.on('trailers', (t) => {
      trailers = { ...t } as Headers;
    });
    stream.on('end', () => {
      if (settled) return;
      if (!responded) return fail(coded('HTTP/2 stream ended without a response', 'UND_ERR_SOCKET'));
      settled = true;
      handler.onResponseEnd?.(controller, trailers);
    });
    stream.on('error', (err: Error) => {
      streamError = err;
    });
    stream.on('close', () => {
      release();
      if (settled) return;
      // Never connected: a connect failure, whatever the stream reports.
      if (!conn.connected && conn.error) return fail(conn.error);
      const code = stream.rstCode;
      // Refused by RST_STREAM, or closed by nghttp2 because a GOAWAY's last stream id is below it: the upstream
      // did not process it (RFC 9113 §8.7), which the retry policy's `refused-stream` may retry.
      if (code === http2.constants.NGHTTP2_REFUSED_STREAM && !responded) {
        return fail(coded('HTTP/2 stream refused by the upstream (REFUSED_STREAM): not processed', REFUSED_STREAM_CODE));
      }
      fail(streamError ?? coded(`HTTP/2 stream reset by the upstream (code ${code ?? '?'})`, 'UND_ERR_SOCKET'));
    });

    if (body !== null && body !== undefined) void this.pump(stream, body, (err) => controller.abort(err));
  }

  /** Writes the request body with back-pressure; a body that fails cancels the stream. */
  private async pump(stream: http2.ClientHttp2Stream, body: unknown, abort: (err: Error) => void): Promise<void> {
    try {
      if (typeof body === 'string' || Buffer.isBuffer(body) || body instanceof Uint8Array) {
        stream.end(body);
        return;
      }
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (stream.destroyed || stream.closed) return;
        if (!stream.write(chunk)) {
          await new Promise<void>((resolve) => {
            const go = () => {
              stream.off('drain', go);
              stream.off('close', go);
              resolve();
            };
            stream.on('drain', go);
            stream.on('close', go);
          });
        }
      }
      if (!stream.destroyed && !stream.closed) stream.end();
    } catch (err) {
      abort(err as Error);
    }
  }

  /** Lets streams in flight finish, then closes every connection. */
  async close(): Promise<void> {
    this.closing = true;
    for (const w of this.waiting.splice(0)) w();
    await Promise.all(
      this.conns.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.session.closed || c.session.destroyed) return resolve();
            c.session.close(() => resolve());
          }),
      ),
    );
  }

  /** Ends every connection now; streams in flight fail. */
  async destroy(): Promise<void> {
    this.closing = true;
    this.isDestroyed = true;
    for (const w of this.waiting.splice(0)) w();
    for (const c of this.conns) c.session.destroy();
    this.conns = [];
  }
}

/** undici's DispatchController for one HTTP/2 stream: abort, and pause/resume for back-pressure. */
class StreamController implements Dispatcher.DispatchController {
  aborted = false;
  paused = false;
  reason: Error | null = null;
  private stream: http2.ClientHttp2Stream | undefined;
  private onAbort: ((err: Error) => void) | undefined;

  bind(stream: http2.ClientHttp2Stream, onAbort: (err: Error) => void): void {
    this.stream = stream;
    this.onAbort = onAbort;
  }

  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.onAbort?.(reason);
  }

  pause(): void {
    this.paused = true;
    this.stream?.pause();
  }

  resume(): void {
    this.paused = false;
    this.stream?.resume();
  }
}
