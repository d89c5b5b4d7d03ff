// The load bench (issue 7): Shadowgate side by side with nginx (with and without `mirror`), a bare Node
// mirror and the upstream itself, in the same run, on loopback; ratios against the peers; JSON results.
//   node dist/bench/load/index.js [--quick] [--scenarios a,b] [--duration 10] [--runs 3]
// See bench/load/README.md.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  addCounters,
  diffCounters,
  fileSize,
  type Peer,
  ROOT,
  type ShadowgateCounters,
  shadowgateCounters,
  startBareMirror,
  startNginx,
  startShadowgate,
  startUpstream,
  type Upstream,
} from './peers.js';
import { freePort, killAllSync, stopAll, treeCpuSeconds, treeRssKiB } from './procs.js';
import { profileTable, summarizeProfiles } from './profile.js';
import {
  type MemoryResult,
  median,
  positiveOption,
  type RunResult,
  ratios,
  ratioTable,
  type ScenarioResult,
  scenarioTable,
  shadowgateTable,
} from './report.js';
import { allScenarios, type Scenario, selects } from './scenarios.js';
import { postScript, runWrk } from './wrk.js';

const USAGE = `Usage: node dist/bench/load/index.js [options]
  --quick                3 rounds of 3 s, 10 s memory run (about 5 minutes): a smoke run
  --scenarios a,b        only these scenario ids or prefixes (nginx, bare, shadowgate, memory, ...); --list shows them
  --duration S           seconds per wrk run (default 10, --quick 3)
  --runs N               runs per scenario (rounds), the median is reported (default 5, --quick 3)
  --warmup S             seconds of discarded load before each scenario's runs (default 3)
  --connections N        wrk -c (default 64)
  --threads N            wrk -t (default 1)
  --memory-seconds S     length of the RSS run against a hung shadow
  --out PATH             JSON results (default bench/results/latest.json)
  --no-install           do not apt-get install wrk/nginx when missing
  --keep-tmp             keep the temp dir (configs, logs)
  --profile              run Shadowgate under \`node --cpu-prof\` and print where its CPU goes (profiling
                         slows it: figures of a profiled run are not comparable with the others)
  --list                 print the scenarios and exit`;

const MEMORY_WARMUP_S = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => console.error(line);

interface Options {
  duration: number;
  runs: number;
  connections: number;
  threads: number;
  memorySeconds: number;
  filter: string[] | undefined;
  out: string;
  install: boolean;
  keepTmp: boolean;
  profile: boolean;
  /** Seconds of discarded load before each scenario's runs. */
  warmup: number;
  quick: boolean;
}

function options(argv: string[]): Options | 'help' | 'list' {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      scenarios: { type: 'string' },
      duration: { type: 'string' },
      runs: { type: 'string' },
      connections: { type: 'string' },
      threads: { type: 'string' },
      'memory-seconds': { type: 'string' },
      out: { type: 'string' },
      'no-install': { type: 'boolean', default: false },
      'keep-tmp': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      warmup: { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  if (values.list) return 'list';
  const num = positiveOption;
  const quick = values.quick;
  return {
    quick,
    duration: num('duration', values.duration, quick ? 3 : 10),
    runs: Math.round(num('runs', values.runs, quick ? 3 : 5)),
    connections: Math.round(num('connections', values.connections, 64)),
    threads: Math.round(num('threads', values.threads, 1)),
    memorySeconds: num('memory-seconds', values['memory-seconds'], quick ? 10 : 60),
    filter: values.scenarios
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    out: values.out ?? join(ROOT, 'bench', 'results', 'latest.json'),
    install: !values['no-install'],
    keepTmp: values['keep-tmp'],
    profile: values.profile,
    warmup: num('warmup', values.warmup, 3),
  };
}

// ---------------------------------------------------------------- setup

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { timeout: 5_000 }).status === 0;
}

function versionOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]!.trim();
}

/** Installs wrk and nginx from the distribution when missing (root only), bounded in time. */
function ensureTools(install: boolean): { wrk: string; nginx: string | null } {
  const missing = ['wrk', 'nginx'].filter((c) => !has(c));
  if (missing.length > 0) {
    if (!install) log(`setup: missing ${missing.join(', ')} (--no-install given)`);
    else if (process.getuid?.() !== 0) log(`setup: missing ${missing.join(', ')}; run as root or: sudo apt-get install -y wrk nginx`);
    else {
      log(`setup: installing ${missing.join(', ')}: apt-get update && apt-get install -y wrk nginx`);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      const up = spawnSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000, env });
      if (up.status !== 0) log(`setup: apt-get update failed (${up.status ?? up.signal})`);
      const inst = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'wrk', 'nginx'], {
        stdio: ['ignore', 'ignore', 'inherit'],
        timeout: 300_000,
        env,
      });
      if (inst.status !== 0) log(`setup: apt-get install failed (${inst.status ?? inst.signal})`);
    }
  }
  if (!has('wrk')) throw new Error('wrk is not installed (apt-get install -y wrk)');
  return { wrk: versionOf('wrk', ['--version']).replace(/\s+Copyright.*/, ''), nginx: has('nginx') ? versionOf('nginx', ['-v']) : null };
}

function machine() {
  let model = 'unknown';
  try {
    model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? model;
  } catch {
    // not Linux
  }
  return { nproc: availableParallelism(), model, node: process.version, kernel: release(), loadavgAtStart: loadavg().map((l) => Number(l.toFixed(2))) };
}

function shadowgateHasWorkers(): boolean {
  // Options are listed per command (`serve --help`); the top-level help lists only the commands.
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'shadowgate.js'), 'serve', '--help'], { encoding: 'utf8', timeout: 15_000 });
  return /--workers\b/.test(`${r.stdout}${r.stderr}`);
}

// ---------------------------------------------------------------- running

interface Upstreams {
  primary: Upstream;
  healthy: Upstream;
  slow: Upstream;
  hung: Upstream;
  deadPort: number;
}

function shadowPort(u: Upstreams, s: Scenario): number | undefined {
  switch (s.shadow) {
    case 'none':
      return undefined;
    case 'dead':
      return u.deadPort;
    default:
      return u[s.shadow].port;
  }
}

function shadowOf(u: Upstreams, s: Scenario): Upstream | undefined {
  return s.shadow === 'healthy' || s.shadow === 'slow' || s.shadow === 'hung' ? u[s.shadow] : undefined;
}

async function startPeer(s: Scenario, u: Upstreams, dir: string, profileDir: string | undefined): Promise<Peer> {
  const shadow = shadowPort(u, s);
  switch (s.peer) {
    case 'direct':
      return { port: u.primary.port, pid: u.primary.pid, files: {}, stop: async () => {} };
    case 'nginx':
    case 'nginx-auto':
      return startNginx({ dir, workers: s.peer === 'nginx' ? '1' : 'auto', primaryPort: u.primary.port, shadowPort: shadow });
    case 'bare':
      return startBareMirror(u.primary.port, shadow!);
    case 'shadowgate':
      return startShadowgate({ dir, primaryPort: u.primary.port, shadowPort: shadow, compare: s.compare === true, workers: s.workers, profileDir });
  }
}

/** Waits until the shadow's count stops moving (copies still on their way), at most 2 s. */
async function settle(shadow: Upstream | undefined): Promise<void> {
  if (!shadow) return;
  let last = await shadow.count();
  const deadline = Date.now() + 2_000;
  while (Date.now() < deadline) {
    await sleep(250);
    const n = await shadow.count();
    if (n === last) return;
    last = n;
  }
}

/** Samples the peer's resident size every second until `stop()`. */
function rssSampler(pid: number) {
  const samples: number[] = [treeRssKiB(pid) / 1024];
  const timer = setInterval(() => samples.push(treeRssKiB(pid) / 1024), 1_000);
  return {
    samples,
    stop() {
      clearInterval(timer);
      samples.push(treeRssKiB(pid) / 1024);
      return samples;
    },
  };
}

async function measureRun(peer: Peer, s: Scenario, u: Upstreams, o: Options, seconds: number, script: string | undefined): Promise<RunResult> {
  const shadow = shadowOf(u, s);
  const p0 = await u.primary.count();
  const d0 = shadow ? await shadow.count() : 0;
  const sg0 = peer.adminPort !== undefined ? await shadowgateCounters(peer.adminPort) : undefined;
  const cpu0 = treeCpuSeconds(peer.pid);
  const rss = rssSampler(peer.pid);
  let w: Awaited<ReturnType<typeof runWrk>>;
  try {
    w = await runWrk({ port: peer.port, seconds, connections: o.connections, threads: o.threads, ...(script ? { script } : {}) });
  } finally {
    rss.stop();
  }
  const cpu1 = treeCpuSeconds(peer.pid);
  // Sampled: primary requests served while wrk ran (a peer may still forward a request wrk has given up on).
  const p1 = await u.primary.count();
  await settle(shadow);
  const d1 = shadow ? await shadow.count() : 0;
  const run: RunResult = {
    rps: w.rps,
    p50Ms: w.p50Ms,
    p99Ms: w.p99Ms,
    requests: w.requests,
    non2xx: w.non2xx,
    socketErrors: w.socketErrors,
    sampled: p1 - p0,
    delivered: s.shadow === 'none' ? null : d1 - d0,
    cpuSeconds: Math.max(0, cpu1 - cpu0),
    rssMaxMiB: Math.max(...rss.samples),
  };
  if (sg0 && peer.adminPort !== undefined) run.shadowgate = diffCounters(await shadowgateCounters(peer.adminPort), sg0);
  return run;
}

function summarize(s: Scenario, runs: RunResult[], files: Record<string, number>): ScenarioResult {
  const sampled = runs.reduce((a, r) => a + r.sampled, 0);
  const delivered = s.shadow === 'none' ? null : runs.reduce((a, r) => a + (r.delivered ?? 0), 0);
  const requests = runs.reduce((a, r) => a + r.requests, 0);
  const cpu = runs.reduce((a, r) => a + r.cpuSeconds, 0);
  const sg = runs.every((r) => r.shadowgate)
    ? runs.reduce<ShadowgateCounters>((a, r) => addCounters(a, r.shadowgate!), { sampled: 0, answered: 0, abandoned: {}, compare: {} })
    : undefined;
  return {
    scenario: s,
    runs,
    median: { rps: median(runs.map((r) => r.rps)), p50Ms: median(runs.map((r) => r.p50Ms)), p99Ms: median(runs.map((r) => r.p99Ms)) },
    fidelity: { sampled, delivered, ratio: delivered === null || sampled === 0 ? null : delivered / sampled },
    cpuUsPerRequest: requests > 0 ? (cpu * 1e6) / requests : Number.NaN,
    rssMaxMiB: Math.max(...runs.map((r) => r.rssMaxMiB)),
    ...(sg ? { shadowgate: sg } : {}),
    files,
  };
}

/** A scenario's peer, kept running across the rounds. */
interface LiveScenario {
  s: Scenario;
  peer: Peer | undefined;
  dir: string;
  profileDir: string | undefined;
  runs: RunResult[];
  /** Bytes each file reached, summed over the runs (files are emptied after each run). */
  files: Record<string, number>;
  error?: string;
}

/** Starts a scenario's peer and warms it up. */
async function openScenario(s: Scenario, u: Upstreams, o: Options, tmp: string, script: string): Promise<LiveScenario> {
  const dir = join(tmp, s.id);
  mkdirSync(dir, { recursive: true });
  const profileDir = o.profile && s.peer === 'shadowgate' ? join(tmp, `${s.id}-profile`) : undefined;
  const live: LiveScenario = { s, peer: undefined, dir, profileDir, runs: [], files: {} };
  live.peer = await startPeer(s, u, dir, profileDir);
  // A discarded warm-up at the same load: Node peers (the bare mirror, Shadowgate) run their first seconds
  // in V8's interpreter, and the first run's p99 would measure the JIT, not the proxy.
  await runWrk({ port: live.peer.port, seconds: o.warmup, connections: o.connections, threads: o.threads, ...(s.method === 'POST' ? { script } : {}) });
  await settle(shadowOf(u, s));
  emptyFiles(live);
  return live;
}

/** Adds what the peer wrote to disk to the scenario's totals and empties the files (logs are opened to append). */
function emptyFiles(live: LiveScenario, count = false): void {
  for (const [k, path] of Object.entries(live.peer?.files ?? {})) {
    if (k === 'store') continue; // a SQLite file is not truncated under its writer; its size is read at the end
    if (count) live.files[k] = (live.files[k] ?? 0) + fileSize(path);
    try {
      truncateSync(path, 0);
    } catch {
      // not written yet
    }
  }
}

async function closeScenario(live: LiveScenario): Promise<ScenarioResult> {
  if (live.peer) {
    await live.peer.stop();
    emptyFiles(live, true);
    if (live.peer.files.store) live.files.store = fileSize(live.peer.files.store);
  }
  // Logs and stores can be large (an access log line per request): drop them once measured.
  rmSync(live.dir, { recursive: true, force: true });
  const profile = live.profileDir ? summarizeProfiles(live.profileDir) : undefined;
  if (live.error && live.runs.length === 0) return failedResult(live.s, live.error);
  const result = summarize(live.s, live.runs, live.files);
  return { ...result, ...(profile ? { profile } : {}), ...(live.error ? { error: live.error } : {}) };
}

function failedResult(s: Scenario, error: string): ScenarioResult {
  return {
    scenario: s,
    runs: [],
    median: { rps: Number.NaN, p50Ms: Number.NaN, p99Ms: Number.NaN },
    fidelity: { sampled: 0, delivered: null, ratio: null },
    cpuUsPerRequest: Number.NaN,
    rssMaxMiB: Number.NaN,
    files: {},
    error: error.split('\n')[0]!,
  };
}

/**
 * Every scenario's runs, interleaved: round 1 runs each scenario once, round 2 again (in reverse order), and
 * so on. A shared machine's speed drifts over minutes; interleaved, every scenario's median is drawn from the
 * same stretches of time, so ratios between scenarios compare like with like.
 */
async function runInterleaved(scenarios: Scenario[], u: Upstreams, o: Options, tmp: string, script: string): Promise<ScenarioResult[]> {
  const live = new Map<string, LiveScenario>();
  try {
    for (let round = 0; round < o.runs; round++) {
      const order = round % 2 === 0 ? scenarios : [...scenarios].reverse();
      log(`round ${round + 1}/${o.runs}`);
      for (const s of order) {
        let l = live.get(s.id);
        if (!l) {
          try {
            l = await openScenario(s, u, o, tmp, script);
          } catch (err) {
            l = { s, peer: undefined, dir: join(tmp, s.id), profileDir: undefined, runs: [], files: {}, error: (err as Error).message };
            log(`  ${s.id}: failed to start: ${l.error}`);
          }
          live.set(s.id, l);
        }
        if (!l.peer || l.error) continue;
        try {
          const r = await measureRun(l.peer, s, u, o, o.duration, s.method === 'POST' ? script : undefined);
          emptyFiles(l, true);
          l.runs.push(r);
          log(
            `  ${s.id.padEnd(27)} ${r.rps.toFixed(0).padStart(7)} req/s, p99 ${r.p99Ms.toFixed(2)} ms` +
              (r.delivered !== null ? `, delivered ${r.delivered}/${r.sampled}` : '') +
              (r.non2xx || r.socketErrors ? `, non-2xx ${r.non2xx}, socket errors ${r.socketErrors}` : ''),
          );
        } catch (err) {
          l.error = (err as Error).message;
          log(`  ${s.id}: failed: ${l.error}`);
        }
      }
    }
  } finally {
    for (const l of live.values()) await l.peer?.stop().catch(() => {});
  }
  const results: ScenarioResult[] = [];
  for (const s of scenarios) {
    const l = live.get(s.id);
    results.push(l ? await closeScenario(l) : failedResult(s, 'not run'));
  }
  return results;
}

async function memoryRun(u: Upstreams, o: Options, tmp: string, workers: boolean): Promise<MemoryResult> {
  const dir = join(tmp, 'memory');
  const peer = await startShadowgate({ dir, primaryPort: u.primary.port, shadowPort: u.hung.port, compare: false, workers: workers ? 1 : undefined });
  try {
    // Idle size, then a short warm-up at the same load (JIT, heap sizing, pools, the in-flight bound
    // filling up) before the sampled run: the target is about growth under load, not start-up.
    const idleMiB = Number((treeRssKiB(peer.pid) / 1024).toFixed(1));
    await runWrk({ port: peer.port, seconds: MEMORY_WARMUP_S, connections: o.connections, threads: o.threads });
    const rss = rssSampler(peer.pid);
    let w: Awaited<ReturnType<typeof runWrk>>;
    try {
      w = await runWrk({ port: peer.port, seconds: o.memorySeconds, connections: o.connections, threads: o.threads });
    } finally {
      rss.stop();
    }
    const samples = rss.samples.map((x) => Number(x.toFixed(1)));
    const minMiB = Math.min(...samples);
    const maxMiB = Math.max(...samples);
    // Growth, not the garbage collector's sawtooth: the median of the last quarter against the first's.
    const q = Math.max(1, Math.floor(samples.length / 4));
    const driftMiB = Number((median(samples.slice(-q)) - median(samples.slice(0, q))).toFixed(1));
    return {
      scenario: `Shadowgate, hung shadow, full load (wrk), RSS of the gateway process tree every second after a ${MEMORY_WARMUP_S} s warm-up`,
      seconds: o.memorySeconds,
      idleMiB,
      samplesMiB: samples,
      minMiB,
      maxMiB,
      growthMiB: maxMiB - minMiB,
      driftMiB,
      rps: w.rps,
      target: '<= 50',
      met: maxMiB - minMiB <= 50,
    };
  } finally {
    await peer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What the peers wrote to disk (nginx's error log, Shadowgate's access log and store), deleted after measuring. */
function filesLine(results: ScenarioResult[]): string {
  const parts = results.flatMap((r) =>
    Object.entries(r.files)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${r.scenario.id} ${k} ${(v / 1048576).toFixed(v < 1048576 ? 2 : 1)} MiB`),
  );
  return parts.length ? `written during the runs (deleted afterwards): ${parts.join('; ')}` : '';
}

async function main(): Promise<number> {
  let o: Options | 'help' | 'list';
  try {
    o = options(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (o === 'help') {
    console.log(USAGE);
    return 0;
  }
  const workers = shadowgateHasWorkers();
  if (o === 'list') {
    for (const s of allScenarios(workers)) console.log(`${s.id.padEnd(28)} ${s.label}`);
    console.log(`${'memory'.padEnd(28)} RSS of Shadowgate over a full-load run against a hung shadow`);
    return 0;
  }
  const opts = o;
  const started = new Date();
  const tools = ensureTools(opts.install);
  const m = machine();
  let scenarios = allScenarios(workers).filter((s) => selects(opts.filter, s.id));
  if (!tools.nginx) {
    log('setup: nginx is not installed: the nginx rows are skipped');
    scenarios = scenarios.filter((s) => s.peer !== 'nginx' && s.peer !== 'nginx-auto');
  }
  const withMemory = selects(opts.filter, 'memory');
  const estimate = scenarios.length * (opts.runs * (opts.duration + 0.6) + opts.warmup + 2) + (withMemory ? opts.memorySeconds + MEMORY_WARMUP_S + 4 : 0) + 5;
  const header = [
    `Shadowgate load bench, ${started.toISOString()}`,
    `machine: ${m.nproc} CPUs (${m.model}), Linux ${m.kernel}, Node ${m.node}, load average ${m.loadavgAtStart.join(' ')}`,
    `tools: ${tools.wrk}; ${tools.nginx ?? 'nginx missing'}; shadowgate --workers: ${workers ? 'yes (its rows pin --workers 1, plus a --workers 2 row)' : 'no'}`,
    `load: wrk -t${opts.threads} -c${opts.connections} -d${opts.duration}s --latency, ${opts.runs} runs per scenario, interleaved in rounds (median); ${scenarios.length} scenarios${withMemory ? ` + ${opts.memorySeconds} s memory run` : ''}; about ${Math.ceil(estimate / 60)} min`,
  ];
  for (const line of header) log(line);

  const tmp = mkdtempSync(join(tmpdir(), 'shadowgate-bench-'));
  // Bounded in time: a stuck step ends the bench (everything started is stopped) instead of hanging.
  const watchdog = setTimeout(
    () => {
      log(`load bench: still running after ${Math.round((estimate * 1.5 + 120) / 60)} min; stopping`);
      void shutdown(1);
    },
    (estimate * 1.5 + 120) * 1_000,
  );
  watchdog.unref();
  const cleanup = async () => {
    await stopAll();
    if (!opts.keepTmp) rmSync(tmp, { recursive: true, force: true });
  };
  let shuttingDown = false;
  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    await cleanup();
    process.exit(code);
  };
  process.once('SIGINT', () => {
    log('\nload bench: interrupted; stopping everything it started');
    void shutdown(130);
  });
  process.once('SIGTERM', () => void shutdown(143));

  const results: ScenarioResult[] = [];
  let memory: MemoryResult | undefined;
  try {
    const primary = await startUpstream('primary', 'ok');
    const healthy = await startUpstream('shadow-healthy', 'ok');
    const slow = await startUpstream('shadow-slow', 'slow', 200);
    const hung = await startUpstream('shadow-hung', 'hung');
    const u: Upstreams = { primary, healthy, slow, hung, deadPort: await freePort() };
    log(`upstreams: primary :${primary.port}, shadows healthy :${healthy.port}, slow :${slow.port}, hung :${hung.port}, dead :${u.deadPort} (closed)`);
    const script = postScript(tmp);
    results.push(...(await runInterleaved(scenarios, u, opts, tmp, script)));
    if (withMemory) {
      log(`[memory] Shadowgate against a hung shadow, ${opts.memorySeconds} s, RSS every second`);
      try {
        memory = await memoryRun(u, opts, tmp, workers);
        log(`  RSS ${memory.minMiB} .. ${memory.maxMiB} MiB (growth ${memory.growthMiB.toFixed(1)} MiB) at ${memory.rps.toFixed(0)} req/s`);
      } catch (err) {
        log(`  failed: ${(err as Error).message}`);
      }
    }
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }

  const rs = ratios(results);
  const finished = new Date();
  const out = [
    '',
    ...header.slice(0, 3),
    `load: wrk -t${opts.threads} -c${opts.connections} -d${opts.duration}s --latency, ${opts.runs} runs per scenario interleaved in rounds, medians, after a ${opts.warmup} s warm-up; upstreams and peers are separate processes on 127.0.0.1`,
    '',
    scenarioTable(results),
    '',
    ratioTable(rs, memory),
    '',
    shadowgateTable(results),
    '',
    filesLine(results),
    ...(opts.profile ? ['', profileTable(results.filter((r) => r.profile).map((r) => ({ scenario: r.scenario.id, shares: r.profile! })))] : []),
    `finished ${finished.toISOString()} (${((finished.getTime() - started.getTime()) / 60_000).toFixed(1)} min), load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  ];
  console.log(out.join('\n'));

  const json = {
    date: started.toISOString(),
    finished: finished.toISOString(),
    machine: { ...m, loadavgAtEnd: loadavg().map((l) => Number(l.toFixed(2))) },
    tools: { ...tools, shadowgateWorkers: workers },
    options: {
      quick: opts.quick,
      profile: opts.profile,
      warmup: opts.warmup,
      duration: opts.duration,
      runs: opts.runs,
      connections: opts.connections,
      threads: opts.threads,
      memorySeconds: opts.memorySeconds,
      scenarios: opts.filter ?? 'all',
    },
    scenarios: results.map((r) => ({
      id: r.scenario.id,
      label: r.scenario.label,
      peer: r.scenario.peer,
      shadow: r.scenario.shadow,
      method: r.scenario.method,
      ...(r.scenario.workers !== undefined ? { workers: r.scenario.workers } : {}),
      ...(r.scenario.compare ? { compare: true } : {}),
      median: r.median,
      fidelity: r.fidelity,
      cpuUsPerRequest: r.cpuUsPerRequest,
      rssMaxMiB: r.rssMaxMiB,
      ...(r.shadowgate ? { shadowgate: r.shadowgate } : {}),
      fileBytes: r.files,
      runs: r.runs,
      ...(r.profile ? { profile: r.profile } : {}),
      ...(r.error ? { error: r.error } : {}),
    })),
    ratios: rs,
    ...(memory ? { memory } : {}),
  };
  mkdirSync(join(opts.out, '..'), { recursive: true });
  writeFileSync(
    opts.out,
    `${JSON.stringify(json, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : typeof v === 'number' ? Number(v.toFixed(3)) : v), 2)}\n`,
  );
  log(`results: ${opts.out}`);
  return results.some((r) => r.error) ? 1 : 0;
}

process.on('exit', killAllSync);
main().then(
  (code) => {
    process.exitCode = code;
  },
  async (err) => {
    console.error(`load bench: ${(err as Error)?.stack ?? err}`);
    await stopAll();
    process.exitCode = 1;
  },
);
