// The load bench's results: per-scenario summaries, the ratios against the peers (with the issue's
// targets), a markdown table for stdout/README, and the JSON written to bench/results/latest.json.

import type { ShadowgateCounters } from './peers.js';
import type { ProfileShare } from './profile.js';
import type { Scenario } from './scenarios.js';

export interface RunResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
  /** Primary requests served during the run (the primary upstream's own count). */
  sampled: number;
  /** Copies the shadow upstream received in full during the run (and a short settle after it). */
  delivered: number | null;
  /** CPU seconds of the peer's process tree during the run. */
  cpuSeconds: number;
  rssMaxMiB: number;
  shadowgate?: ShadowgateCounters;
}

export interface ScenarioResult {
  scenario: Scenario;
  runs: RunResult[];
  median: { rps: number; p50Ms: number; p99Ms: number };
  fidelity: { sampled: number; delivered: number | null; ratio: number | null };
  /** Peer CPU per request (µs), over all runs. */
  cpuUsPerRequest: number;
  rssMaxMiB: number;
  shadowgate?: ShadowgateCounters;
  files: Record<string, number>;
  /** `--profile`: where the Shadowgate process tree spent its busy time. */
  profile?: ProfileShare[];
  error?: string;
}

export interface Ratio {
  name: string;
  value: number;
  target?: string;
  met?: boolean;
}

export interface MemoryResult {
  scenario: string;
  seconds: number;
  /** Before any load. */
  idleMiB: number;
  samplesMiB: number[];
  minMiB: number;
  maxMiB: number;
  /** max − min: the whole band, sawtooth included (what the target is checked against). */
  growthMiB: number;
  /** Median of the last quarter of the samples minus the first quarter's: a leak shows here. */
  driftMiB: number;
  rps: number;
  target: string;
  met: boolean;
}

/** A `--name N` option: its default when absent, else a positive number (a usage error otherwise). */
export function positiveOption(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
  return n;
}

export function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function ratios(results: ScenarioResult[]): Ratio[] {
  const by = new Map(results.filter((r) => !r.error).map((r) => [r.scenario.id, r]));
  const out: Ratio[] = [];
  const rps = (a: string, b: string, name: string, min?: number) => {
    const x = by.get(a);
    const y = by.get(b);
    if (!x || !y) return;
    const value = x.median.rps / y.median.rps;
    out.push({ name, value, ...(min !== undefined ? { target: `>= ${min}`, met: value >= min } : {}) });
  };
  const p99 = (a: string, b: string, name: string, max?: number) => {
    const x = by.get(a);
    const y = by.get(b);
    if (!x || !y) return;
    const value = x.median.p99Ms / y.median.p99Ms;
    out.push({ name, value, ...(max !== undefined ? { target: `<= ${max}`, met: value <= max } : {}) });
  };
  rps('shadowgate-healthy', 'nginx-mirror-healthy', 'req/s Shadowgate / nginx+mirror, healthy shadow', 1.5);
  rps('shadowgate-healthy', 'bare-healthy', 'req/s Shadowgate / bare Node mirror, healthy shadow', 1.2);
  rps('shadowgate-post', 'bare-post', 'req/s Shadowgate / bare Node mirror, POST 16 KiB');
  rps('shadowgate-post', 'nginx-mirror-post', 'req/s Shadowgate / nginx+mirror, POST 16 KiB');
  rps('shadowgate-healthy', 'nginx-proxy', 'req/s Shadowgate (mirroring) / nginx proxy_pass (no mirror)');
  rps('shadowgate-healthy', 'direct', 'req/s Shadowgate (mirroring) / direct to the upstream');
  // Shadowgate's default is one worker per core (two here): the same targets, at the default.
  rps('shadowgate-w2-healthy', 'nginx-mirror-healthy', 'req/s Shadowgate --workers 2 (its default here) / nginx+mirror, healthy shadow', 1.5);
  rps('shadowgate-w2-healthy', 'bare-healthy', 'req/s Shadowgate --workers 2 (its default here) / bare Node mirror, healthy shadow', 1.2);
  rps('shadowgate-w2-healthy', 'nginx-auto-mirror-healthy', 'req/s Shadowgate --workers 2 / nginx+mirror worker_processes auto');
  const cpu = (a: string, b: string, name: string) => {
    const x = by.get(a);
    const y = by.get(b);
    if (x && y) out.push({ name, value: x.cpuUsPerRequest / y.cpuUsPerRequest });
  };
  cpu('shadowgate-healthy', 'nginx-mirror-healthy', 'CPU per request Shadowgate / nginx+mirror, healthy shadow (lower is leaner)');
  cpu('shadowgate-healthy', 'bare-healthy', 'CPU per request Shadowgate / bare Node mirror, healthy shadow (lower is leaner)');
  for (const [peer, name] of [
    ['shadowgate', 'Shadowgate'],
    ['nginx-mirror', 'nginx+mirror'],
    ['bare', 'bare Node mirror'],
  ] as const) {
    const sg = peer === 'shadowgate';
    for (const bad of ['slow', 'hung', 'dead'] as const) {
      rps(`${peer}-${bad}`, `${peer}-healthy`, `req/s ${name}, ${bad} / healthy shadow`, sg ? 0.9 : undefined);
      p99(`${peer}-${bad}`, `${peer}-healthy`, `p99 ${name}, ${bad} / healthy shadow`, sg ? 1.2 : undefined);
    }
  }
  rps('shadowgate-compare', 'shadowgate-healthy', 'req/s Shadowgate comparison on / off', 0.9);
  rps('shadowgate-w2-healthy', 'shadowgate-healthy', 'req/s Shadowgate --workers 2 / --workers 1');
  rps('nginx-auto-mirror-healthy', 'nginx-mirror-healthy', 'req/s nginx+mirror worker_processes auto / 1');
  // Fidelity against Shadowgate's own count of sampled requests (read after the copies settled), so requests
  // still in flight when wrk stops count on both sides.
  for (const id of ['shadowgate-healthy', 'shadowgate-post', 'shadowgate-compare']) {
    const r = by.get(id);
    if (r?.shadowgate && r.fidelity.delivered !== null && r.shadowgate.sampled > 0) {
      const value = r.fidelity.delivered / r.shadowgate.sampled;
      out.push({ name: `delivered / shadowgate_shadows_sampled_total, \`${id}\``, value, target: '>= 0.999', met: value >= 0.999 });
    }
  }
  return out;
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '—');
const ms = (n: number) => (Number.isFinite(n) ? (n < 10 ? fmt(n, 2) : n < 100 ? fmt(n, 1) : fmt(n, 0)) : '—');

export function scenarioTable(results: ScenarioResult[]): string {
  const lines = ['| scenario | req/s | p50 ms | p99 ms | delivered / sampled | peer CPU µs/req | peer RSS max MiB |', '|---|--:|--:|--:|--:|--:|--:|'];
  for (const r of results) {
    if (r.error) {
      lines.push(`| ${r.scenario.label} (\`${r.scenario.id}\`) | failed: ${r.error.replace(/\|/g, '/').slice(0, 120)} | | | | | |`);
      continue;
    }
    const f = r.fidelity;
    const fidelity = f.delivered === null ? '—' : `${fmt(f.delivered)} / ${fmt(f.sampled)} (${fmt((f.ratio ?? 0) * 100, 1)}%)`;
    const non2xx = r.runs.reduce((a, x) => a + x.non2xx, 0);
    const sockErr = r.runs.reduce((a, x) => a + x.socketErrors, 0);
    const warn = non2xx || sockErr ? ` — ${fmt(non2xx)} non-2xx, ${fmt(sockErr)} socket errors` : '';
    lines.push(
      `| ${r.scenario.label} (\`${r.scenario.id}\`)${warn} | ${fmt(r.median.rps)} | ${ms(r.median.p50Ms)} | ${ms(r.median.p99Ms)} | ${fidelity} | ${fmt(r.cpuUsPerRequest, 0)} | ${fmt(r.rssMaxMiB, 0)} |`,
    );
  }
  return lines.join('\n');
}

export function shadowgateTable(results: ScenarioResult[]): string {
  const rows = results.filter((r) => r.shadowgate && !r.error);
  if (rows.length === 0) return '';
  const lines = ['| Shadowgate scenario | shadows sampled (metrics) | shadow answers | abandoned by reason | compare | files |', '|---|--:|--:|---|---|---|'];
  for (const r of rows) {
    const c = r.shadowgate!;
    const kv = (o: Record<string, number>) =>
      Object.entries(o)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(', ') || '—';
    const files = Object.entries(r.files)
      .map(([k, v]) => `${k} ${fmt(v / 1048576, 1)} MiB`)
      .join(', ');
    lines.push(`| \`${r.scenario.id}\` | ${fmt(c.sampled)} | ${fmt(c.answered)} | ${kv(c.abandoned)} | ${kv(c.compare)} | ${files || '—'} |`);
  }
  return lines.join('\n');
}

export function ratioTable(rs: Ratio[], memory: MemoryResult | undefined): string {
  const lines = ['| ratio (same run) | value | target | met |', '|---|--:|---|---|'];
  for (const r of rs) lines.push(`| ${r.name} | ${fmt(r.value, 2)} | ${r.target ?? ''} | ${r.met === undefined ? '' : r.met ? 'yes' : 'NO'} |`);
  if (memory)
    lines.push(
      `| RSS band (max − min, MiB) Shadowgate, hung shadow, ${memory.seconds} s at full load | ${fmt(memory.growthMiB, 1)} | ${memory.target} | ${memory.met ? 'yes' : 'NO'} |`,
      `| RSS drift (last quarter − first quarter, medians, MiB), same run | ${fmt(memory.driftMiB, 1)} |  |  |`,
    );
  return lines.join('\n');
}
