// Test harness: real loopback HTTP upstreams that record what they received and can misbehave on demand.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WAIT_MS } from './wait.js';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Date.now() when the request head arrived. */
  at: number;
  remoteAddress: string;
}

export type Behaviour =
  | { kind: 'answer'; status?: number; body?: string; headers?: Record<string, string>; delayMs?: number }
  /** Accept the request and never answer (the socket stays open until close()). */
  | { kind: 'hang' }
  /** Accept the request and answer it (as `answer` would, with `body`) only when release() is called. */
  | { kind: 'hold'; body?: string }
  /** Destroy the socket as soon as the request arrives. */
  | { kind: 'reset' }
  /** Answer each request as `answer` decides from it (and the requests received before it, which `requests` holds). */
  | { kind: 'script'; answer(req: RecordedRequest): { status: number; delayMs?: number } };

export interface TestUpstream {
  name: string;
  port: number;
  host: string;
  requests: RecordedRequest[];
  behaviour: Behaviour;
  /** Resolves once `n` requests (in total) have been fully received. */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  /** Answers every request held by the `hold` behaviour so far; returns how many. */
  release(): number;
  close(): Promise<void>;
}

export async function startUpstream(name = 'upstream', behaviour: Behaviour = { kind: 'answer' }): Promise<TestUpstream> {
  const requests: RecordedRequest[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const held: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    const at = Date.now();
    const b = upstream.behaviour;
    if (b.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        at,
        remoteAddress: req.socket.remoteAddress ?? '',
      });
      for (const w of waiters.splice(0)) {
        if (requests.length >= w.n) w.resolve();
        else waiters.push(w);
      }
      if (b.kind === 'hang') return;
      if (b.kind === 'hold') {
        held.push(() => {
          res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
          res.end(b.body ?? `This is ${name}\n`);
        });
        return;
      }
      const a: { status?: number; body?: string; headers?: Record<string, string>; delayMs?: number } = b.kind === 'script' ? b.answer(requests.at(-1)!) : b;
      const send = () => {
        const body = a.body ?? `This is ${name}\n`;
        res.writeHead(a.status ?? 200, { 'content-type': 'text/plain', 'x-upstream': name, ...a.headers });
        res.end(body);
      };
      if (a.delayMs) setTimeout(send, a.delayMs);
      else send();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const upstream: TestUpstream = {
    name,
    port,
    host: '127.0.0.1',
    requests,
    behaviour,
    waitForRequests(n, timeoutMs = WAIT_MS) {
      if (requests.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: waited ${timeoutMs} ms for ${n} requests, got ${requests.length}`)), timeoutMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    release() {
      const answers = held.splice(0);
      for (const answer of answers) answer();
      return answers.length;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return upstream;
}
