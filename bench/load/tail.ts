// Where a fixed-rate run's slowest requests come from. Every process of the run (the load generator, both
// upstreams, the peer and its worker threads) records its own event-loop gaps and GC pauses (tail-monitor.ts);
// the generator records every request's due time and latency (paced.ts); the slowest 1% of each run is then
// put in windows of --window ms and each window is charged to what was recorded in it:
//   - every process paused: gaps in two or more processes besides the peer at once (nothing in them runs long:
//     they were not given a core — on 2 cores, another process's burst, such as a GC's parallel threads, does that);
//   - the peer's event loop paused: a loop gap or a GC pause on a main thread of the peer (its worker threads,
//     the comparison's, pause without holding a request up);
//   - another thread paused: a gap or GC in a worker thread of the peer or in one other process (the generator's
//     own pause is charged to the peer it measures, as paced.ts counts from due times);
//   - nothing recorded: no gap over 8 ms and no GC over 2 ms anywhere — the peer was slower than the rate for a
//     while (a queue), in steps too short to record.
//   node dist/bench/load/tail.js [--peers bare,1,2] [--runs 3] [--seconds 10] [--rate R] [--window 100] [--lts] [--out FILE]
// Peers: `bare` (the bare Node mirror), `N` (Shadowgate --workers N, default settings as the targets bench); `--lts`
// runs them on the current LTS (lts.ts) instead of the machine's Node (the generator and upstreams stay on it).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ltsRuntime } from './lts.js';
import { runPaced } from './paced-run.js';
import { emptyLog, type NodeRuntime, type Peer, ROOT, startBareMirror, startShadowgate, startUpstream } from './peers.js';
import { killAllSync, processTree, stopAll } from './procs.js';
import { positiveOption } from './report.js';
import { runWrk } from './wrk.js';

/** Events this long before a window can still have delayed its requests (a stall queues what comes after it). */
const LOOKBACK_MS = 50;

const { values } = parseArgs({
  options: {
    peers: { type: 'string' },
    runs: { type: 'string' },
    seconds: { type: 'string' },
    rate: { type: 'string' },
    window: { type: 'string' },
    lts: { type: 'boolean' },
    out: { type: 'string' },
  },
});
const peerIds = (values.peers ?? 'bare,1').split(',');
for (const id of peerIds) if (id !== 'bare' && !/^[1-9]\d?$/.test(id)) throw new Error(`--peers: "${id}" is neither bare nor a worker count`);
const runs = Math.round(positiveOption('runs', values.runs, 3));
const seconds = positiveOption('seconds', values.seconds, 10);
const windowMs = positiveOption('window', values.window, 100);

interface Pause {
  kind: string;
  at: number;
  ms: number;
  /** Which process and thread: "peer", "peer thread 1", "generator", "primary", … */
  who: string;
}

type Cause = 'every process paused' | "the peer's event loop paused" | 'another thread paused' | 'nothing recorded';
const CAUSES: Cause[] = ['every process paused', "the peer's event loop paused", 'another thread paused', 'nothing recorded'];

interface RunSummary {
  peer: string;
  run: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** Requests at or over the run's p99, by what their window is charged to. */
  tail: Record<Cause, number>;
  /** … of which in windows where a main thread of the peer had a GC pause as well. */
  tailWithPeerGc: number;
  worst: { atS: number; maxMs: number; slow: number; pauses: string[] }[];
}

process.on('SIGINT', () => {
  killAllSync();
  process.exit(130);
});

const dir = mkdtempSync(join(tmpdir(), 'shadowgate-tail-'));
const monitorDir = join(dir, 'monitor');
mkdirSync(monitorDir);
// Every process started from here on loads the monitor (the peers and the generator take the bench's environment).
const monitor = pathToFileURL(fileURLToPath(new URL('./tail-monitor.js', import.meta.url))).href;
process.env.SHADOWGATE_TAIL_DIR = monitorDir;
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${monitor}`.trim();
// The LTS's own NODE_OPTIONS (its better-sqlite3 build) replace the bench's for its peers: the monitor goes in both.
const lts = values.lts ? ltsRuntime(ROOT, (line) => console.error(line)) : undefined;
const node: NodeRuntime | undefined = lts && { ...lts, env: { ...lts.env, NODE_OPTIONS: `${lts.env?.NODE_OPTIONS ?? ''} --import ${monitor}`.trim() } };

const label = (id: string) => (id === 'bare' ? 'bare Node mirror' : `Shadowgate --workers ${id}`);
const summaries: RunSummary[] = [];
try {
  const primary = await startUpstream('primary', 'ok');
  const shadow = await startUpstream('shadow', 'ok');
  const owner = new Map<number, string>([
    [primary.pid, 'primary'],
    [shadow.pid, 'shadow'],
  ]);
  const peers = new Map<string, Peer>();
  for (const id of peerIds) {
    const peer =
      id === 'bare'
        ? await startBareMirror(primary.port, shadow.port, node)
        : await startShadowgate({ dir: join(dir, `sg${id}`), primaryPort: primary.port, shadowPort: shadow.port, compare: true, workers: Number(id), node });
    peers.set(id, peer);
    await runWrk({ port: peer.port, seconds: 3, connections: 64, threads: 1 }); // warm-up
    for (const pid of processTree(peer.pid)) owner.set(pid, `peer ${id}`);
  }
  let rate = values.rate === undefined ? 0 : positiveOption('rate', values.rate, 0);
  if (!rate) {
    const bare = peers.get('bare');
    if (!bare) throw new Error('--rate is needed when the bare mirror is not among --peers (its half maximum is the default)');
    rate = Math.round((await runWrk({ port: bare.port, seconds: 4, connections: 64, threads: 1 })).rps / 2);
  }
  console.log(
    `${lts ? `Node ${lts.version}` : `Node ${process.version}`}; fixed rate ${rate} req/s, ${seconds} s per run, ${runs} rounds, windows of ${windowMs} ms; the slowest 1% of each run:`,
  );
  for (let r = 0; r < runs; r++) {
    for (const id of r % 2 ? [...peerIds].reverse() : peerIds) {
      const peer = peers.get(id)!;
      emptyLog(peer);
      const file = join(dir, `timeline-${id}-${r}.bin`);
      const result = await runPaced(peer.port, rate, seconds, undefined, file);
      const s = summarise(id, r, readTimeline(file), readPauses(monitorDir, owner), result);
      summaries.push(s);
      console.log(formatRun(s));
    }
  }
  console.log('\nall runs, the slowest 1% by cause:');
  for (const id of peerIds) {
    const mine = summaries.filter((s) => s.peer === id);
    const total = mine.reduce((n, s) => n + CAUSES.reduce((m, c) => m + s.tail[c], 0), 0);
    const share = (c: Cause) =>
      `${c} ${pct(
        mine.reduce((n, s) => n + s.tail[c], 0),
        total,
      )}`;
    console.log(`  ${label(id)}: ${CAUSES.map(share).join(', ')}`);
  }
  if (values.out) writeFileSync(values.out, `${JSON.stringify({ rate, seconds, windowMs, runs: summaries }, null, 2)}\n`);
} finally {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}

/** paced.ts's timeline: float64 pairs (due time in epoch ms, latency in ms). */
function readTimeline(file: string): Float64Array {
  const b = readFileSync(file);
  // A copy: a small file's Buffer may sit in Node's pool at an offset a Float64Array cannot start at.
  return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Every pause recorded so far, named by owner (a pid the bench did not start is the load generator). */
function readPauses(from: string, owner: Map<number, string>): Pause[] {
  const pauses: Pause[] = [];
  for (const f of readdirSync(from)) {
    const m = /^(\d+)-(\d+)\.jsonl$/.exec(f);
    if (!m) continue;
    const who = (owner.get(Number(m[1])) ?? 'generator') + (m[2] === '0' ? '' : ` thread ${m[2]}`);
    for (const line of readFileSync(join(from, f), 'utf8').split('\n')) if (line) pauses.push({ ...(JSON.parse(line) as Omit<Pause, 'who'>), who });
  }
  return pauses;
}

function summarise(id: string, run: number, timeline: Float64Array, all: Pause[], result: { p50Ms: number; p99Ms: number; p999Ms: number }): RunSummary {
  const n = timeline.length / 2;
  const peerName = `peer ${id}`;
  // Requests are in the order they completed: the first due is not necessarily the first one.
  let start = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) start = Math.min(start, timeline[2 * i]!);
  const windows = new Map<number, { slow: number; max: number }>();
  for (let i = 0; i < n; i++) {
    const latency = timeline[2 * i + 1]!;
    if (latency < result.p99Ms) continue;
    const w = Math.floor((timeline[2 * i]! - start) / windowMs);
    const x = windows.get(w) ?? { slow: 0, max: 0 };
    x.slow++;
    x.max = Math.max(x.max, latency);
    windows.set(w, x);
  }
  const end = start + (Math.max(...windows.keys(), 0) + 1) * windowMs;
  // Only this run's pauses, and none from peers idle during it.
  const processOf = (p: Pause) => p.who.split(' thread')[0]!;
  const pauses = all.filter((p) => p.at + p.ms >= start - LOOKBACK_MS && p.at <= end && (!p.who.startsWith('peer ') || processOf(p) === peerName));
  const tail = Object.fromEntries(CAUSES.map((c) => [c, 0])) as Record<Cause, number>;
  let tailWithPeerGc = 0;
  const charged: { w: number; slow: number; max: number; pauses: Pause[] }[] = [];
  for (const [w, x] of windows) {
    const a = start + w * windowMs;
    const inWindow = pauses.filter((p) => p.at + p.ms >= a - LOOKBACK_MS && p.at <= a + windowMs);
    const others = new Set(inWindow.filter((p) => p.kind === 'gap' && processOf(p) !== peerName).map(processOf));
    const inPeer = inWindow.filter((p) => p.who === peerName);
    const cause: Cause =
      others.size >= 2
        ? 'every process paused'
        : inPeer.length
          ? "the peer's event loop paused"
          : inWindow.length
            ? 'another thread paused'
            : 'nothing recorded';
    tail[cause] += x.slow;
    if (inPeer.some((p) => p.kind.startsWith('gc'))) tailWithPeerGc += x.slow;
    charged.push({ w, ...x, pauses: inWindow });
  }
  const worst = charged
    .sort((p, q) => q.max - p.max)
    .slice(0, 3)
    .map((c) => ({
      atS: (c.w * windowMs) / 1000,
      maxMs: c.max,
      slow: c.slow,
      pauses: c.pauses.map((p) => `${p.who.replace(peerName, 'peer')} ${p.kind} ${p.ms.toFixed(0)} ms at ${(p.at - start - c.w * windowMs).toFixed(0)}`),
    }));
  return { peer: id, run, p50Ms: result.p50Ms, p99Ms: result.p99Ms, p999Ms: result.p999Ms, tail, tailWithPeerGc, worst };
}

function pct(part: number, whole: number): string {
  return whole ? `${Math.round((part / whole) * 100)}%` : '-';
}

function formatRun(s: RunSummary): string {
  const total = CAUSES.reduce((m, c) => m + s.tail[c], 0);
  const lines = [
    `${label(s.peer)}, round ${s.run + 1}: p50 ${s.p50Ms.toFixed(2)} ms, p99 ${s.p99Ms.toFixed(2)} ms, p99.9 ${s.p999Ms.toFixed(2)} ms; ` +
      `${CAUSES.map((c) => `${c} ${pct(s.tail[c], total)}`).join(', ')} (with a GC in the peer: ${pct(s.tailWithPeerGc, total)})`,
  ];
  for (const w of s.worst)
    lines.push(`    at ${w.atS.toFixed(1)} s: ${w.slow} slow, up to ${w.maxMs.toFixed(1)} ms; ${w.pauses.join('; ') || 'nothing recorded'}`);
  return lines.join('\n');
}
