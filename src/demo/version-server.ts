// A tiny stand-in for the article's nginx pods: answers "This is version N" and keeps an access log in
// nginx's combined format with $http_x_forwarded_for last, as the article's `kubectl logs` show.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** nginx's $time_local: `13/May/2020:23:05:11 +0000` (UTC). */
export function nginxTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export interface LogLine {
  at: Date;
  text: string;
  forwardedFor: string;
  mirrored: boolean;
}

export class VersionServer {
  readonly log: LogLine[] = [];
  private readonly server: http.Server;
  port = 0;
  onLog: ((line: LogLine) => void) | undefined;

  constructor(readonly version: number) {
    this.server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const body = `This is version ${version}\n`;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        const at = new Date();
        const xff = String(req.headers['x-forwarded-for'] ?? '-');
        const ua = String(req.headers['user-agent'] ?? '-');
        const line: LogLine = {
          at,
          forwardedFor: xff,
          mirrored: req.headers['x-shadowgate-mirror'] === 'true',
          text: `${req.socket.remoteAddress} - - [${nginxTime(at)}] "${req.method} ${req.url} HTTP/${req.httpVersion}" 200 ${Buffer.byteLength(body)} "-" "${ua}" "${xff}"`,
        };
        this.log.push(line);
        this.onLog?.(line);
      });
    });
  }

  /** Listens on `port` when it is free, else on any free port. */
  async listen(port: number): Promise<number> {
    for (const p of port ? [port, 0] : [0]) {
      try {
        this.server.listen(p, '127.0.0.1');
        await Promise.race([once(this.server, 'listening'), once(this.server, 'error').then(([e]) => Promise.reject(e))]);
        this.port = (this.server.address() as AddressInfo).port;
        return this.port;
      } catch {
        // taken: try the next one
      }
    }
    throw new Error('no free port');
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
