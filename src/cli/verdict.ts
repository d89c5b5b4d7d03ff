// `shadowgate verdict`: PASS, FAIL or INCONCLUSIVE for a pipeline to gate on, from a running gateway or a store file.
import type { EndpointReport, Run, VerdictReport } from '../compare/index.js';
import { ask, type CompareSource, parse } from './compare-source.js';

/** Exit codes, documented in the README: a pipeline promotes on 0 and rolls back on 1. */
export const VERDICT_EXIT = { PASS: 0, FAIL: 1, INCONCLUSIVE: 3, UNAVAILABLE: 4 } as const;

export interface VerdictOptions extends CompareSource {
  /** One run (`r12`); default: the latest run of each candidate. */
  run?: string | undefined;
  /** Every run open within this many milliseconds. */
  sinceMs?: number | undefined;
  output: 'text' | 'json';
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const ms = (x: number) => `${x < 10 ? x.toFixed(1) : Math.round(x)}ms`;

export function side(s: Run['candidate']): string {
  return s.subset ? `${s.host}/${s.subset}` : s.host;
}

export function formatVerdict(v: VerdictReport, endpoints: Map<string, EndpointReport[]>): string {
  const lines = [`VERDICT: ${v.result} (${v.runs.length} run(s))`];
  for (const r of v.reasons) lines.push(`  ${r}`);
  for (const { run, result, reasons } of v.runs) {
    lines.push('');
    lines.push(
      `${result.padEnd(12)} run ${run.id} ${run.route}: candidate ${side(run.candidate)} vs primary ${side(run.primary)}, ` +
        `${run.compared} compared, since ${run.startedAt}${run.endedAt ? ` until ${run.endedAt}` : ''} (${run.reason}${run.note ? `: ${run.note}` : ''})`,
    );
    for (const r of reasons) lines.push(`  - ${r}`);
    for (const e of (endpoints.get(run.id) ?? []).slice(0, 20)) {
      lines.push(
        `  ${e.verdict.padEnd(12)} ${e.endpoint}: compared ${e.compared}, real differences ${pct(e.diffInterval.low)}–${pct(e.diffInterval.high)}` +
          `${e.noiseRate === null ? ' (no noise baseline)' : ''}; errors ${pct(e.primaryErrorRate)} -> ${pct(e.candidateErrorRate)}; ` +
          `p99 ${ms(e.primaryLatency.p99)} -> ${ms(e.candidateLatency.p99)}`,
      );
      for (const r of e.reasons) lines.push(`      ${r}`);
    }
  }
  return lines.join('\n');
}

export async function runVerdict(opts: VerdictOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let v: VerdictReport;
  const endpoints = new Map<string, EndpointReport[]>();
  try {
    v = parse<VerdictReport>(
      await ask(opts, {
        kind: 'verdict',
        ...(opts.run === undefined ? {} : { run: opts.run }),
        ...(opts.sinceMs === undefined ? {} : { sinceMs: opts.sinceMs }),
      }),
    );
    if (opts.output === 'text') {
      for (const { run } of v.runs)
        endpoints.set(run.id, parse<{ endpoints: EndpointReport[] }>(await ask(opts, { kind: 'endpoints', run: run.id })).endpoints);
    }
  } catch (e) {
    err(`shadowgate: cannot get a verdict from ${opts.admin ? `the gateway at ${opts.admin}` : opts.store}: ${(e as Error).message}`);
    return VERDICT_EXIT.UNAVAILABLE;
  }
  out(opts.output === 'json' ? JSON.stringify(v, null, 2) : formatVerdict(v, endpoints));
  return VERDICT_EXIT[v.result];
}
