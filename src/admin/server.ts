// The admin listener: readiness, health, the effective config and its problems, and metrics. Loopback by default.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isUiPath, serveUi } from './ui-assets.js';
import { type TrafficSource, TrafficView } from './ui-traffic.js';

export interface AdminSource {
  isReady(): boolean | Promise<boolean>;
  configDump(): unknown;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** JSON API under /api/ (comparison results); undefined means 404. */
  api(path: string, query: URLSearchParams): Promise<unknown | undefined>;
  /** The route table and counters /api/traffic reads (absent: 404). */
  traffic?: TrafficSource;
}

export class AdminServer {
  private readonly server: http.Server;
  private readonly traffic: TrafficView | undefined;

  constructor(private readonly source: AdminSource) {
    this.traffic = source.traffic && new TrafficView(source.traffic);
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
    if (isUiPath(path)) return serveUi(path, req.method, res);
    if (path === '/api/traffic' && this.traffic) return send(200, `${JSON.stringify(await this.traffic.read(), null, 2)}\n`, 'application/json');
    switch (path) {
      case '/ready':
        return (await this.source.isReady()) ? send(200, 'LIVE\n') : send(503, 'NOT READY\n');
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
