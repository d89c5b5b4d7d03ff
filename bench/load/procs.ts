// Every process the load bench starts goes through here, so each one is stopped by its PID at the end,
// on errors and on Ctrl-C; and /proc readers for resident size and CPU time of a process tree.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const started = new Set<ChildProcess>();

/** Starts a process and records it for `stopAll`. stdout/stderr are piped (callers may read them). */
export function track<T extends ChildProcess>(child: T): T {
  started.add(child);
  child.once('exit', () => started.delete(child));
  // An unread pipe that fills up would block the child: always drain.
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

export function start(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  return track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts }));
}

/** PIDs of the children of `pid` (all threads' children), from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) for (const c of text.split(/\s+/)) out.push(Number(c));
    }
  } catch {
    // gone
  }
  return out;
}

/** `pid` and all its descendants. */
export function processTree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...childrenOf(all[i]!));
  return all;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM (or `sig`) to the process, then SIGKILL to it and any descendant still alive after `graceMs`. */
export async function stop(child: ChildProcess, graceMs = 3_000, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const tree = processTree(pid);
  if (child.exitCode === null && child.signalCode === null) signal(pid, sig);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && tree.some(alive)) await sleep(25);
  for (const p of processTree(pid).concat(tree)) if (alive(p)) signal(p, 'SIGKILL');
  started.delete(child);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...started].map((c) => stop(c)));
}

/** Last resort (process 'exit'): synchronous SIGKILL to whatever is still recorded, descendants first. */
export function killAllSync(): void {
  for (const c of started) {
    if (c.pid === undefined) continue;
    for (const p of processTree(c.pid).reverse()) signal(p, 'SIGKILL');
  }
  started.clear();
}

/** Resident size in KiB of one process (VmRSS), 0 when it is gone. */
export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Resident size in KiB of a process and its descendants (nginx workers, gateway workers). */
export function treeRssKiB(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + rssKiB(p), 0);
}

const TICKS = 100; // USER_HZ on Linux

/** CPU seconds (user + system) used so far by a process and its live descendants. */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15 of stat)
    } catch {
      // gone
    }
  }
  return ticks / TICKS;
}

/** The whole machine's CPU time so far (/proc/stat, all CPUs): busy (everything but idle and iowait) and total. */
export function machineCpu(): { busy: number; total: number } {
  const ticks = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - ticks[3]! - ticks[4]!, total };
}

/** The share of the machine's CPU (0..1, all CPUs) that was busy between two machineCpu() readings. */
export function busyShare(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  return b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : Number.NaN;
}

/**
 * A free loopback port for a listener whose port must be written in a config (nginx, Shadowgate's
 * ServiceEntry). Chosen below Linux's ephemeral range, so a port-0 socket elsewhere does not take it.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const srv = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise<void>((resolve) => srv.close(() => resolve()));
      return port;
    }
  }
}

/** Resolves once `port` on 127.0.0.1 answers `path` with 200 (or any status when `anyStatus`), or throws after `timeoutMs`. */
export async function waitHttp(port: number, path: string, timeoutMs: number, what: string, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null))
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(50);
  }
  throw new Error(`${what} not ready on 127.0.0.1:${port}${path} after ${timeoutMs} ms (${last})`);
}

/** Collects a child's stderr (bounded) to explain a failure. */
export function stderrTail(child: ChildProcess, max = 4_000): () => string {
  let text = '';
  child.stderr?.on('data', (d: Buffer) => {
    text = (text + d.toString()).slice(-max);
  });
  return () => text;
}
