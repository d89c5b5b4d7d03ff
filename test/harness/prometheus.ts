// Test harness: a real Prometheus server (Debian's `prometheus` package; CI installs it) scraping given targets
// every second, on loopback, with an instant-query helper. Skips outside CI when Prometheus is not installed.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from './gateway.js';
import { WAIT_MS } from './wait.js';

export interface PromVector {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

export interface TestPrometheus {
  url: string;
  /** Instant query; throws on an HTTP or PromQL error. */
  query(expr: string): Promise<PromVector>;
  /** Resolves once every target has been scraped successfully at least `n` times by scrapes begun after the call (`up`'s samples). */
  scrapes(n: number, timeoutMs?: number): Promise<void>;
  log(): string;
  close(): Promise<void>;
}

/** True when Prometheus can run here; skips the test (outside CI) or fails it (in CI) when it cannot. */
export function needsPrometheus(t: TestContext): boolean {
  const r = spawnSync('prometheus', ['--version'], { stdio: 'ignore', timeout: 10_000 });
  if (!r.error) return true;
  if (process.env.CI) assert.fail('prometheus is not installed; CI installs it (apt-get install prometheus)');
  t.skip('prometheus is not installed (apt-get install prometheus); CI runs this test');
  return false;
}

/** Starts Prometheus scraping `targets` (HOST:PORT of admin listeners) as job `shadowgate`, each its own instance. */
export async function startPrometheus(targets: string[], job = 'shadowgate'): Promise<TestPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'shadowgate-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    `global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: ${job}
    metrics_path: /metrics
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs: [{targets: ${JSON.stringify(targets)}}]
`,
  );
  // Prometheus' web port must be fixed on its command line; it is claimed like the service ports.
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const proc: ChildProcess = spawn(
    'prometheus',
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (c: Buffer) => {
    output = (output + c.toString()).slice(-8_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const get = (path: string) => fetch(`${url}${path}`, { signal: AbortSignal.timeout(5_000) });
  const close = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const query = async (expr: string): Promise<PromVector> => {
    const r = await get(`/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await r.json()) as PromVector;
    if (body.status !== 'success') throw new Error(`PromQL ${expr}: ${body.error}`);
    return body;
  };
  // Prometheus is another process with no event to wait on: its readiness and scrape counts are polled, paced so as
  // not to load it. The condition is the signal; the deadline (WAIT_MS) is only a safety net.
  try {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      assert.ok(proc.exitCode === null, `prometheus exited ${proc.exitCode}:\n${output}`);
      assert.ok(Date.now() < deadline, `prometheus not ready:\n${output}`);
      if (
        await get('/-/ready').then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    url,
    query,
    async scrapes(n, timeoutMs = WAIT_MS) {
      // Successful scrapes begun since this call: a sample's timestamp is when its scrape began, so the samples of
      // up in the window since then are those scrapes (one in flight at the call read the metrics before it, and is
      // not counted), and sum_over_time counts only the successful ones (a scrape that timed out on a busy machine
      // adds up=0). A counter kept by Prometheus itself, not a clock. (+10 ms: Prometheus may shift a scrape's
      // timestamp by a few ms to align it with the previous ones; a scrape begun just before is then still excluded.)
      const since = Date.now() + 10;
      const counts = async () => {
        const r = await query(`sum_over_time(up{job="${job}"}[${Math.max(1, Date.now() - since)}ms])`);
        return new Map((r.data?.result ?? []).map((s) => [s.metric.instance ?? '', Number(s.value[1])]));
      };
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const now = await counts();
        if (targets.every((t) => (now.get(t) ?? 0) >= n)) return;
        assert.ok(
          Date.now() < deadline,
          `prometheus did not scrape ${targets.join(', ')} ${n} more times within ${timeoutMs} ms (${JSON.stringify([...now])}):\n${output}`,
        );
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    log: () => output,
    close,
  };
}
