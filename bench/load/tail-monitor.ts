// Loaded into every process of a tail.ts run (NODE_OPTIONS=--import, so into worker threads too): records when
// this thread's event loop did not turn for longer than GAP_MS and every GC pause longer than GC_MS, stamped in
// epoch ms, so that tail.ts can line them up with the load generator's slow requests across processes.
// Written as JSON lines to $SHADOWGATE_TAIL_DIR/<pid>-<threadId>.jsonl, every half second and at exit.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { type PerformanceEntry, PerformanceObserver, performance } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';

const GAP_MS = 8;
const GC_MS = 2;
/** How often the loop is expected to turn: a 2 ms timer (500 wake-ups a second, a cost every process shares). */
const TICK_MS = 2;

const dir = process.env.SHADOWGATE_TAIL_DIR;
if (dir) {
  const file = join(dir, `${process.pid}-${threadId}.jsonl`);
  const lines: string[] = [];
  const origin = performance.timeOrigin;
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last > GAP_MS) lines.push(JSON.stringify({ kind: 'gap', at: origin + last, ms: now - last }));
    last = now;
  }, TICK_MS).unref();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.duration <= GC_MS) continue;
      // perf_hooks' GC kinds: 1 minor (scavenge), 4 major (mark-compact), 8 incremental marking step, 16 weak callbacks.
      const gc = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0;
      const kind = gc === 1 ? 'gc minor' : gc === 4 ? 'gc major' : gc === 8 ? 'gc incremental' : `gc ${gc}`;
      lines.push(JSON.stringify({ kind, at: origin + e.startTime, ms: e.duration }));
    }
  }).observe({ entryTypes: ['gc'] });
  const flush = () => {
    if (lines.length === 0) return;
    appendFileSync(file, `${lines.join('\n')}\n`);
    lines.length = 0;
  };
  setInterval(flush, 500).unref();
  process.on('exit', flush);
}
