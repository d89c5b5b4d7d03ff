// Operations (issue 15, items 8 and 9): SIGHUP reloads like nginx; a start that cannot serve exits non-zero with
// one line; a config of which nothing was accepted is not ready. Real `shadowgate serve` processes and sockets.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Gateway } from '../src/gateway/index.js';
import { MemoryAccessLog } from '../src/telemetry/index.js';
import { manyResources, vsTo } from './harness/config-files.js';
import { client, freePort, send, serviceYaml, startGateway } from './harness/gateway.js';
import { startUpstream } from './harness/upstream.js';
import { WAIT_MS } from './harness/wait.js';

after(() => client.close());

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'shadowgate.js');

/** A `shadowgate serve` subprocess and everything it printed. */
function serve(args: string[]): { child: ChildProcess; stderr: () => string; exited: Promise<number | null>; line(pattern: RegExp): Promise<string> } {
  const child = spawn(process.execPath, [BIN, 'serve', '--bind', '127.0.0.1', '--admin', '127.0.0.1:0', '--access-log', 'off', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const waiters: Array<{ pattern: RegExp; resolve: (l: string) => void }> = [];
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
    for (const w of [...waiters]) {
      const l = err.split('\n').find((x) => w.pattern.test(x));
      if (l !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stderr: () => err,
    exited,
    line(pattern) {
      const l = err.split('\n').find((x) => pattern.test(x));
      if (l !== undefined) return Promise.resolve(l);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${WAIT_MS} ms in:\n${err}`)), WAIT_MS);
        waiters.push({
          pattern,
          resolve: (x) => {
            clearTimeout(timer);
            resolve(x);
          },
        });
      });
    },
  };
}

const adminOf = (readyLine: string) => Number(/admin http:\/\/127\.0\.0\.1:(\d+)/.exec(readyLine)![1]);

describe('item 8: SIGHUP reloads like nginx', () => {
  for (const workers of ['1', '2']) {
    it(`--workers ${workers}: SIGHUP applies the edited config; the request in flight finishes; the process stays`, async () => {
      // Held until the reload has applied: the request is in flight through SIGHUP however slow the machine.
      const v1 = await startUpstream('v1', { kind: 'hold', body: 'v1' });
      const v2 = await startUpstream('v2', { kind: 'answer', body: 'v2' });
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'shadowgate-hup-'));
      const service = serviceYaml('app', port, [
        { upstream: v1, labels: { version: 'v1' } },
        { upstream: v2, labels: { version: 'v2' } },
      ]);
      writeFileSync(join(dir, 'service.yaml'), service);
      writeFileSync(join(dir, 'vs.yaml'), vsTo('v1'));
      const p = serve(['-f', dir, '--store', 'off', '--no-watch', '--workers', workers]);
      try {
        const admin = adminOf(await p.line(/ready: listening/));
        const inFlight = send(port, '/', { headers: { host: 'app' } });
        await v1.waitForRequests(1);
        writeFileSync(join(dir, 'vs.yaml'), vsTo('v2'));
        p.child.kill('SIGHUP');
        await p.line(workers === '1' ? /config [0-9a-f]{12} applied/ : /SIGHUP: applied in 2/);
        assert.equal(v1.release(), 1);
        const answer = await inFlight;
        assert.equal(answer.status, 200);
        assert.equal(answer.body, 'v1');
        for (let i = 0; i < 10; i++)
          assert.equal(await fetch(`http://127.0.0.1:${port}/`, { headers: { host: 'app', connection: 'close' } }).then((r) => r.text()), 'v2');
        const metrics = (await send(admin, '/metrics')).body;
        assert.match(metrics, /^shadowgate_config_last_reload_success 1$/m);
        assert.equal((await send(admin, '/ready')).status, 200);
        p.child.kill('SIGTERM');
        assert.equal(await p.exited, 0);
      } finally {
        p.child.kill('SIGKILL');
        await v1.close();
        await v2.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('the load budget flags', () => {
  it('serve --help lists them; a heap below 16 MiB is a usage error (exit 2)', async () => {
    const help = spawnSync(process.execPath, [BIN, 'serve', '--help'], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--config-load-timeout DURATION/);
    assert.match(help.stdout, /--config-load-heap MIB/);
    assert.match(help.stdout, /SIGHUP reloads the config/);
    const small = serve(['-f', 'examples/seed', '--config-load-heap', '8', '--config-load-timeout', '5s']);
    assert.equal(await small.exited, 2);
    assert.match(small.stderr(), /--config-load-heap must be at least 16 \(MiB\)/);
  });
});

describe('item 9: a start that cannot serve exits non-zero with one line', () => {
  for (const workers of ['1', '2']) {
    it(`--workers ${workers}: an unwritable store path`, async () => {
      const v1 = await startUpstream('v1');
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'shadowgate-store-'));
      writeFileSync(join(dir, 'service.yaml'), serviceYaml('app', port, [{ upstream: v1, labels: { version: 'v1' } }]));
      writeFileSync(join(dir, 'not-a-dir'), '');
      const p = serve(['-f', join(dir, 'service.yaml'), '--store', join(dir, 'not-a-dir', 'store.db'), '--workers', workers]);
      try {
        assert.equal(await p.exited, 1);
        const lines = p
          .stderr()
          .split('\n')
          .filter((l) => /cannot start/.test(l));
        assert.equal(lines.length, 1, p.stderr());
        assert.match(lines[0]!, /cannot open the comparison store/);
      } finally {
        p.child.kill('SIGKILL');
        await v1.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it(`--workers ${workers}: a busy service port`, async () => {
      const v1 = await startUpstream('v1');
      const blocker = createServer();
      blocker.listen(0, '127.0.0.1');
      await once(blocker, 'listening');
      const port = (blocker.address() as AddressInfo).port;
      const dir = mkdtempSync(join(tmpdir(), 'shadowgate-busy-'));
      writeFileSync(join(dir, 'service.yaml'), serviceYaml('app', port, [{ upstream: v1, labels: { version: 'v1' } }]));
      const p = serve(['-f', dir, '--store', 'off', '--workers', workers]);
      try {
        assert.equal(await p.exited, 1);
        const lines = p
          .stderr()
          .split('\n')
          .filter((l) => /cannot start/.test(l));
        assert.equal(lines.length, 1, p.stderr());
        assert.match(lines[0]!, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
      } finally {
        p.child.kill('SIGKILL');
        blocker.close();
        await v1.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('a config past its load budget at start: the start fails with the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shadowgate-startbudget-'));
    writeFileSync(join(dir, 'many.yaml'), manyResources(3_334, 8000, 9000));
    const lines: string[] = [];
    try {
      await assert.rejects(
        Gateway.start({
          files: [dir],
          bind: '127.0.0.1',
          admin: '127.0.0.1:0',
          accessLog: new MemoryAccessLog(),
          watch: false,
          log: (l) => lines.push(l),
          configBudget: { timeoutMs: 60_000, maxHeapMb: 16 },
        }),
        /config not loaded: loading the config needed more than 16 MiB of heap/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a config whose resources are all rejected is not ready; a valid reload makes it ready', async () => {
    const v1 = await startUpstream('v1');
    const port = await freePort();
    const bad = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app}
spec:
  hosts: [app]
  http:
  - route:
    - destination: {host: app}
    mirror: {host: app}
    mirrorPercentage: {value: 250}
`;
    const tg = await startGateway({ 'vs.yaml': bad });
    try {
      const admin = Number(tg.gw.adminAddress.split(':')[1]);
      assert.equal(tg.gw.snapshot.resources.filter((r) => r.accepted).length, 0);
      assert.equal((await send(admin, '/ready')).status, 503);
      tg.write('vs.yaml', serviceYaml('app', port, [{ upstream: v1, labels: { version: 'v1' } }]));
      assert.equal((await tg.gw.reload()).result, 'applied');
      assert.equal((await send(admin, '/ready')).status, 200);
      assert.equal((await send(port, '/', { headers: { host: 'app' } })).status, 200);
    } finally {
      await tg.close();
      await v1.close();
    }
  });
});
