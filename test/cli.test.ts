// The `shadowgate` command as a user runs it: a real subprocess, its exit code and what it prints.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Listener, PassthroughRoute } from '../src/config/index.js';
import { listenerSummary } from '../src/gateway/index.js';
import { client, freePort, send, serviceYaml } from './harness/gateway.js';
import { startUpstream } from './harness/upstream.js';
import { WAIT_MS } from './harness/wait.js';

after(() => client.close());

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'shadowgate.js');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'shadowgate-cli-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('shadowgate: help, version and usage errors as operators expect', () => {
  it('every command answers --help and -h with its own options, exit 0', () => {
    for (const command of ['demo', 'validate', 'serve', 'verdict', 'runs', 'samples']) {
      for (const flag of ['--help', '-h']) {
        const r = run(command, flag);
        assert.equal(r.code, 0, `${command} ${flag}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^Usage: shadowgate ${command} `));
        assert.match(r.stdout, /-h, --help/);
      }
    }
    const serve = run('serve', '--help').stdout;
    for (const flag of ['--no-watch', '--filename', '--admin', '--store', '--workers', '--kubernetes-listen']) assert.ok(serve.includes(flag), flag);
    assert.equal(run('help', 'verdict').stdout, run('verdict', '--help').stdout);
  });

  it('--version prints the package version; no command prints the overview and exits 2', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const r = run(flag);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `shadowgate ${pkg.version}\n`);
    }
    const none = run();
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Commands:/);
    assert.equal(run('--help').code, 0);
  });

  it('a usage error is one line and a hint, exit 2: unknown option, repeated flag, bad HOST:PORT', () => {
    const cases: [string[], RegExp][] = [
      [['validate', '--bogus'], /Unknown option '--bogus'/],
      [['validate', '-f', 'x', '-o', 'json', '-o', 'text'], /--output was given more than once/],
      [['serve', '-f', 'x', '--admin', '22999'], /--admin must be HOST:PORT/],
      [['verdict', '--admin', 'localhost'], /--admin must be HOST:PORT/],
      [['verdict', '--store', 'a.db', '--store', 'b.db'], /--store was given more than once/],
      [['serve', '--workers', 'two', '-f', 'x'], /--workers must be a whole number/],
      [['serve', '--kubernetes', '--config-map', 'Bad_Name'], /--config-map must be NAME, NS\/NAME or off, not "Bad_Name"/],
      [['serve', '--kubernetes', '--config-map-key', 'a/b'], /--config-map-key must be a ConfigMap key/],
      [['serve', '--kubernetes', '--gateway-controller-name', 'no-path'], /--gateway-controller-name must be DOMAIN\/PATH/],
    ];
    for (const [args, message] of cases) {
      const r = run(...args);
      assert.equal(r.code, 2, args.join(' '));
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 2, r.stderr);
      assert.match(lines[0]!, message);
      assert.equal(lines[1], `Run 'shadowgate ${args[0]} --help' for usage.`);
      assert.equal(r.stdout, '');
    }
  });
});

describe('shadowgate validate', () => {
  it("accepts the article's configuration (exit 0) and notes the deprecated field", () => {
    const r = run(
      'validate',
      '-f',
      'examples/seed/service.yaml',
      '-f',
      'examples/seed/destination-rule.yaml',
      '-f',
      'examples/seed/virtual-service-mirror.yaml',
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /virtual-service-mirror\.yaml:\d+:\d+: warning: VirtualService default\/nginx spec\.http\[0\]\.mirror_percent: mirror_percent is deprecated/,
    );
    assert.match(r.stdout, /0 error\(s\), 1 warning\(s\)/);
  });

  it('an invalid file: exit 1, file:line, resource, field path and a sentence; no stack trace', () => {
    const dir = tempDir({
      'vs.yaml': `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
    mirror: {host: reviews, subset: v2}
    mirrorPercentage: {value: 250}
`,
    });
    try {
      const r = run('validate', '-f', dir);
      assert.equal(r.code, 1);
      assert.match(
        r.stdout,
        /vs\.yaml:10:\d+: error: VirtualService default\/reviews spec\.http\[0\]\.mirrorPercentage\.value: percentage must be between 0 and 100, not 250 \[percentage-out-of-range\]/,
      );
      assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--output json is machine-readable', () => {
    const r = run('validate', '-f', 'examples/istio-mirroring-task', '-o', 'json');
    assert.equal(r.code, 0);
    const out = JSON.parse(r.stdout);
    assert.equal(out.valid, true);
    assert.match(out.hash, /^[0-9a-f]{64}$/);
    assert.deepEqual(out.listeners, [{ port: 8000, hosts: ['httpbin.default.svc.cluster.local'] }]);
  });

  it('a missing file and bad usage are clear errors, not crashes', () => {
    const missing = run('validate', '-f', 'does/not/exist.yaml');
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /does\/not\/exist\.yaml: error: cannot read: ENOENT/);
    const usage = run('validate');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /validate needs at least one -f PATH/);
    const unknown = run('frobnicate');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
  });
});

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = WAIT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} in: ${seen}`)), timeoutMs);
    child.stderr!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const line = seen.split('\n').find((l) => pattern.test(l));
      if (line) {
        clearTimeout(timer);
        resolve(line);
      }
    });
  });
}

describe('shadowgate serve', () => {
  it('prints one ready line; SIGTERM finishes the request in flight, turns /ready to 503, and exits 0', async () => {
    // Held until the drain has been seen: the request is in flight through SIGTERM however slow the machine.
    const v1 = await startUpstream('v1', { kind: 'hold' });
    const port = await freePort();
    const adminPort = await freePort();
    const dir = tempDir({ 'service.yaml': serviceYaml('nginx', port, [{ upstream: v1, labels: { version: 'v1' } }]) });
    const child = spawn(
      process.execPath,
      [BIN, 'serve', '-f', dir, '--bind', '127.0.0.1', '--admin', `127.0.0.1:${adminPort}`, '--access-log', 'off', '--store', 'off', '--workers', '1'],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const ready = await waitForLine(child, /ready/);
      assert.match(ready, new RegExp(`shadowgate: ready: listening on 127\\.0\\.0\\.1:${port} .*admin http://127\\.0\\.0\\.1:${adminPort}`));
      assert.equal((await send(adminPort, '/ready')).status, 200);
      const inFlight = send(port, '/slow', { headers: { host: 'nginx' } });
      await v1.waitForRequests(1);
      child.kill('SIGTERM');
      await waitForLine(child, /draining/);
      assert.equal((await send(adminPort, '/ready')).status, 503);
      assert.equal(v1.release(), 1);
      const answer = await inFlight;
      assert.equal(answer.status, 200);
      assert.equal(answer.body, 'This is v1\n');
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
      await v1.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--workers 2: both processes serve one port; the primary merges metrics and drains both on SIGTERM', async () => {
    const v1 = await startUpstream('v1');
    const port = await freePort();
    const adminPort = await freePort();
    const dir = tempDir({ 'service.yaml': serviceYaml('nginx', port, [{ upstream: v1, labels: { version: 'v1' } }]) });
    const child = spawn(
      process.execPath,
      [BIN, 'serve', '-f', dir, '--bind', '127.0.0.1', '--admin', `127.0.0.1:${adminPort}`, '--access-log', 'off', '--store', 'off', '--workers', '2'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      assert.match(await waitForLine(child, /ready/), /2 workers/);
      // New connections each time, so the primary hands them to both workers.
      for (let i = 0; i < 40; i++) {
        const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } });
        assert.equal(res.status, 200);
        await res.text();
      }
      const metrics = (await send(adminPort, '/metrics')).body;
      const counts = [...metrics.matchAll(/^istio_requests_total\{reporter="source",.*response_code="200".*\} (\d+)$/gm)].map((m) => Number(m[1]));
      assert.deepEqual(counts, [40], 'one merged series counting every request once');
      // /api/traffic under --workers: the first worker's route table, the counters of the merged exposition.
      const traffic = JSON.parse((await send(adminPort, '/api/traffic')).body) as { routes: { route: string; primary: { subset?: string; rps: number } }[] };
      assert.deepEqual(
        traffic.routes.map((r) => r.route),
        ['ServiceEntry default/nginx#default'],
      );
      assert.ok(traffic.routes[0]!.primary.rps > 0, `rate ${traffic.routes[0]!.primary.rps}`);
      assert.equal((await send(adminPort, '/ready')).status, 200);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
      await v1.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("serve's ready line", () => {
  it('names each port’s hosts, (https) when it terminates TLS for HTTP, and the SNI names it passes through or tunnels', () => {
    const host = (h: string) => ({ host: h }) as Listener['virtualHosts'][number];
    const route = (sniHosts: string[], destinations: number) =>
      ({ sniHosts, destinations: Array.from({ length: destinations }, () => ({})), source: 'x' }) as PassthroughRoute;
    const listeners = [
      { port: 80, virtualHosts: [host('a'), host('b')] },
      { port: 443, tls: [{}], virtualHosts: [host('web.example.com')], passthrough: [route(['secure.example.com'], 1), route(['*.example.com'], 0)] },
      { port: 8443, virtualHosts: [], passthrough: [route(['x.example.com', 'y.example.com'], 1)] },
      // A TLSRoute on a Terminate listener: TLS terminated, but no HTTP served.
      { port: 9443, tls: [{ tunnel: true }], virtualHosts: [], tunnel: [route(['db.example.com'], 1), route(['*.example.com'], 0)] },
    ] as unknown as Listener[];
    // A route with no destination only holds a listener's name (refused connections): not listed.
    assert.equal(
      listenerSummary(listeners),
      '80: a, b; 443 (https): web.example.com + passthrough secure.example.com; 8443: passthrough x.example.com, y.example.com; 9443: tls tunnel db.example.com',
    );
  });
});
