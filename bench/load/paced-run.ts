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

export function runPaced(port: number, rate: number, seconds: number): Promise<PacedResult> {
  const child = track(
    spawn(process.execPath, [join(HERE, 'paced.js'), String(port), String(Math.round(rate)), String(seconds), '64'], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => {
        void stop(child, 1_000);
        reject(new Error(`paced load did not finish within ${seconds + 20} s`));
      },
      (seconds + 20) * 1_000,
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
