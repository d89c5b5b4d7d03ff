// The admin listener: readiness, health, the effective config and its problems, and metrics. Loopback by default.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AdminAccess } from './access.js';
import { isUiPath, serveUi } from './ui-assets.js';
import { type TrafficSource, TrafficView } from './ui-traffic.js';

/** A request to the JSON API under /api/ (see docs/admin-api.md). */
export interface AdminApiRequest {
  method: string;
  /** The path after `/api/`. */
  path: string;
  query: URLSearchParams;
  /** POST bodies, at most MAX_API_BODY bytes. */
  body?: string;
}

export interface AdminSource {
  isReady(): boolean | Promise<boolean>;
  /** Why not ready, one line, for /ready's body. */
  notReadyReason?(): string | undefined | Promise<string | undefined>;
  configDump(): unknown;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** JSON API under /api/; the answer's body is JSON text. Undefined means 404. */
  api(req: AdminApiRequest): Promise<{ status: number; body: string } | undefined>;
  /** The route table and counters /api/traffic reads (absent: 404). */
  traffic?: TrafficSource;
}

/** A POST body to the API is a small JSON object (`{"note": ...}`); more is refused with 413. */
const MAX_API_BODY = 16 * 1024;

/** The body, or undefined once it passes `max` bytes (the rest is drained, not buffered). */
async function readBody(req: http.IncomingMessage, max: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) over = true;
    else chunks.push(chunk);
  }
  return over ? undefined : Buffer.concat(chunks).toString('utf8');
}

export class AdminServer {
  private readonly server: http.Server;
  private readonly traffic: TrafficView | undefined;

  constructor(
    private readonly source: AdminSource,
    private readonly access: AdminAccess = new AdminAccess(),
  ) {
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
    let allowed = this.access.check({ path, host: req.headers.host, origin: req.headers.origin, authorization: req.headers.authorization });
    // Flagger's webhooks send no headers of their own: its payload's `metadata.token` may carry the token instead.
    let gateBody: string | undefined;
    if (!allowed.ok && allowed.status === 401 && path === '/api/gate' && req.method === 'POST') {
      gateBody = await readBody(req, MAX_API_BODY);
      if (gateBody !== undefined && this.access.payloadTokenMatches(gateBody)) allowed = { ok: true };
    }
    if (!allowed.ok) {
      const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };
      // Basic first: a browser asks for it itself (user name ignored, the token as password); scripts send Bearer.
      if (allowed.status === 401) headers['www-authenticate'] = ['Basic realm="shadowgate admin", charset="UTF-8"', 'Bearer realm="shadowgate admin"'];
      res.writeHead(allowed.status, headers);
      res.end(`${allowed.message}\n`);
      return;
    }
    const isApi = path.startsWith('/api/');
    // POST only where the API takes one (/api/runs); the rest of the listener is read-only.
    if (req.method !== 'GET' && req.method !== 'HEAD' && !(isApi && req.method === 'POST')) return send(405, 'method not allowed\n');
    if (isUiPath(path)) return serveUi(path, req.method ?? 'GET', res);
    if (path === '/api/traffic' && this.traffic) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
      return send(200, `${JSON.stringify(await this.traffic.read(), null, 2)}\n`, 'application/json');
    }
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
        return send(
          200,
          'shadowgate admin: /ready /healthz /config_dump /metrics /api/runs /api/verdict /api/gate /api/endpoints /api/fields /api/samples /api/traffic /ui\n',
        );
      default: {
        if (isApi) {
          let body: string | undefined;
          if (req.method === 'POST') {
            body = gateBody ?? (await readBody(req, MAX_API_BODY));
            if (body === undefined) return send(413, `${JSON.stringify({ error: `the body is over ${MAX_API_BODY} bytes` })}\n`, 'application/json');
          }
          const apiReq: AdminApiRequest = { method: req.method ?? 'GET', path: path.slice('/api/'.length), query: url.searchParams };
          if (body !== undefined) apiReq.body = body;
          const answer = await this.source.api(apiReq);
          if (answer !== undefined) return send(answer.status, `${answer.body}\n`, 'application/json');
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
