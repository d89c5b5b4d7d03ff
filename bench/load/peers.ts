// What the load bench runs: the upstreams (primary and the shadow variants) and the peers under load —
// nginx with and without `mirror`, the bare Node mirror and Shadowgate — each its own process on loopback.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, stderrTail, stop, track, waitHttp } from './procs.js';

/** The repository root (this file runs from dist/bench/load/). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HERE = fileURLToPath(new URL('.', import.meta.url));

// ---------------------------------------------------------------- upstreams

export type UpstreamMode = 'ok' | 'slow' | 'hung';

export interface Upstream {
  name: string;
  port: number;
  pid: number;
  /** Requests received in full so far. */
  count(): Promise<number>;
  stop(): Promise<void>;
}

export async function startUpstream(name: string, mode: UpstreamMode, delayMs = 200): Promise<Upstream> {
  const child = track(fork(join(HERE, 'upstream.js'), [mode, String(delayMs)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }));
  const err = stderrTail(child);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`upstream ${name} did not start: ${err()}`)), 10_000);
    child.on('message', (m: { type: string; port?: number }) => {
      if (m.type === 'listening') {
        clearTimeout(timer);
        resolve(m.port!);
      }
    });
    child.once('exit', (c) => reject(new Error(`upstream ${name} exited (${c}): ${err()}`)));
  });
  let nextId = 1;
  const waiting = new Map<number, (n: number) => void>();
  child.on('message', (m: { type: string; id?: number; count?: number }) => {
    if (m.type === 'count') {
      waiting.get(m.id!)?.(m.count!);
      waiting.delete(m.id!);
    }
  });
  return {
    name,
    port,
    pid: child.pid!,
    count: () =>
      new Promise<number>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`upstream ${name} did not answer a count within 5 s`));
        }, 5_000);
        waiting.set(id, (n) => {
          clearTimeout(timer);
          resolve(n);
        });
        child.send({ type: 'count', id });
      }),
    stop: () => stop(child),
  };
}

// ---------------------------------------------------------------- peers

export interface Peer {
  /** The port wrk loads. */
  port: number;
  /** The process whose CPU and resident size are reported (with its descendants). */
  pid: number;
  /** Shadowgate only: its admin port, for /metrics. */
  adminPort?: number;
  /** Files whose sizes are worth reporting (error log, access log, comparison store). */
  files: Record<string, string>;
  stop(): Promise<void>;
}

/** Empties a peer's access log between runs (it is opened to append): a long bench would fill the disk. */
export function emptyLog(p: Peer): void {
  if (p.files.access_log)
    try {
      truncateSync(p.files.access_log, 0);
    } catch {
      // not written yet
    }
}

export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** One process as a peer: stopped by PID, SIGKILL after a grace period. */
function peerOf(child: ChildProcess, port: number, files: Record<string, string>, adminPort?: number): Peer {
  return { port, pid: child.pid!, files, ...(adminPort !== undefined ? { adminPort } : {}), stop: () => stop(child, 5_000) };
}

export interface NginxOptions {
  dir: string;
  workers: '1' | 'auto';
  primaryPort: number;
  shadowPort: number | undefined;
}

/**
 * nginx.conf for the peer. Both upstreams keep connections alive (so the mirror does not pay one TCP
 * connection per copy); the mirror location has 1 s connect/read timeouts; access_log off; error_log at
 * its default level `error` to a file in the temp dir (its size is reported: a dead shadow writes a line
 * per request).
 */
export function nginxConf(o: NginxOptions, port: number): string {
  const d = o.dir;
  const mirror = o.shadowPort !== undefined;
  return `daemon off;
master_process on;
worker_processes ${o.workers};
worker_rlimit_nofile 16384;
pid ${d}/nginx.pid;
error_log ${d}/error.log error;
${process.getuid?.() === 0 ? 'user root;\n' : ''}events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${d}/client_body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
  client_body_buffer_size 64k;
  client_max_body_size 1m;
  keepalive_timeout 120s;
  keepalive_requests 1000000;
  upstream primary { server 127.0.0.1:${o.primaryPort}; keepalive 64; keepalive_requests 1000000; }
${mirror ? `  upstream shadow { server 127.0.0.1:${o.shadowPort}; keepalive 64; keepalive_requests 1000000; }\n` : ''}  server {
    listen 127.0.0.1:${port};
    location / {
${mirror ? '      mirror /mirror;\n' : ''}      proxy_pass http://primary;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
${
  mirror
    ? `    location = /mirror {
      internal;
      proxy_pass http://shadow$request_uri;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 1s;
      proxy_read_timeout 1s;
    }
`
    : ''
}  }
}
`;
}

export async function startNginx(o: NginxOptions): Promise<Peer> {
  mkdirSync(o.dir, { recursive: true });
  const port = await freePort();
  const conf = join(o.dir, 'nginx.conf');
  writeFileSync(conf, nginxConf(o, port));
  const child = track(spawn('nginx', ['-p', o.dir, '-c', conf, '-e', join(o.dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const err = stderrTail(child);
  // SIGTERM is nginx's fast shutdown; the master stops its workers.
  const peer = peerOf(child, port, { error_log: join(o.dir, 'error.log') });
  try {
    await waitHttp(port, '/', 10_000, 'nginx', child);
  } catch (e) {
    await peer.stop();
    throw new Error(`${(e as Error).message}; ${err()}`);
  }
  return peer;
}

/** Which Node runs a Node peer (the bench compares Node 20 and the current LTS), and its environment. */
export interface NodeRuntime {
  /** Path of the `node` binary. */
  execPath: string;
  /** Extra environment (the LTS's native addons); merged over the bench's. */
  env?: Record<string, string>;
}

const THIS_NODE: NodeRuntime = { execPath: process.execPath };

/** The bare Node mirror; `processes` > 1 shares its port over that many node:cluster workers (as `--workers`). */
export async function startBareMirror(
  primaryPort: number,
  shadowPort: number,
  node: NodeRuntime = THIS_NODE,
  profileDir?: string,
  processes = 1,
): Promise<Peer> {
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const args = [join(HERE, 'bare-node-mirror.js'), '0', `http://127.0.0.1:${primaryPort}`, `http://127.0.0.1:${shadowPort}`, String(processes)];
  const child = track(
    spawn(node.execPath, [...nodeArgs, ...args], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...node.env },
    }),
  );
  const err = stderrTail(child);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bare Node mirror did not start: ${err()}`)), 10_000);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (c) => reject(new Error(`bare Node mirror exited (${c}): ${err()}`)));
  });
  const peer = peerOf(child, port, {});
  try {
    await waitHttp(port, '/', 10_000, 'bare Node mirror', child);
  } catch (e) {
    await peer.stop();
    throw e;
  }
  return peer;
}

export function shadowgateYaml(port: number, primaryPort: number, shadowPort: number | undefined): string {
  const endpoints = [`  - address: 127.0.0.1\n    ports: {http: ${primaryPort}}\n    labels: {app: bench, version: v1}`];
  if (shadowPort !== undefined) endpoints.push(`  - address: 127.0.0.1\n    ports: {http: ${shadowPort}}\n    labels: {app: bench, version: v2}`);
  const mirror = shadowPort !== undefined ? '    mirror: {host: bench, subset: v2}\n    mirrorPercentage: {value: 100}\n' : '';
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bench}
spec:
  hosts: [bench]
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
${endpoints.join('\n')}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: bench}
spec:
  host: bench
  subsets:
  - {name: v1, labels: {version: v1}}
${shadowPort !== undefined ? '  - {name: v2, labels: {version: v2}}\n' : ''}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bench}
spec:
  hosts: [bench]
  http:
  - name: all
    route:
    - destination: {host: bench, subset: v1}
${mirror}`;
}

export interface ShadowgateOptions {
  dir: string;
  primaryPort: number;
  shadowPort: number | undefined;
  /** Comparison on: a SQLite store in the temp dir; off: `--store off`. */
  compare: boolean;
  /** `--workers N` when the CLI has it. */
  workers: number | undefined;
  /** Runs Node with `--cpu-prof`, profiles written here (one per process and thread). */
  profileDir?: string;
  /** Which Node runs it (default: the bench's own). */
  node?: NodeRuntime;
  /** Another checkout (built) to run instead of this one: a baseline to compare a change with. */
  root?: string;
  /** More `serve` options as `--name value` pairs; one the bench sets too is replaced (`--access-log off`). */
  extraArgs?: string[];
}

export async function startShadowgate(o: ShadowgateOptions): Promise<Peer> {
  mkdirSync(o.dir, { recursive: true });
  const port = await freePort();
  const adminPort = await freePort();
  const config = join(o.dir, 'bench.yaml');
  writeFileSync(config, shadowgateYaml(port, o.primaryPort, o.shadowPort));
  const files: Record<string, string> = { access_log: join(o.dir, 'access.log') };
  if (o.compare) files.store = join(o.dir, 'compare.db');
  // Workers are forked by node:cluster, which passes the primary's execArgv on: every process is profiled.
  const nodeArgs = o.profileDir ? ['--cpu-prof', '--cpu-prof-dir', o.profileDir] : [];
  const args = [
    ...nodeArgs,
    join(o.root ?? ROOT, 'bin', 'shadowgate.js'),
    'serve',
    '-f',
    config,
    '--bind',
    '127.0.0.1',
    '--admin',
    `127.0.0.1:${adminPort}`,
    '--access-log',
    files.access_log!,
    '--store',
    o.compare ? files.store! : 'off',
    '--drain-timeout',
    '1s',
  ];
  if (o.workers !== undefined) args.push('--workers', String(o.workers));
  // `--name value` pairs; the CLI refuses an option given twice, so one the bench set is replaced.
  for (let i = 0; o.extraArgs && i + 1 < o.extraArgs.length; i += 2) {
    const at = args.indexOf(o.extraArgs[i]!);
    if (at >= 0) args[at + 1] = o.extraArgs[i + 1]!;
    else args.push(o.extraArgs[i]!, o.extraArgs[i + 1]!);
  }
  const node = o.node ?? THIS_NODE;
  const child = track(spawn(node.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: o.dir, env: { ...process.env, ...node.env } }));
  const err = stderrTail(child);
  const peer = peerOf(child, port, files, adminPort);
  try {
    await waitHttp(adminPort, '/ready', 20_000, 'shadowgate admin', child);
    await waitHttp(port, '/', 10_000, 'shadowgate', child);
  } catch (e) {
    await peer.stop();
    throw new Error(`${(e as Error).message}; ${err()}`);
  }
  return peer;
}

export interface ShadowgateCounters {
  sampled: number;
  answered: number;
  abandoned: Record<string, number>;
  compare: Record<string, number>;
}

/** Sums Shadowgate's shadow counters from the admin /metrics (all label sets). */
export async function shadowgateCounters(adminPort: number): Promise<ShadowgateCounters> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  const c: ShadowgateCounters = { sampled: 0, answered: 0, abandoned: {}, compare: {} };
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^(\w+)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const [, name, labels = '', v] = m;
    const value = Number(v);
    if (name === 'shadowgate_shadows_sampled_total') c.sampled += value;
    else if (name === 'shadowgate_shadow_requests_total') c.answered += value;
    else if (name === 'shadowgate_shadow_abandoned_total') {
      const reason = /reason="([^"]*)"/.exec(labels)?.[1] ?? 'unknown';
      c.abandoned[reason] = (c.abandoned[reason] ?? 0) + value;
    } else if (name === 'shadowgate_compare_exchanges_total') {
      const result = /result="([^"]*)"/.exec(labels)?.[1] ?? 'unknown';
      c.compare[result] = (c.compare[result] ?? 0) + value;
    }
  }
  return c;
}

export function diffCounters(after: ShadowgateCounters, before: ShadowgateCounters): ShadowgateCounters {
  const sub = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(a)
        .map(([k, v]) => [k, v - (b[k] ?? 0)])
        .filter(([, v]) => v !== 0),
    );
  return {
    sampled: after.sampled - before.sampled,
    answered: after.answered - before.answered,
    abandoned: sub(after.abandoned, before.abandoned),
    compare: sub(after.compare, before.compare),
  };
}

export function addCounters(a: ShadowgateCounters, b: ShadowgateCounters): ShadowgateCounters {
  const add = (x: Record<string, number>, y: Record<string, number>) => {
    const out = { ...x };
    for (const [k, v] of Object.entries(y)) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  return { sampled: a.sampled + b.sampled, answered: a.answered + b.answered, abandoned: add(a.abandoned, b.abandoned), compare: add(a.compare, b.compare) };
}
