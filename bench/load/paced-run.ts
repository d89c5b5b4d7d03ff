// Runs one open-loop load (paced.ts) as its own process and returns its figures.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stop, track } from './procs.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

export interface PacedResult {
  rate: number;
  sent: number;
  completed: number;
  errors: number;
  lost: number;
  non2xx: number;
  achievedRps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

/** Seconds of load at the rate before the counted part (paced.ts: the generator's own warm-up). */
export const PACED_WARMUP_S = 2;

/**
 * `seconds` of counted load at `rate`, after PACED_WARMUP_S of the same; `onMeasuring` is called when the counted
 * part starts (where a caller starts its CPU reading). `timeline`: a file for every request's due time and latency
 * (paced.ts).
 */
export function runPaced(port: number, rate: number, seconds: number, onMeasuring?: () => void, timeline?: string): Promise<PacedResult> {
  const args = [join(HERE, 'paced.js'), String(port), String(Math.round(rate)), String(seconds), '64', String(PACED_WARMUP_S)];
  if (timeline) args.push(timeline);
  const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let measuring = false;
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    if (!measuring && out.includes('measuring\n')) {
      measuring = true;
      onMeasuring?.();
    }
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => {
        void stop(child, 1_000);
        reject(new Error(`paced load did not finish within ${seconds + PACED_WARMUP_S + 20} s`));
      },
      (seconds + PACED_WARMUP_S + 20) * 1_000,
    );
    child.once('exit', (code) => {
      clearTimeout(timer);
      try {
        if (code !== 0) throw new Error(`paced load exited ${code}`);
        resolve(JSON.parse(out.trim().split('\n').pop()!) as PacedResult);
      } catch (err) {
        reject(err);
      }
    });
  });
}
