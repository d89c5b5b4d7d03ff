// One HTTP server per service port, HTTP/1.1 and h2c alike; reconciled against each snapshot's ports, drained on
// shutdown. The servers bound what a client may hold: a head timeout, a cap on connections across ports, header
// count (Node's parser).
import { once } from 'node:events';
import http, { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { TlsTermination } from '../tls/index.js';
import { connectionOpened, idleState, requestStarted } from './connection-idle.js';
import type { DownstreamStats } from './downstream-stats.js';
import { acceptBoth, type H2Server } from './h2/index.js';
import type { ProxyHandler } from './handler.js';
import type { Passthrough, Tunnel } from './passthrough.js';
import { acceptUpgrade } from './upgrade.js';

export interface BindFailure {
  port: number;
  error: string;
}

/** Largest request head accepted; beyond it Node's parser stops and the client gets 431 (Envoy: 60 KiB). */
export const MAX_HEADER_BYTES = 60 * 1024;

function rejectMalformed(stats: DownstreamStats, err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  stats.reject(status === 431 ? 'head_too_large' : status === 408 ? 'header_timeout' : 'malformed');
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}

/**
 * How often Node checks request heads against the timeout: a quarter of it, so a head is cut within 1.25× the
 * timeout, between 25 ms and Node's own 30 s.
 */
function checkInterval(timeoutMs: number): number {
  return Math.min(30_000, Math.max(25, Math.floor(timeoutMs / 4)));
}

/** Node's keep-alive timeout on the service ports; also the deadline between two requests (see sweep). */
const KEEP_ALIVE_MS = 60_000;

export class ListenerSet {
  private readonly servers = new Map<number, http.Server>();
  private readonly h2 = new Map<http.Server, H2Server>();
  /** Open downstream connections across all ports, for the idle sweep. */
  private readonly open = new Set<Socket>();
  private sweeper: NodeJS.Timeout | undefined;
  /** Raw connections handed to TLS (their decrypted socket is the one the sweep and the requests track) or passed through. */
  private readonly terminated = new WeakSet<Socket>();
  /** The address each port is bound to, when not `bind` (an Istio Gateway server's `bind`). */
  private readonly bound = new Map<number, string>();

  constructor(
    private readonly handler: ProxyHandler,
    private readonly bind: string,
    /** Ports that terminate TLS hand their connections here first (src/tls/). */
    private readonly tls?: TlsTermination,
    /** Ports that pass TLS through by SNI (Istio PASSTHROUGH servers) or tunnel it (TLSRoutes) hand their connections here. */
    private readonly passthrough?: Passthrough,
  ) {}

  /** A decrypted connection takes the raw one's place in the idle sweep (requests mark the socket they arrive on). */
  private adopt(socket: TLSSocket): void {
    connectionOpened(socket, performance.now());
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
  }

  /**
   * Closes connections with no request in flight past their deadline, however many bytes they trickle: the
   * head timeout before a first request (twice it once bytes came, so Node's own 408 for a slow head goes out
   * first), the keep-alive timeout between requests. One pass over the open connections per quarter timeout.
   */
  private sweep = (): void => {
    const now = performance.now();
    const { limits, stats } = this.handler;
    for (const socket of this.open) {
      // Its handshake is bounded by the TLS server's handshake timeout, its requests by the decrypted socket's entry.
      if (this.terminated.has(socket)) continue;
      const { idleMs, served } = idleState(socket, now);
      if (idleMs === 0) continue;
      const deadline = served ? KEEP_ALIVE_MS : socket.bytesRead > 0 ? 2 * limits.headerTimeoutMs : limits.headerTimeoutMs;
      if (idleMs <= deadline) continue;
      if (!served) stats.reject('header_timeout');
      socket.destroy();
    }
  };

  /** A request over TLS whose Host another server of the port takes is refused (421) before it enters the data path. */
  private serveRequest(req: http.IncomingMessage, res: http.ServerResponse, port: number): void {
    // Node's HTTP/1 parser takes any one-digit version: a request line saying HTTP/2.0 on an HTTP/1 connection is
    // no HTTP/2 request (that begins with the connection preface) and would reach the data path as one. 505 and
    // close, as nginx answers (RFC 9110 §15.6.6).
    if (req.httpVersionMajor !== 1 && req instanceof http.IncomingMessage) {
      this.handler.stats.reject('unsupported_version');
      res.writeHead(505, { 'content-type': 'text/plain', connection: 'close' });
      res.end(`HTTP/${req.httpVersion} is not spoken on an HTTP/1 connection\n`);
      return;
    }
    if (this.tls?.misdirected(req)) {
      // HTTP/2 has no Connection header (a stream is refused, the session goes on).
      res.writeHead(421, req.httpVersionMajor >= 2 ? { 'content-type': 'text/plain' } : { 'content-type': 'text/plain', connection: 'close' });
      res.end('misdirected request: this host is served with another certificate; open a new connection for it\n');
      return;
    }
    this.handler.handle(req, res, port);
  }

  get ports(): number[] {
    return [...this.servers.keys()].sort((a, b) => a - b);
  }

  /** The address each service port is listening on (`host:port`). */
  addresses(): string[] {
    return this.ports.map((p) => {
      const a = this.servers.get(p)!.address();
      return typeof a === 'object' && a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : String(a);
    });
  }

  /** The address `port` is listening on (`0.0.0.0` for a wildcard bind), undefined when it is not bound. */
  boundAddress(port: number): string | undefined {
    const a = this.servers.get(port)?.address();
    return typeof a === 'object' && a ? a.address : undefined;
  }

  /** Binds new ports and closes removed ones. A port that cannot be bound is reported, the others still serve. */
  async reconcile(ports: readonly number[], binds: ReadonlyMap<number, string> = new Map()): Promise<BindFailure[]> {
    const want = new Set(ports);
    // A port whose address changes is closed and bound again.
    for (const port of this.servers.keys()) if ((binds.get(port) ?? this.bind) !== (this.bound.get(port) ?? this.bind)) want.delete(port);
    const failures: BindFailure[] = [];
    if (this.sweeper === undefined) {
      this.sweeper = setInterval(this.sweep, checkInterval(Math.min(this.handler.limits.headerTimeoutMs, KEEP_ALIVE_MS)));
      this.sweeper.unref();
    }
    for (const [port, server] of this.servers) {
      if (want.has(port)) continue;
      this.servers.delete(port);
      this.bound.delete(port);
      server.close();
      server.closeIdleConnections();
      this.h2.get(server)?.stopAccepting();
    }
    for (const port of ports) {
      if (this.servers.has(port)) continue;
      const { limits, stats } = this.handler;
      // requestTimeout stays 0 (uploads and long polls may take any time), but then Node's headersTimeout
      // defaults to 0 too and nothing closes a slowloris: it is set explicitly. An idle body is the handler's.
      const server = http.createServer(
        {
          maxHeaderSize: MAX_HEADER_BYTES,
          keepAliveTimeout: KEEP_ALIVE_MS,
          requestTimeout: 0,
          headersTimeout: limits.headerTimeoutMs,
          connectionsCheckingInterval: checkInterval(limits.headerTimeoutMs),
        },
        (req, res) => {
          requestStarted(req.socket);
          this.serveRequest(req, res, port);
        },
      );
      // h2c on the same port: only Node's own HTTP/1.1 connection listener waits for the preface sniff; the
      // connection limit and the silence timeout below apply to both protocols.
      // An HTTP/2 connection leaves the idle sweep: its streams are not HTTP/1.1 requests, and its session closes
      // itself when no stream is open (h2/server.ts).
      this.h2.set(
        server,
        acceptBoth(
          server,
          (req, res) => this.serveRequest(req, res, port),
          (socket) => this.open.delete(socket),
          // A port that terminates TLS now (the snapshot decides per connection, so a port turning HTTPS needs no rebind).
          (raw, serve) => {
            const served = (s: TLSSocket, protocol: 'h1' | 'h2') => {
              this.adopt(s);
              serve(s, protocol);
            };
            const terminate = (socket: Socket) => this.tls?.accept(port, socket, served) ?? false;
            const tunnel: Tunnel = (socket, secured) => this.tls?.acceptTunnel(port, socket, secured) ?? false;
            // A tunnel has no requests: the idle sweep leaves it alone (its ClientHello wait has its own timeout). A
            // port with terminated servers beside its passthrough or tunnel ones hands over by SNI (passthrough.ts).
            if (this.passthrough?.accept(port, raw, terminate, tunnel)) {
              this.terminated.add(raw);
              return true;
            }
            if (!terminate(raw)) return false;
            this.terminated.add(raw);
            return true;
          },
        ),
      );
      // No count limit in Node: the head's bytes (maxHeaderSize) bound it, and checkRequestHead counts every
      // header for our own limit (431 too_many_headers). Node's limit behaves differently across versions: Node 20
      // drops headers past it silently, in batches of 32 (nodejs/node#61284, so a Content-Length past the cut is
      // lost), while Node 22.23.2 / 24.18.1 / 26.5.1 and later refuse the request in the parser (nodejs/node@821688aaa0,
      // CVE-2026-58044) as HPE_HEADER_OVERFLOW, indistinguishable from a head too large. 0 means no limit on all.
      server.maxHeadersCount = 0;
      server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => rejectMalformed(stats, err, socket));
      server.on('connection', (socket: Socket) => {
        if (limits.maxConnections > 0 && stats.connections >= limits.maxConnections) {
          stats.reject('connection_limit');
          socket.destroy();
          return;
        }
        stats.connections++;
        connectionOpened(socket, performance.now());
        this.open.add(socket);
        socket.once('close', () => {
          stats.connections--;
          this.open.delete(socket);
        });
      });
      // Upgrades (WebSocket) go through the handler's phases on a response built over the socket (upgrade.ts).
      server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
        requestStarted(socket);
        acceptUpgrade(req, socket, head, (r, res) => this.serveRequest(r, res, port));
      });
      // CONNECT tunnels are not proxied: say so instead of dropping the connection.
      server.on('connect', (_req, socket: Socket) => {
        socket.end('HTTP/1.1 405 Method Not Allowed\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      });
      const address = binds.get(port) ?? this.bind;
      server.listen(port, address);
      try {
        await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e))]);
        this.servers.set(port, server);
        if (binds.has(port)) this.bound.set(port, address);
      } catch (err) {
        failures.push({ port, error: (err as Error).message });
      }
    }
    return failures;
  }

  /** Stops accepting; idle keep-alive connections close now, busy ones after their response. */
  stopAccepting(): void {
    for (const server of this.servers.values()) {
      server.close();
      server.closeIdleConnections();
      this.h2.get(server)?.stopAccepting();
    }
  }

  /** Ends every connection still open (after the drain time). */
  async forceClose(): Promise<void> {
    clearInterval(this.sweeper);
    for (const server of this.servers.values()) {
      server.closeAllConnections();
      this.h2.get(server)?.forceClose();
    }
    // Upgraded connections left Node's HTTP bookkeeping: closeAllConnections does not see them.
    for (const socket of this.open) socket.destroy();
    this.servers.clear();
  }
}
