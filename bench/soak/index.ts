// The soak bench (issue 15): `shadowgate serve` for a long stretch at a fixed request rate, every request mirrored
// to a shadow that never answers, slow clients dribbling requests and reading slowly, and the config reloaded every
// 10 s (a file rewrite picked up by the watch, every other one followed by SIGHUP). Reports failed primary
// requests (expected: zero), the gateway's RSS band and its open file descriptors.
//   node dist/bench/soak/index.js [--duration 10m] [--rate 200] [--workers 1] [--slow-clients 20] [--out PATH]
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { parseDurationMs } from '../../src/config/index.js';
import { mirrorServiceYaml } from '../../test/harness/service-yaml.js';
import { ROOT } from '../load/peers.js';
import { freePort, killAllSync, processTree, stop, track, treeRssKiB } from '../load/procs.js';

const USAGE = `Usage: node dist/bench/soak/index.js [options]
  --duration D        how long to run (default 10m; e.g. 60s)
  --rate N            primary requests per second, open loop (default 200)
  --workers N         gateway worker processes (default 1)
  --slow-clients N    connections dribbling a request a byte at a time or reading a 1 MiB answer slowly (default 20)
  --reload-every D    config reload period (default 10s)
  --out PATH          JSON results (default bench/results/soak.json)`;

const log = (line: string) => console.error(line);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Options {
  durationMs: number;
  rate: number;
  workers: number;
  slowClients: number;
  reloadEveryMs: number;
  out: string;
}

function options(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '10m' },
      rate: { type: 'string', default: '200' },
      workers: { type: 'string', default: '1' },
      'slow-clients': { type: 'string', default: '20' },
      'reload-every': { type: 'string', default: '10s' },
      out: { type: 'string', default: join(ROOT, 'bench', 'results', 'soak.json') },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const ms = (flag: string, text: string) => {
    const v = /^\d+$/.test(text) ? Number(text) * 1000 : parseDurationMs(text);
    if (v === undefined || v <= 0) throw new Error(`${flag} must be a duration like 60s or 10m, not "${text}"`);
    return v;
  };
  const n = (flag: string, text: string, min: number) => {
    const v = Number(text);
    if (!Number.isInteger(v) || v < min) throw new Error(`${flag} must be a whole number of at least ${min}, not "${text}"`);
    return v;
  };
  return {
    durationMs: ms('--duration', values.duration),
    rate: n('--rate', values.rate, 1),
    workers: n('--workers', values.workers, 1),
    slowClients: n('--slow-clients', values['slow-clients'], 0),
    reloadEveryMs: ms('--reload-every', values['reload-every']),
    out: values.out,
  };
}

const BIG = Buffer.alloc(1024 * 1024, 'x');

/** The primary: answers at once ("ok", or 1 MiB on /big). The shadow: accepts every request and never answers. */
async function upstreams(): Promise<{ primary: number; shadow: number; close(): Promise<void> }> {
  const primary = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(req.url === '/big' ? BIG : 'ok'));
  });
  const shadow = http.createServer((req) => req.resume());
  const servers = [primary, shadow];
  for (const s of servers) {
    s.keepAliveTimeout = 60_000;
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
  }
  return {
    primary: (primary.address() as AddressInfo).port,
    shadow: (shadow.address() as AddressInfo).port,
    async close() {
      for (const s of servers) {
        s.closeAllConnections();
        s.close();
      }
    },
  };
}

function config(port: number, primary: number, shadow: number, generation: number): string {
  return mirrorServiceYaml({
    host: 'app',
    port,
    protocol: 'HTTP',
    primary,
    candidate: shadow,
    mirrorPercent: 100,
    routeExtra: `    headers:
      request:
        set: {x-soak-generation: "${generation}"}
`,
  });
}

/** Open files of the gateway's processes (/proc/PID/fd), summed. */
function fdCount(pid: number): number {
  let n = 0;
  for (const p of processTree(pid)) {
    try {
      n += readdirSync(`/proc/${p}/fd`).length;
    } catch {
      // gone
    }
  }
  return n;
}

interface Band {
  min: number;
  max: number;
  first: number;
  last: number;
}
const band = (xs: number[]): Band => ({ min: Math.min(...xs), max: Math.max(...xs), first: xs[0] ?? 0, last: xs[xs.length - 1] ?? 0 });

/** A connection that sends its request head a byte every 200 ms, then waits for the answer, then starts over. */
function dribbler(port: number, stopped: () => boolean, stats: { completed: number; failed: number }): void {
  const head = Buffer.from('GET / HTTP/1.1\r\nhost: app\r\nconnection: close\r\n\r\n');
  const once_ = () => {
    if (stopped()) return;
    const s: Socket = connect(port, '127.0.0.1');
    let i = 0;
    let got = '';
    const timer = setInterval(() => {
      if (i < head.length && s.writable) s.write(head.subarray(i, ++i));
    }, 200);
    s.on('data', (c: Buffer) => (got += c.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => {
      clearInterval(timer);
      if (/^HTTP\/1\.1 200/.test(got)) stats.completed++;
      else if (!stopped()) stats.failed++;
      setTimeout(once_, 100);
    });
  };
  once_();
}

/** A connection that asks for 1 MiB and reads it 16 KiB a second. */
function slowReader(port: number, stopped: () => boolean, stats: { completed: number; failed: number }): void {
  const once_ = () => {
    if (stopped()) return;
    const s: Socket = connect(port, '127.0.0.1');
    let bytes = 0;
    s.write('GET /big HTTP/1.1\r\nhost: app\r\nconnection: close\r\n\r\n');
    s.pause();
    const timer = setInterval(() => {
      const c = s.read(16 * 1024) ?? s.read();
      if (c) bytes += c.length;
    }, 1000);
    s.on('error', () => {});
    s.on('end', () => {});
    s.on('close', () => {
      clearInterval(timer);
      if (bytes >= BIG.length) stats.completed++;
      // Cut by the end of the run (the gateway drains): not a failure.
      else if (!stopped()) stats.failed++;
      setTimeout(once_, 100);
    });
    // Reading only through read(): 'end' needs the stream drained, so read the rest when the peer is done.
    s.on('readable', () => {});
  };
  once_();
}

async function metric(admin: number, name: string, labels = ''): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${admin}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name && (m[2] ?? '').includes(labels)) sum += Number(m[3]);
  }
  return sum;
}

async function main(): Promise<number> {
  const o = options(process.argv.slice(2));
  if (o === 'help') {
    console.log(USAGE);
    return 0;
  }
  const dir = mkdtempSync(join(tmpdir(), 'shadowgate-soak-'));
  const up = await upstreams();
  const port = await freePort();
  const file = join(dir, 'app.yaml');
  let generation = 0;
  writeFileSync(file, config(port, up.primary, up.shadow, generation));
  const args = [join(ROOT, 'bin', 'shadowgate.js'), 'serve', '-f', file, '--bind', '127.0.0.1', '--admin', '127.0.0.1:0'];
  args.push('--access-log', 'off', '--store', 'off', '--workers', String(o.workers), '--shadow-timeout', '5s');
  const child: ChildProcess = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir }));
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const ready = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line: ${stderr}`)), 30_000);
    child.stderr!.on('data', () => {
      const line = stderr.split('\n').find((l) => /ready: listening/.test(l));
      if (line) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once('exit', (code) => reject(new Error(`shadowgate exited (${code}): ${stderr}`)));
  });
  const admin = Number(/admin http:\/\/127\.0\.0\.1:(\d+)/.exec(ready)![1]);
  const pid = child.pid!;
  log(`soak: ${o.durationMs / 1000} s at ${o.rate} req/s, ${o.workers} worker(s), ${o.slowClients} slow clients, reload every ${o.reloadEveryMs / 1000} s`);

  const agent = new Agent({ connections: 64, keepAliveTimeout: 30_000 });
  const primary = { sent: 0, ok: 0, failed: 0, reasons: new Map<string, number>() };
  const slow = { completed: 0, failed: 0 };
  let stopped = false;
  const inFlight = new Set<Promise<void>>();
  const fire = () => {
    primary.sent++;
    const p = request(`http://127.0.0.1:${port}/`, { headers: { host: 'app' }, dispatcher: agent, headersTimeout: 10_000, bodyTimeout: 10_000 })
      .then(async (res) => {
        await res.body.text();
        if (res.statusCode === 200) primary.ok++;
        else throw new Error(`status ${res.statusCode}`);
      })
      .catch((err: Error) => {
        primary.failed++;
        const reason = err.message.slice(0, 80);
        primary.reasons.set(reason, (primary.reasons.get(reason) ?? 0) + 1);
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  for (let i = 0; i < o.slowClients; i++) (i % 2 === 0 ? dribbler : slowReader)(port, () => stopped, slow);

  const started = Date.now();
  const rss: number[] = [];
  const fds: number[] = [];
  const reloads: Array<{ at: number; how: string }> = [];
  let lastSample = 0;
  let lastReload = started;
  while (Date.now() - started < o.durationMs) {
    const now = Date.now();
    // Open loop: as many requests as the elapsed time asks for, whatever the answers do.
    const due = Math.floor(((now - started) / 1000) * o.rate);
    while (primary.sent < due) fire();
    if (now - lastSample >= 1000) {
      lastSample = now;
      rss.push(treeRssKiB(pid));
      fds.push(fdCount(pid));
      if (rss.length % 30 === 0) {
        log(
          `soak: ${Math.round((now - started) / 1000)} s: ${primary.ok} ok, ${primary.failed} failed, RSS ${Math.round(rss.at(-1)! / 1024)} MiB, ${fds.at(-1)} fds`,
        );
      }
    }
    if (now - lastReload >= o.reloadEveryMs) {
      lastReload = now;
      generation++;
      writeFileSync(file, config(port, up.primary, up.shadow, generation));
      const how = generation % 2 === 0 ? 'file write + SIGHUP' : 'file write (watch)';
      if (generation % 2 === 0) process.kill(pid, 'SIGHUP');
      reloads.push({ at: Math.round((now - started) / 1000), how });
    }
    await sleep(5);
  }
  stopped = true;
  await Promise.all([...inFlight]);
  // The last reload has had time to settle (500 ms) and load.
  await sleep(1500);
  const counters = {
    reloads_applied: await metric(admin, 'shadowgate_config_reloads_total', 'result="applied"'),
    reloads_unchanged: await metric(admin, 'shadowgate_config_reloads_total', 'result="unchanged"'),
    reloads_rejected: await metric(admin, 'shadowgate_config_reloads_total', 'result="rejected"'),
    last_reload_success: await metric(admin, 'shadowgate_config_last_reload_success'),
    shadows_sampled: await metric(admin, 'shadowgate_shadows_sampled_total'),
    shadows_abandoned: await metric(admin, 'shadowgate_shadow_abandoned_total'),
  };
  await stop(child, 15_000);
  await agent.close();
  await up.close();
  rmSync(dir, { recursive: true, force: true });

  const steady = (xs: number[]) => xs.slice(Math.min(30, Math.floor(xs.length / 4)));
  const result = {
    at: new Date().toISOString(),
    node: process.version,
    options: o,
    primary: { sent: primary.sent, ok: primary.ok, failed: primary.failed, reasons: Object.fromEntries(primary.reasons) },
    slow_clients: slow,
    reloads: { made: reloads.length, ...counters },
    rss_kib: { all: band(rss), after_warmup: band(steady(rss)), per_second: rss },
    fds: { all: band(fds), after_warmup: band(steady(fds)), per_second: fds },
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(result, null, 2)}\n`);
  const mib = (k: number) => (k / 1024).toFixed(1);
  console.log(`soak: ${o.durationMs / 1000} s at ${o.rate} req/s, ${o.workers} worker(s), hung shadow, ${o.slowClients} slow clients`);
  console.log(`  primary requests: ${primary.sent} sent, ${primary.ok} ok, ${primary.failed} failed`);
  for (const [r, n] of primary.reasons) console.log(`    ${n} × ${r}`);
  console.log(`  slow clients: ${slow.completed} exchanges completed, ${slow.failed} cut`);
  console.log(
    `  reloads: ${reloads.length} made; gateway counted ${counters.reloads_applied} applied (incl. start), ${counters.reloads_unchanged} unchanged, ${counters.reloads_rejected} rejected`,
  );
  console.log(`  shadows: ${counters.shadows_sampled} sampled, ${counters.shadows_abandoned} abandoned (the shadow never answers)`);
  const r = result.rss_kib.after_warmup;
  const f = result.fds.after_warmup;
  console.log(
    `  RSS (gateway processes) after warm-up: ${mib(r.min)}–${mib(r.max)} MiB (first ${mib(r.first)}, last ${mib(r.last)}); whole run ${mib(result.rss_kib.all.min)}–${mib(result.rss_kib.all.max)} MiB`,
  );
  console.log(`  open fds after warm-up: ${f.min}–${f.max} (first ${f.first}, last ${f.last})`);
  console.log(`  results: ${o.out}`);
  return primary.failed === 0 && counters.reloads_rejected === 0 ? 0 : 1;
}

process.on('exit', killAllSync);
process.on('SIGINT', () => process.exit(130));
main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`soak: ${(err as Error).message}`);
    process.exit(1);
  },
);
