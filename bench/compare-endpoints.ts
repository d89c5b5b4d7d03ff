// The 10,000-endpoint benchmark (issue 12): unique paths under load while the verdict is asked for every second.
// Measures the primary's p99 with and without the verdict calls (interleaved rounds), the gateway's RSS, the
// endpoints a run keeps (the cap and its `other` bucket), and the size and time of the API answers.
//   node dist/bench/compare-endpoints.js [--quick]      (npm run bench:compare)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { mirrorServiceYaml } from '../test/harness/service-yaml.js';
import { startUpstream } from './load/peers.js';
import { freePort, killAllSync, start, stderrTail, stop, stopAll, treeRssKiB } from './load/procs.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = join(HERE, '..', '..', 'bin', 'shadowgate.js');
const ENDPOINTS = 10_000;
const CONCURRENCY = 32;

/** `a`, `b`, … `aa`: path segments without digits, so none folds into `{id}` and each is its own endpoint. */
function word(i: number): string {
  let s = '';
  let n = i + 1;
  while (n > 0) {
    s = String.fromCharCode(97 + ((n - 1) % 26)) + s;
    n = Math.floor((n - 1) / 26);
  }
  return s;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const median = (xs: number[]) =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

export interface EndpointsBenchReport {
  rounds: number;
  phaseSeconds: number;
  quiet: { p50: number; p99: number; rps: number };
  verdict: { p50: number; p99: number; rps: number };
  p99Ratio: number;
  verdictCalls: number;
  verdictCallMs: { p50: number; max: number };
  bytes: { verdict: number; endpoints: number; runs: number };
  endpointsKept: number;
  overflowed: number;
  compared: number;
  rssMiB: { start: number; min: number; max: number; end: number };
}

export async function runEndpointsBench(quick: boolean): Promise<EndpointsBenchReport> {
  const phaseSeconds = quick ? 4 : 10;
  const rounds = quick ? 2 : 3;
  const v1 = await startUpstream('v1', 'ok');
  const v2 = await startUpstream('v2', 'ok');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'shadowgate-bench-endpoints-'));
  writeFileSync(
    join(dir, 'api.yaml'),
    mirrorServiceYaml({
      host: 'api',
      port,
      primary: v1.port,
      candidate: v2.port,
      routeName: 'all',
      // Well above the default 250, so the 10,000 endpoints reach the store within seconds.
      compare: '    maxPerSecond: 2000\n',
    }),
  );
  const gw = start(process.execPath, [
    BIN,
    'serve',
    '-f',
    dir,
    '--bind',
    '127.0.0.1',
    '--admin',
    '127.0.0.1:0',
    '--access-log',
    'off',
    '--store',
    join(dir, 'compare.db'),
    '--workers',
    '1',
    '--no-watch',
  ]);
  const err = stderrTail(gw);
  const admin = await new Promise<string>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`the gateway did not start: ${err()}`)), 15_000);
    gw.stderr!.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /ready: .* admin http:\/\/([\d.]+:\d+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    gw.once('exit', (c) => reject(new Error(`the gateway exited (${c}): ${err()}`)));
  });
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY, pipelining: 1 });
  const adminPool = new Pool(`http://${admin}`, { connections: 2 });
  const rss: number[] = [];
  const rssTimer = setInterval(() => rss.push(treeRssKiB(gw.pid!) / 1024), 500);
  const rssStart = treeRssKiB(gw.pid!) / 1024;
  let next = 0;
  let failures = 0;

  /** Load for `seconds`; each request's latency goes into the returned array. */
  const load = async (seconds: number): Promise<{ latencies: number[]; seconds: number }> => {
    const latencies: number[] = [];
    const until = performance.now() + seconds * 1000;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < until) {
          const path = `/shop/${word(next++ % ENDPOINTS)}/view`;
          const t = performance.now();
          try {
            const res = await pool.request({ path, method: 'GET', headers: { host: 'api' } });
            await res.body.dump();
            if (res.statusCode !== 200) failures++;
          } catch {
            failures++;
          }
          latencies.push(performance.now() - t);
        }
      }),
    );
    return { latencies, seconds: (performance.now() - started) / 1000 };
  };
  const get = async (path: string): Promise<{ ms: number; bytes: number; body: string }> => {
    const t = performance.now();
    const res = await adminPool.request({ path, method: 'GET' });
    const body = await res.body.text();
    return { ms: performance.now() - t, bytes: Buffer.byteLength(body), body };
  };

  const calls: number[] = [];
  const bytes = { verdict: 0, endpoints: 0, runs: 0 };
  /** Every second: the verdict, the run's endpoints and the runs, as the UI and a pipeline ask. */
  const asking = () => {
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const second = performance.now() + 1000;
        const v = await get('/api/verdict');
        const runId = (JSON.parse(v.body) as { runs: { run: { id: string } }[] }).runs[0]?.run.id;
        const e = await get(`/api/endpoints${runId ? `?run=${runId}` : ''}`);
        const r = await get('/api/runs');
        calls.push(v.ms, e.ms, r.ms);
        bytes.verdict = Math.max(bytes.verdict, v.bytes);
        bytes.endpoints = Math.max(bytes.endpoints, e.bytes);
        bytes.runs = Math.max(bytes.runs, r.bytes);
        const wait = second - performance.now();
        if (wait > 0 && !stopped) await new Promise((res) => setTimeout(res, wait));
      }
    })();
    return async () => {
      stopped = true;
      await loop;
    };
  };

  try {
    await load(quick ? 3 : 5); // warm-up: the JIT, and every endpoint seen at least once
    const quiet: { latencies: number[]; seconds: number }[] = [];
    const busy: { latencies: number[]; seconds: number }[] = [];
    for (let r = 0; r < rounds; r++) {
      quiet.push(await load(phaseSeconds));
      const stopAsking = asking();
      busy.push(await load(phaseSeconds));
      await stopAsking();
    }
    const summary = (runs: { latencies: number[]; seconds: number }[]) => {
      const per = runs.map((x) => {
        const s = [...x.latencies].sort((a, b) => a - b);
        return { p50: quantile(s, 0.5), p99: quantile(s, 0.99), rps: x.latencies.length / x.seconds };
      });
      return { p50: median(per.map((p) => p.p50)), p99: median(per.map((p) => p.p99)), rps: median(per.map((p) => p.rps)) };
    };
    const q = summary(quiet);
    const b = summary(busy);
    const eps = JSON.parse((await get('/api/endpoints')).body) as { run: { compared: number }; endpoints: unknown[] };
    const metrics = (await get('/metrics')).body;
    const overflowed = Number(/^shadowgate_compare_overflow_total\{bucket="endpoint"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
    const sortedCalls = [...calls].sort((x, y) => x - y);
    if (failures > 0) throw new Error(`${failures} primary requests failed`);
    return {
      rounds,
      phaseSeconds,
      quiet: q,
      verdict: b,
      p99Ratio: b.p99 / q.p99,
      verdictCalls: calls.length,
      verdictCallMs: { p50: quantile(sortedCalls, 0.5), max: sortedCalls[sortedCalls.length - 1] ?? 0 },
      bytes,
      endpointsKept: eps.endpoints.length,
      overflowed,
      compared: eps.run.compared,
      rssMiB: { start: rssStart, min: Math.min(...rss), max: Math.max(...rss), end: rss[rss.length - 1] ?? 0 },
    };
  } finally {
    clearInterval(rssTimer);
    await pool.close();
    await adminPool.close();
    await stop(gw);
    await v1.stop();
    await v2.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.once('exit', killAllSync);
  const quick = process.argv.includes('--quick');
  runEndpointsBench(quick)
    .then((r) => {
      const f = (x: number) => x.toFixed(2);
      console.log(`10,000 distinct endpoints, ${CONCURRENCY} connections, ${r.rounds} rounds × ${r.phaseSeconds} s per phase (interleaved), medians:`);
      console.log(`  primary without verdict calls: ${r.quiet.rps.toFixed(0)} req/s, p50 ${f(r.quiet.p50)} ms, p99 ${f(r.quiet.p99)} ms`);
      console.log(`  primary with verdict calls every second: ${r.verdict.rps.toFixed(0)} req/s, p50 ${f(r.verdict.p50)} ms, p99 ${f(r.verdict.p99)} ms`);
      console.log(`  p99 ratio (with / without): ${f(r.p99Ratio)}`);
      console.log(`  API calls: ${r.verdictCalls} (verdict, endpoints, runs each second); p50 ${f(r.verdictCallMs.p50)} ms, max ${f(r.verdictCallMs.max)} ms`);
      console.log(`  largest answers: /api/verdict ${r.bytes.verdict} B, /api/endpoints ${r.bytes.endpoints} B, /api/runs ${r.bytes.runs} B`);
      console.log(`  the run keeps ${r.endpointsKept} endpoints (cap 1,000 + other); ${r.overflowed} exchanges went to "other"; ${r.compared} compared`);
      console.log(`  gateway RSS: ${f(r.rssMiB.start)} MiB at start, ${f(r.rssMiB.min)}–${f(r.rssMiB.max)} MiB under load, ${f(r.rssMiB.end)} MiB at the end`);
    })
    .catch(async (e: unknown) => {
      console.error(`bench failed: ${(e as Error).message}`);
      await stopAll();
      process.exitCode = 1;
    });
}
