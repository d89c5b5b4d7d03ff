// One HTTP server per service port, HTTP/1.1 and h2c alike; reconciled against each snapshot's ports, drained on shutdown.
import { once } from 'node:events';
import http, { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { acceptBoth, type H2Server } from './h2/index.js';
import type { ProxyHandler } from './handler.js';

export interface BindFailure {
  port: number;
  error: string;
}

/** Largest request head accepted; beyond it Node's parser stops and the client gets 431 (Envoy: 60 KiB). */
export const MAX_HEADER_BYTES = 60 * 1024;

function rejectMalformed(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}

export class ListenerSet {
  private readonly servers = new Map<number, http.Server>();
  private readonly h2 = new Map<http.Server, H2Server>();

  constructor(
    private readonly handler: ProxyHandler,
    private readonly bind: string,
  ) {}

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

  /** Binds new ports and closes removed ones. A port that cannot be bound is reported, the others still serve. */
  async reconcile(ports: readonly number[]): Promise<BindFailure[]> {
    const want = new Set(ports);
    const failures: BindFailure[] = [];
    for (const [port, server] of this.servers) {
      if (want.has(port)) continue;
      this.servers.delete(port);
      server.close();
      server.closeIdleConnections();
      this.h2.get(server)?.stopAccepting();
    }
    for (const port of want) {
      if (this.servers.has(port)) continue;
      const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, keepAliveTimeout: 60_000, requestTimeout: 0 }, (req, res) =>
        this.handler.handle(req, res, port),
      );
      server.on('clientError', rejectMalformed);
      // CONNECT tunnels are not proxied: say so instead of dropping the connection.
      server.on('connect', (_req, socket: Socket) => {
        socket.end('HTTP/1.1 405 Method Not Allowed\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      });
      this.h2.set(server, acceptBoth(server, (req, res) => this.handler.handle(req, res, port)));
      server.listen(port, this.bind);
      try {
        await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e))]);
        this.servers.set(port, server);
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
    for (const server of this.servers.values()) {
      server.closeAllConnections();
      this.h2.get(server)?.forceClose();
    }
    this.servers.clear();
  }
}
