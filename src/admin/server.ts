// The admin listener: readiness, health, the effective config and its problems, and metrics. Loopback by default.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AdminSource {
  isReady(): boolean | Promise<boolean>;
  /** Why not ready, one line, for /ready's body. */
  notReadyReason?(): string | undefined | Promise<string | undefined>;
  configDump(): unknown;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** JSON API under /api/ (comparison results); undefined means 404. */
  api(path: string, query: URLSearchParams): Promise<unknown | undefined>;
}

export class AdminServer {
  private readonly server: http.Server;

  constructor(private readonly source: AdminSource) {
    this.server = http.createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`internal error: ${(err as Error).message}\n`);
      });
    });
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    switch (path) {
      case '/ready':
        if (await this.source.isReady()) return send(200, 'LIVE\n');
        return send(503, `NOT READY${await this.notReadyReason()}\n`);
      case '/healthz':
        return send(200, 'OK\n');
      case '/config_dump':
        return send(200, `${JSON.stringify(await this.source.configDump(), null, 2)}\n`, 'application/json');
      case '/metrics': {
        const m = await this.source.metrics();
        return send(200, m.body, m.contentType);
      }
      case '/':
        return send(200, 'shadowgate admin: /ready /healthz /config_dump /metrics /api/verdict /api/endpoints /api/samples\n');
      default: {
        if (path.startsWith('/api/')) {
          const body = await this.source.api(path.slice('/api/'.length), url.searchParams);
          if (body !== undefined) return send(200, `${JSON.stringify(body, null, 2)}\n`, 'application/json');
        }
        return send(404, 'not found\n');
      }
    }
  }

  /** `: <reason>` (one line, so a probe's log shows it whole), or nothing. */
  private async notReadyReason(): Promise<string> {
    const reason = await this.source.notReadyReason?.();
    return reason ? `: ${reason.replace(/[\r\n]+/g, ' ')}` : '';
  }

  async listen(host: string, port: number): Promise<string> {
    this.server.listen(port, host);
    await Promise.race([once(this.server, 'listening'), once(this.server, 'error').then(([e]) => Promise.reject(e))]);
    const a = this.server.address() as AddressInfo;
    return `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
