// `--profile`: where a Shadowgate process spends its CPU, from V8's own sampling profiler (`node --cpu-prof`).
// Each sample is charged to the function on top of the stack; functions are grouped by who owns them, so the
// answer reads "Node's HTTP server and streams / undici / socket writes in the kernel / GC / Shadowgate".
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string } }>;
  samples: number[];
  timeDeltas: number[];
  /** µs on the machine's monotonic clock (process.hrtime's), shared by every process and thread. */
  startTime: number;
}

/** A stretch of the monotonic clock in µs (`process.hrtime.bigint() / 1000n`): only samples inside it count. */
export interface ProfileWindow {
  fromUs: number;
  toUs: number;
}

/** Calls `f(callFrame, µs)` for every sample of every profile in `dir`, within `window` when given. */
function eachSample(dir: string, window: ProfileWindow | undefined, f: (frame: { functionName: string; url: string }, us: number) => void): void {
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.cpuprofile')) continue;
    const p = JSON.parse(readFileSync(join(dir, name), 'utf8')) as CpuProfile;
    const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
    let t = p.startTime;
    p.samples.forEach((id, i) => {
      const dt = p.timeDeltas[i] ?? 0;
      t += dt;
      if (window && (t < window.fromUs || t > window.toUs)) return;
      const frame = byId.get(id);
      if (frame) f(frame, dt);
    });
  }
}

export interface ProfileShare {
  group: string;
  /** Share of the busy (not idle) time, 0..1. */
  share: number;
}

/** The owner of a function, by its script URL (native frames by name). */
function groupOf(functionName: string, url: string): string | undefined {
  if (functionName === '(idle)') return undefined;
  if (functionName === '(garbage collector)') return 'garbage collector';
  if (functionName === 'writev' || functionName === 'writeLatin1String' || functionName === 'writeUtf8String' || functionName === 'writeBuffer')
    return 'socket writes (syscalls, loopback TCP in the kernel)';
  if (url.includes('/node_modules/undici/') || url.includes('/wasm/')) return 'undici (HTTP client, llhttp)';
  if (url.includes('/node_modules/prom-client/')) return 'prom-client (shadowgate_* metrics)';
  if (url.includes('/node_modules/better-sqlite3/')) return 'better-sqlite3 (comparison store)';
  const src = /\/dist\/src\/([^/]+)\//.exec(url);
  if (src) return `Shadowgate: ${src[1]}`;
  if (url.startsWith('node:')) return 'Node.js (http server, streams, events, timers)';
  return 'other (V8 runtime, native)';
}

/** Sums every `.cpuprofile` in `dir` (one per process or thread) into shares of busy time, largest first. */
export function summarizeProfiles(dir: string, window?: ProfileWindow): ProfileShare[] {
  const totals = new Map<string, number>();
  let busy = 0;
  eachSample(dir, window, (frame, dt) => {
    const group = groupOf(frame.functionName, frame.url);
    if (!group) return;
    busy += dt;
    totals.set(group, (totals.get(group) ?? 0) + dt);
  });
  if (busy === 0) return [];
  return [...totals.entries()].map(([group, t]) => ({ group, share: t / busy })).sort((a, b) => b.share - a.share);
}

export function profileTable(rows: Array<{ scenario: string; shares: ProfileShare[] }>): string {
  const lines: string[] = [];
  for (const r of rows) {
    lines.push(`CPU profile of \`${r.scenario}\` (share of busy time, all threads):`, '', '| where | share |', '|---|--:|');
    for (const s of r.shares) if (s.share >= 0.005) lines.push(`| ${s.group} | ${(s.share * 100).toFixed(1)}% |`);
    lines.push('');
  }
  return lines.join('\n');
}

export interface FunctionShare {
  functionName: string;
  /** The owner group and the script's file:line, shortened. */
  where: string;
  /** Share of the busy (not idle) time, 0..1. */
  share: number;
}

/** Bottom-up by self time: the `limit` functions (name, file and line) that sample most often on top of the stack. */
export function topFunctions(dir: string, limit: number, window?: ProfileWindow): FunctionShare[] {
  const totals = new Map<string, FunctionShare>();
  let busy = 0;
  eachSample(dir, window, (frame, dt) => {
    if (frame.functionName === '(idle)') return;
    busy += dt;
    const file = frame.url.replace(/^.*\/(node_modules|dist)\//, '$1/').replace(/^file:\/\//, '');
    const line = (frame as { lineNumber?: number }).lineNumber;
    const where = `${groupOf(frame.functionName, frame.url) ?? ''}${file ? `: ${file}${line !== undefined && line >= 0 ? `:${line + 1}` : ''}` : ''}`;
    const key = `${frame.functionName}\u0000${where}`;
    const t = totals.get(key) ?? { functionName: frame.functionName, where, share: 0 };
    t.share += dt;
    totals.set(key, t);
  });
  if (busy === 0) return [];
  return [...totals.values()]
    .map((t) => ({ ...t, share: t.share / busy }))
    .sort((a, b) => b.share - a.share)
    .slice(0, limit);
}

/** Busy (not idle) time in µs summed over every profile in `dir`. */
export function busyMicros(dir: string, window?: ProfileWindow): number {
  let busy = 0;
  eachSample(dir, window, (frame, dt) => {
    if (frame.functionName !== '(idle)') busy += dt;
  });
  return busy;
}
