// `serve --workers N` as an operator reads it: each startup and reload line once, and a /config_dump of one shape
// whatever the worker count (per-process parts under `workers`).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { untilMetric } from './harness/exposition.js';
import { client, send } from './harness/gateway.js';

after(() => client.close());

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'shadowgate.js');

/** A config with no service port (nothing to bind) and one warning: a DestinationRule for a host nobody defines.
 * `subset` changes the served config (an endpoint's label), so a reload applies. */
const config = (subset: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, annotations: {shadowgate.dev/listen: "false"}}
spec:
  hosts: [reviews]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, labels: {version: ${subset}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ghost}
spec:
  host: ghost
  subsets: [{name: ${subset}, labels: {version: ${subset}}}]
`;

interface Served {
  admin: number;
  stderr: () => string;
  stop: () => Promise<number | null>;
}

async function serve(dir: string, workers: number): Promise<Served> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '-f', dir, '--bind', '127.0.0.1', '--admin', '127.0.0.1:0', '--access-log', 'off', '--store', 'off', '--workers', String(workers)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let text = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const closed = new Promise<void>((resolve) => child.stderr.on('end', resolve));
  const admin = await new Promise<number>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const m = /ready: .*admin http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', () => reject(new Error(`exited before ready: ${text}`)));
  });
  return {
    admin,
    stderr: () => text,
    stop: async () => {
      child.kill('SIGTERM');
      const code = await exited;
      await closed;
      return code;
    },
  };
}

const count = (text: string, pattern: RegExp) => text.split('\n').filter((l) => pattern.test(l)).length;

/** The merged counter of applied reloads: every worker adds its own. */
async function appliedReloads(admin: number): Promise<number> {
  const m = /^shadowgate_config_reloads_total\{result="applied"\} (\d+)$/m.exec((await send(admin, '/metrics')).body);
  return Number(m?.[1] ?? 0);
}

describe('serve --workers N: one log, one /config_dump shape', () => {
  it('startup problems and a reload are logged once with 2 workers; /config_dump has the 1-worker shape with 2 entries', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shadowgate-cli-workers-'));
    writeFileSync(join(dir, 'config.yaml'), config('v1'));
    const dumps: Record<number, Record<string, unknown>> = {};
    try {
      for (const workers of [1, 2]) {
        writeFileSync(join(dir, 'config.yaml'), config('v1'));
        const s = await serve(dir, workers);
        let code: number | null;
        try {
          dumps[workers] = JSON.parse((await send(s.admin, '/config_dump')).body) as Record<string, unknown>;
          if (workers === 2) {
            // A change on disk: each worker's watcher reloads; wait until both counted it.
            const before = await appliedReloads(s.admin);
            writeFileSync(join(dir, 'config.yaml'), config('v2'));
            await untilMetric(`127.0.0.1:${s.admin}`, 'shadowgate_config_reloads_total', (n) => n >= before + 2, { labels: { result: 'applied' } });
          }
        } finally {
          code = await s.stop();
        }
        assert.equal(code, 0, s.stderr());
        const log = s.stderr();
        assert.equal(count(log, /warning: .*no ServiceEntry defines host ghost/), workers === 2 ? 2 : 1, log);
        if (workers === 2) {
          // Once at startup and once after the reload (the applied config's warnings), never once per worker.
          assert.equal(count(log, /shadowgate: config [0-9a-f]{12} applied/), 1, log);
          assert.equal(count(log, /^shadowgate: ready: /), 1, log);
        }
      }
      const [one, two] = [dumps[1]!, dumps[2]!];
      assert.deepEqual(Object.keys(two).sort(), Object.keys(one).sort(), 'the same keys whatever the worker count');
      assert.equal(two.hash, one.hash);
      assert.equal(two.ready, true);
      const entries = two.workers as { pid: number; ready: boolean; upstream: { primary: unknown; shadow: unknown }; shadows_in_flight: number }[];
      assert.equal((one.workers as unknown[]).length, 1);
      assert.equal(entries.length, 2);
      assert.notEqual(entries[0]!.pid, entries[1]!.pid);
      for (const e of entries) {
        assert.equal(e.ready, true);
        assert.ok(e.upstream.primary && e.upstream.shadow);
        assert.equal(e.shadows_in_flight, 0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
