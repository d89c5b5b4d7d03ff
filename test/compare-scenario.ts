// Shared by the comparison end-to-end tests: a JSON API per version, a gateway mirroring v1 → v2 (and v1 again,
// the noise baseline), traffic, the admin API and the CLI as a subprocess.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { GatewayOptions } from '../src/gateway/index.js';
import { client, freePort, send, startGateway, type TestGateway } from './harness/gateway.js';
import { mirrorServiceYaml } from './harness/service-yaml.js';
import { WAIT_MS, within } from './harness/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'shadowgate.js');

/** Runs the CLI without blocking this process's event loop (the gateway under test lives in it). */
export function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS);
  return new Promise((resolve) =>
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    }),
  );
}

export type Handler = (
  n: number,
  req: http.IncomingMessage,
  body: string,
) => { status?: number; body: unknown; delayMs?: number; headers?: Record<string, string> };

export interface JsonApi {
  port: number;
  close(): Promise<void>;
}

/** A JSON API whose answer depends on how many requests it has seen (and on the request). */
export async function jsonApi(handler: Handler): Promise<JsonApi> {
  let n = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const a = handler(n++, req, Buffer.concat(chunks).toString());
      const write = () => {
        res.writeHead(a.status ?? 200, { 'content-type': 'application/json', ...a.headers });
        res.end(JSON.stringify(a.body));
      };
      if (a.delayMs) setTimeout(write, a.delayMs);
      else write();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const item = (id: number, price: number) => ({ id, name: `item ${id}`, price, tags: ['a', 'b'] });
/** What v1 answers: stable content plus per-answer noise that is not time-like (a clock with a counter) and a random id. */
export const v1Body = (path: string) => ({
  path,
  items: [item(1, 10), item(2, 20)],
  generatedAt: `${new Date().toISOString()}/${process.hrtime.bigint()}`,
  traceId: Math.random().toString(36).slice(2),
});

export interface ScenarioOptions {
  secondary?: boolean;
  minSample?: number;
  /**
   * How much slower the candidate's p99 may be before it fails (ms). Default 10 s: on a loaded machine either
   * version's p99 can be anything, so only the test of the latency guard sets the product's default (50).
   */
  latencyGateMs?: number;
  /** Extra lines under `spec.compare` (indented four spaces). */
  extra?: string;
  /** The store file (default: a new one in the scenario's directory). */
  store?: string;
  gateway?: Partial<GatewayOptions>;
}

/** The scenario's service: v1 the primary, mirrored to v2 (and to v1 again with `secondary`), every exchange compared. */
export function apiYaml(port: number, v1: number, v2: number, opts: ScenarioOptions): string {
  return mirrorServiceYaml({
    host: 'api',
    port,
    primary: v1,
    candidate: v2,
    routeName: 'items',
    mirrors: opts.secondary ? ['v2', 'v1'] : ['v2'],
    // Every exchange compared: the default 250/s sampling would make counts depend on the machine's speed.
    compare: `    maxPerSecond: 100000
    thresholds: {minSample: ${opts.minSample ?? 100}, minP99LatencyIncreaseMs: ${opts.latencyGateMs ?? 10_000}}
${opts.extra ?? ''}`,
  });
}

export interface Scenario {
  tg: TestGateway;
  dir: string;
  port: number;
  store: string;
  v1: JsonApi;
  v2: JsonApi;
  opts: ScenarioOptions;
  /** Replaces v2 by a new server (a new endpoint behind the same subset) and reloads. */
  redeployV2(handler: Handler): Promise<void>;
  /** Replaces v2 by a new server while the gateway is down (the next restart sees it). */
  redeployV2Offline(handler: Handler): Promise<void>;
  /** Stops the gateway only (the upstreams and the store stay). */
  stopGateway(): Promise<void>;
  /** A new gateway on the same store, same service port, v2 as it is now. */
  restartGateway(): Promise<void>;
  close(): Promise<void>;
}

export async function scenario(v1: Handler | undefined, v2: Handler, opts: ScenarioOptions = {}): Promise<Scenario> {
  const one = await jsonApi(v1 ?? ((_n, req) => ({ body: v1Body(req.url ?? '') })));
  let two = await jsonApi(v2);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'shadowgate-compare-'));
  const store = opts.store ?? join(dir, 'compare.db');
  const start = () => startGateway({ 'api.yaml': apiYaml(port, one.port, two.port, opts) }, { store, ...opts.gateway });
  let stopped = false;
  const s: Scenario = {
    tg: await start(),
    dir,
    port,
    store,
    v1: one,
    v2: two,
    opts,
    async redeployV2(handler) {
      const old = two;
      two = await jsonApi(handler);
      s.v2 = two;
      s.tg.write('api.yaml', apiYaml(port, one.port, two.port, opts));
      const r = await s.tg.gw.reload();
      assert.equal(r.result, 'applied');
      await old.close();
    },
    async redeployV2Offline(handler) {
      await two.close();
      two = await jsonApi(handler);
      s.v2 = two;
    },
    async stopGateway() {
      stopped = true;
      await s.tg.close();
    },
    async restartGateway() {
      s.tg = await start();
      stopped = false;
    },
    async close() {
      if (!stopped) await s.tg.close();
      await one.close();
      await two.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return s;
}

/** n requests, one at a time, then waits until every shadow has answered. */
export async function traffic(s: Scenario, n: number, path = (i: number) => `/items/${1000 + i}?page=${i % 3}`): Promise<void> {
  for (let i = 0; i < n; i++) {
    const a = await send(s.port, path(i), { headers: { host: 'api' } });
    assert.equal(a.status, 200);
  }
  await settle(s);
}

/** Waits until no shadow is in flight (the shadow writer's own idle signal). */
export function settle(s: Scenario): Promise<void> {
  return within(s.tg.gw.shadows.idle(), 'every shadow to end');
}

export function adminPort(s: Scenario): number {
  return Number(s.tg.gw.adminAddress.split(':').pop());
}

/** The admin API: status and parsed JSON. */
export async function api<T = Record<string, unknown>>(
  s: Scenario,
  path: string,
  init: { method?: string; body?: string } = {},
): Promise<{ status: number; json: T }> {
  const res = await request(`http://${s.tg.gw.adminAddress}/api/${path}`, {
    method: (init.method ?? 'GET') as 'GET',
    body: init.body ?? null,
    headers: init.body ? { 'content-type': 'application/json' } : {},
    dispatcher: client,
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: JSON.parse(text) as T };
}

export interface RunJson {
  id: string;
  route: string;
  reason: string;
  note?: string;
  endedAt: string | null;
  compared: number;
  verdict: string;
  candidate: { host: string; subset?: string; fingerprint: string };
}
export interface VerdictJson {
  result: string;
  reasons: string[];
  runs: { run: RunJson; result: string; reasons: string[] }[];
}
export interface EndpointJson {
  id: string;
  endpoint: string;
  compared: number;
  verdict: string;
  reasons: string[];
  noiseRate: number | null;
  diffInterval: { low: number; high: number };
}
export interface FieldJson {
  field: string;
  verdict: string;
  rate: number;
  timeLike: number;
  kinds: Record<string, number>;
  example?: { primary: string; candidate: string };
}

export async function verdict(s: Scenario, query = ''): Promise<VerdictJson> {
  const r = await api<VerdictJson>(s, `verdict${query}`);
  assert.equal(r.status, 200);
  return r.json;
}

export async function endpoints(s: Scenario, run?: string): Promise<{ run: RunJson; endpoints: EndpointJson[] }> {
  const r = await api<{ run: RunJson; endpoints: EndpointJson[] }>(s, `endpoints${run ? `?run=${run}` : ''}`);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json;
}

export async function fields(s: Scenario, endpoint: string, run?: string): Promise<FieldJson[]> {
  const r = await api<{ fields: FieldJson[] }>(s, `fields?endpoint=${endpoint}${run ? `&run=${run}` : ''}`);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json.fields;
}

export { client, send };
