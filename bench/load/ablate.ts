// Where Shadowgate's CPU per mirrored request goes, by switching its features off one at a time: each variant is
// Shadowgate `--workers 1` with one change, loaded at the same fixed (open-loop) rate as the bare Node mirror, in
// interleaved rounds. The differences between rows are what each feature costs per request on this machine.
//   node dist/bench/load/ablate.js [--runs 3] [--paced 8] [--rate R] [--only a,b]
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runPaced } from './paced-run.js';
import { emptyLog, type Peer, startBareMirror, startShadowgate, startUpstream } from './peers.js';
import { killAllSync, stopAll, treeCpuSeconds } from './procs.js';
import { median, positiveOption } from './report.js';
import { runWrk } from './wrk.js';

interface Variant {
  id: string;
  label: string;
  /** undefined: the bare mirror. */
  args?: string[];
  compare?: boolean;
}

const VARIANTS: Variant[] = [
  { id: 'bare', label: 'bare Node mirror' },
  { id: 'default', label: 'Shadowgate, default settings', args: [], compare: true },
  { id: 'nolog', label: '… --access-log off', args: ['--access-log', 'off'], compare: true },
  { id: 'lognull', label: '… --access-log /dev/null (every line made, no file written)', args: ['--access-log', '/dev/null'], compare: true },
  { id: 'nocompare', label: '… --store off (no comparison)', args: [], compare: false },
  { id: 'minimal', label: '… --access-log off --store off', args: ['--access-log', 'off'], compare: false },
];

const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    paced: { type: 'string' },
    rate: { type: 'string' },
    only: { type: 'string' },
  },
});
const runs = Math.round(positiveOption('runs', values.runs, 3));
const seconds = positiveOption('paced', values.paced, 8);
const only = values.only ? new Set(['bare', ...values.only.split(',')]) : undefined;
const variants = VARIANTS.filter((v) => !only || only.has(v.id));

process.on('SIGINT', () => {
  killAllSync();
  process.exit(130);
});

const dir = mkdtempSync(join(tmpdir(), 'shadowgate-ablate-'));
const primary = await startUpstream('primary', 'ok');
const shadow = await startUpstream('shadow', 'ok');
const peers = new Map<string, Peer>();
const cpu = new Map<string, number[]>();
try {
  for (const v of variants) {
    const peer = v.args
      ? await startShadowgate({
          dir: join(dir, v.id),
          primaryPort: primary.port,
          shadowPort: shadow.port,
          compare: v.compare ?? true,
          workers: 1,
          extraArgs: v.args,
        })
      : await startBareMirror(primary.port, shadow.port);
    peers.set(v.id, peer);
    cpu.set(v.id, []);
    await runWrk({ port: peer.port, seconds: 3, connections: 64, threads: 1 }); // warm-up
  }
  let rate = values.rate === undefined ? 0 : positiveOption('rate', values.rate, 0);
  if (!rate) {
    const w = await runWrk({ port: peers.get('bare')!.port, seconds: 4, connections: 64, threads: 1 });
    rate = Math.round(w.rps / 2);
  }
  console.error(`fixed rate ${rate} req/s, ${seconds} s per run, ${runs} rounds`);
  for (let r = 0; r < runs; r++) {
    const order = r % 2 ? [...variants].reverse() : variants;
    for (const v of order) {
      const peer = peers.get(v.id)!;
      let c0 = 0;
      const p = await runPaced(peer.port, rate, seconds, () => {
        c0 = treeCpuSeconds(peer.pid);
      });
      const us = ((treeCpuSeconds(peer.pid) - c0) * 1e6) / Math.max(1, p.completed);
      cpu.get(v.id)!.push(us);
      emptyLog(peer);
      console.error(`round ${r + 1} ${v.id}: ${us.toFixed(1)} µs/req, p50 ${p.p50Ms.toFixed(2)} ms, load ${loadavg()[0]!.toFixed(2)}`);
    }
  }
  const bare = median(cpu.get('bare')!);
  console.log(`| variant (fixed rate ${rate} req/s, ${runs} rounds × ${seconds} s) | CPU µs/req (median) | rounds | × bare |`);
  console.log('|---|--:|--:|--:|');
  for (const v of variants) {
    const xs = cpu.get(v.id)!;
    console.log(`| ${v.label} | ${median(xs).toFixed(1)} | ${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)} | ${(median(xs) / bare).toFixed(2)}× |`);
  }
} finally {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}
