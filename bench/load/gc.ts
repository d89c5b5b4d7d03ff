// Garbage per mirrored request: Shadowgate (--workers 1, default settings) under `node --trace-gc-nvp`, this
// checkout and optionally a --baseline checkout alternately, each loaded with wrk -t1 -c32 for a fixed time.
// V8 prints one line per GC; summed over the measured run and divided by the requests the primary received,
// they give the young bytes alive at each scavenge (what the requests in flight hold: the steadiest figure), bytes
// promoted to the old generation and scavenges per request. The last two also move with V8's young-generation
// sizing, which grows under load (a run that grew it early shows a third of the scavenges): read them as medians.
//
//   node dist/bench/load/gc.js [--runs 3] [--duration 6] [--baseline DIR]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, shadowgateYaml, startUpstream } from './peers.js';
import { freePort, stop, stopAll, track, waitHttp } from './procs.js';
import { median, positiveOption } from './report.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    duration: { type: 'string' },
    baseline: { type: 'string' },
  },
});
const runs = Math.round(positiveOption('runs', values.runs, 3));
const duration = positiveOption('duration', values.duration, 6);
const roots: Record<string, string> = { 'this checkout': ROOT };
if (values.baseline) roots.baseline = values.baseline;

interface Sample {
  requests: number;
  promotedPerRequest: number;
  scavengesPer10k: number;
  survivedPerScavenge: number;
  scavengePauseUsPerRequest: number;
}

/** Sums the `--trace-gc-nvp` lines (`gc=s` scavenge, `gc=mc`/`mmc` mark-compact) of one run. */
function summarise(nvp: string, requests: number): Sample {
  let promoted = 0;
  let scavenges = 0;
  let survived = 0;
  let pauseMs = 0;
  const field = (line: string, name: string) => Number(new RegExp(`(?:^| )${name}=([\\d.]+)`).exec(line)?.[1] ?? 0);
  for (const line of nvp.split('\n')) {
    const gc = /(?:^| )gc=(\w+)/.exec(line)?.[1];
    if (!gc) continue;
    if (gc !== 's') continue;
    scavenges++;
    promoted += field(line, 'promoted');
    survived += field(line, 'new_space_survived');
    pauseMs += field(line, 'pause');
  }
  return {
    requests,
    promotedPerRequest: promoted / requests,
    scavengesPer10k: (scavenges * 10_000) / requests,
    survivedPerScavenge: scavenges ? survived / scavenges : 0,
    scavengePauseUsPerRequest: (pauseMs * 1000) / requests,
  };
}

async function measure(root: string, primary: { port: number; count(): Promise<number> }, shadowPort: number): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'shadowgate-gc-'));
  const port = await freePort();
  const admin = await freePort();
  writeFileSync(join(dir, 'bench.yaml'), shadowgateYaml(port, primary.port, shadowPort));
  const args = ['--trace-gc-nvp', join(root, 'bin', 'shadowgate.js'), 'serve', '-f', join(dir, 'bench.yaml'), '--bind', '127.0.0.1'];
  args.push('--admin', `127.0.0.1:${admin}`, '--access-log', join(dir, 'access.log'), '--store', join(dir, 'compare.db'), '--workers', '1');
  const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString('latin1');
  });
  try {
    await waitHttp(admin, '/ready', 20_000, 'shadowgate admin', child);
    const wrk = (seconds: number) => spawnSync('wrk', ['-t1', '-c32', `-d${seconds}s`, '-H', 'Host: bench', `http://127.0.0.1:${port}/`], { stdio: 'ignore' });
    wrk(3); // warm-up: V8 starts in its interpreter
    const from = out.length;
    const before = await primary.count();
    wrk(duration);
    const requests = (await primary.count()) - before;
    return summarise(out.slice(from), requests);
  } finally {
    await stop(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

const primary = await startUpstream('primary', 'ok');
const shadow = await startUpstream('shadow', 'ok');
const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(roots).map((k) => [k, []]));
try {
  for (let r = 0; r < runs; r++) {
    const order = Object.keys(roots);
    if (r % 2) order.reverse();
    for (const name of order) {
      const s = await measure(roots[name]!, primary, shadow.port);
      samples[name]!.push(s);
      process.stderr.write(`round ${r + 1}/${runs} ${name}: ${JSON.stringify(s)}\n`);
    }
  }
} finally {
  await stopAll();
}
const keys: Array<[keyof Sample, string, number]> = [
  ['survivedPerScavenge', 'young bytes alive per scavenge', 0],
  ['promotedPerRequest', 'bytes promoted per request', 0],
  ['scavengesPer10k', 'scavenges per 10,000 requests', 1],
  ['scavengePauseUsPerRequest', 'scavenge pause µs per request', 2],
];
console.log(`| medians of ${runs} runs, wrk -t1 -c32 ${duration} s | ${Object.keys(roots).join(' | ')} |`);
console.log(
  `|---|${Object.keys(roots)
    .map(() => '--:')
    .join('|')}|`,
);
for (const [k, label, d] of keys) {
  const cells = Object.keys(roots).map((name) => {
    const xs = samples[name]!.map((s) => s[k]);
    return `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)})`;
  });
  console.log(`| ${label} | ${cells.join(' | ')} |`);
}
