// Runs wrk (bounded in time, tracked for cleanup) and reads its --latency report.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { start, stop } from './procs.js';

export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
  raw: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

function durationMs(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text ?? '');
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : Number.NaN;
}

export function parseWrk(raw: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(raw)?.[1] ?? Number.NaN);
  const requests = Number(/(\d+) requests in/.exec(raw)?.[1] ?? 0);
  const p50Ms = durationMs(/^\s+50%\s+(\S+)/m.exec(raw)?.[1]);
  const p99Ms = durationMs(/^\s+99%\s+(\S+)/m.exec(raw)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(raw)?.[1] ?? 0);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(raw);
  const socketErrors = se ? se.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return { rps, p50Ms, p99Ms, requests, non2xx, socketErrors, raw };
}

/** Writes the POST 16 KiB Lua script into `dir` and returns its path. */
export function postScript(dir: string, bytes = 16 * 1024): string {
  const path = join(dir, 'post-16k.lua');
  writeFileSync(path, `wrk.method = "POST"\nwrk.body = string.rep("x", ${bytes})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`);
  return path;
}

export interface WrkOptions {
  port: number;
  seconds: number;
  connections: number;
  threads: number;
  script?: string;
}

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, '--latency', '--timeout', '5s'];
  if (o.script) args.push('-s', o.script);
  args.push(`http://127.0.0.1:${o.port}/`);
  const child = start('wrk', args);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const limitMs = o.seconds * 1_000 + 15_000;
  const code = await new Promise<number | string>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), limitMs);
    child.once('exit', (c, s) => {
      clearTimeout(timer);
      resolve(c ?? s ?? -1);
    });
  });
  if (code === 'timeout') {
    await stop(child, 1_000, 'SIGINT');
    throw new Error(`wrk did not finish within ${limitMs} ms`);
  }
  const r = parseWrk(out);
  if (code !== 0 || !Number.isFinite(r.rps)) throw new Error(`wrk failed (${code}): ${err.trim() || out.trim()}`);
  return r;
}
