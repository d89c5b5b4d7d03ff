// Test harness: a real gateway on loopback, configured from YAML written to a temp directory.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { Gateway, type GatewayOptions } from '../../src/gateway/index.js';
import { MemoryAccessLog } from '../../src/telemetry/index.js';
import { serviceEntryYaml } from './service-yaml.js';
import type { TestUpstream } from './upstream.js';

export { seededRandom } from '../../src/demo/seeded-random.js';

const PORT_CLAIMS = join(tmpdir(), 'shadowgate-test-ports');
const claimed: string[] = [];
process.once('exit', () => {
  for (const f of claimed) rmSync(f, { force: true });
});

/** Claims a port across every test process on this machine: exclusive file creation is atomic. */
function claim(port: number): boolean {
  const file = join(PORT_CLAIMS, String(port));
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
  } catch {
    // A claim left by a process that no longer runs is free again.
    const owner = Number(readFileSync(file, 'utf8'));
    if (owner === process.pid || (Number.isInteger(owner) && owner > 0 && isRunning(owner))) return false;
    writeFileSync(file, String(process.pid));
  }
  claimed.push(file);
  return true;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A free loopback port for a service (service ports come from YAML, so they cannot be 0). Chosen below
 * Linux's ephemeral range (32768+), so a port-0 server never takes it, and claimed for this process: two
 * parallel test processes picking at random collided often enough to flake the suite (birthday odds).
 */
export async function freePort(): Promise<number> {
  mkdirSync(PORT_CLAIMS, { recursive: true });
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!claim(port)) continue;
    const srv = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise<void>((resolve) => srv.close(() => resolve()));
      return port;
    }
  }
}

export interface Version {
  upstream: TestUpstream;
  labels: Record<string, string>;
}

/** ServiceEntry + DestinationRule for `name` on `port`, one endpoint per version, subsets by `version` label. */
export function serviceYaml(name: string, port: number, versions: Version[], extraDestinationRule = ''): string {
  const endpoints = versions
    .map((v) => `  - address: 127.0.0.1\n    ports: {http: ${v.upstream.port}}\n    labels: ${JSON.stringify({ app: name, ...v.labels })}`)
    .join('\n');
  const subsets = [...new Set(versions.map((v) => v.labels.version).filter(Boolean))].map((v) => `  - name: ${v}\n    labels: {version: ${v}}`).join('\n');
  return serviceEntryYaml({ host: name, port, portName: 'http', protocol: 'HTTP', endpoints, rule: `${extraDestinationRule}  subsets:\n${subsets}\n` });
}

/** A VirtualService for `host` whose `http:` list is given verbatim (indented by two spaces). */
export function virtualServiceYaml(host: string, http: string): string {
  return `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${host}}
spec:
  hosts: [${host}]
  http:
${http}`;
}

export interface TestGateway {
  gw: Gateway;
  dir: string;
  access: MemoryAccessLog;
  /** Writes (or rewrites) a config file in the gateway's directory. */
  write(name: string, yaml: string): void;
  close(): Promise<void>;
}

export async function startGateway(files: Record<string, string>, opts: Partial<GatewayOptions> = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'shadowgate-test-'));
  const write = (name: string, yaml: string) => writeFileSync(join(dir, name), yaml);
  for (const [name, yaml] of Object.entries(files)) write(name, yaml);
  const access = new MemoryAccessLog();
  const gw = await Gateway.start({
    files: [dir],
    bind: '127.0.0.1',
    admin: '127.0.0.1:0',
    accessLog: access,
    watch: false,
    log: () => {},
    drainTimeoutMs: 2_000,
    ...opts,
  });
  const bound = gw.addresses().length;
  if (bound !== gw.snapshot.listeners.length) {
    await gw.shutdown();
    throw new Error(`the test gateway bound ${bound} of ${gw.snapshot.listeners.length} ports`);
  }
  return {
    gw,
    dir,
    access,
    write,
    async close() {
      await gw.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One keep-alive client for a test file; `close()` it in `after`. */
export const client = new Agent({ keepAliveTimeout: 10_000, connections: 64 });

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
}

export async function send(
  port: number,
  path = '/',
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  const started = performance.now();
  const res = await request(`http://127.0.0.1:${port}${path}`, {
    method: (init.method ?? 'GET') as 'GET',
    headers: init.headers ?? {},
    body: init.body ?? null,
    dispatcher: client,
  });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body, ms: performance.now() - started };
}
