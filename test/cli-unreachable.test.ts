// verdict, runs and samples say why a gateway's admin listener cannot be asked (refused, timeout, DNS), not "fetch failed".
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fetchAdmin, unreachableReason } from '../src/cli/unreachable.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'shadowgate.js');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const listen = (server: Server) => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));

describe('an unreachable gateway is named with its reason', () => {
  it('connection refused: verdict, runs and samples say so, exit as before (4 for verdict)', async () => {
    // A port that was just ours and is closed now: nothing listens there. (There is no server to give port 0
    // here; if another process took the port meanwhile, the assertions on "refused" would show it.)
    const server = createServer();
    const port = await listen(server);
    await new Promise((r) => server.close(r));
    const admin = `127.0.0.1:${port}`;
    const verdict = run('verdict', '--admin', admin);
    assert.equal(verdict.code, 4);
    assert.match(verdict.stderr, new RegExp(`cannot reach ${admin}: connection refused .*\\[ECONNREFUSED\\]`));
    assert.doesNotMatch(verdict.stderr, /fetch failed/);
    for (const args of [['runs'], ['samples', '--field', 'body.total']]) {
      const r = run(...args, '--admin', admin);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /connection refused .*\[ECONNREFUSED\]/, r.stderr);
      assert.doesNotMatch(r.stderr, /fetch failed/);
    }
  });

  it('a listener that accepts and never answers: a timeout, said as one', async () => {
    const sockets = new Set<import('node:net').Socket>();
    const server = createServer((s) => sockets.add(s));
    const port = await listen(server);
    try {
      await assert.rejects(fetchAdmin(`127.0.0.1:${port}`, `http://127.0.0.1:${port}/api/verdict`, { signal: AbortSignal.timeout(100) }), (err: Error) =>
        /^cannot reach 127\.0\.0\.1:\d+: no answer in time \(timeout\)$/.test(err.message),
      );
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it('DNS failures and other codes are named from undici`s cause.code', () => {
    const failed = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(`getaddrinfo ${code}`), { code }) });
    assert.match(unreachableReason(failed('ENOTFOUND')), /^DNS lookup failed: no such host \[ENOTFOUND\]$/);
    assert.match(unreachableReason(failed('EAI_AGAIN')), /^DNS lookup failed: .*\[EAI_AGAIN\]$/);
    assert.match(unreachableReason(failed('UND_ERR_CONNECT_TIMEOUT')), /timed out connecting/);
    assert.equal(unreachableReason(failed('EWEIRD')), 'getaddrinfo EWEIRD [EWEIRD]');
  });
});
