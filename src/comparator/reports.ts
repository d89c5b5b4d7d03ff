// Store rows and the verdict turned into the admin API's shapes (docs/admin-api.md). Runs in the worker thread.
// From the module, not compare's index: the serving thread loads this too (comparator/index), and must not load the
// gRPC decoding (@bufbuild/protobuf) that only the comparison thread uses.
import { analyze, analyzeEndpoint } from '../compare/analyze.js';
import type { EndpointReport, EndpointVerdict, FieldReport, Result, Run, Thresholds, Verdict, VerdictReport } from '../compare/index.js';
import type { CompareStore, RunRow, StoredEndpoint } from '../store/index.js';

export function runId(row: RunRow): string {
  return `r${row.id}`;
}

/** `r12` → 12; undefined for anything else. */
export function parseRunId(id: string): number | undefined {
  const m = /^r([1-9]\d{0,15})$/.exec(id);
  return m ? Number(m[1]) : undefined;
}

function side(host: string, subset: string | null, fingerprint: string): Run['candidate'] {
  return subset === null ? { host, fingerprint } : { host, subset, fingerprint };
}

export function runOf(row: RunRow, verdict: Verdict): Run {
  const run: Run = {
    id: runId(row),
    route: row.route,
    candidate: side(row.candidate_host, row.candidate_subset, row.candidate_fp),
    primary: side(row.primary_host, row.primary_subset, row.primary_fp),
    startedAt: new Date(row.started_at).toISOString(),
    endedAt: row.ended_at === null ? null : new Date(row.ended_at).toISOString(),
    reason: row.reason,
    compared: row.compared,
    verdict: verdict.result,
    reasons: verdict.reasons,
  };
  if (row.note !== null) run.note = row.note;
  return run;
}

export interface Judged {
  run: Run;
  verdict: Verdict;
  endpoints: StoredEndpoint[];
}

/**
 * Judged runs kept for a second, so a UI polling /api/runs, /api/verdict and /api/endpoints every second reads
 * a run of 1,000 endpoints once, not three times. An entry is used only while this worker has written fewer
 * results since than 1% of what the run had compared (and never for a run that has few): a verdict is never
 * behind by more than a second and a rounding error of its data.
 */
export class JudgeCache {
  private readonly entries = new Map<number, { at: number; written: number; judged: Judged; thresholds: Thresholds }>();
  /** Results this worker has written (the caller counts). */
  written = 0;

  constructor(private readonly ttlMs = 1_000) {}

  judge(store: CompareStore, row: RunRow, t: Thresholds): Judged {
    const now = performance.now();
    const hit = this.entries.get(row.id);
    // An ended run takes no more results: its judgment holds until the thresholds change.
    if (hit && hit.thresholds === t && row.ended_at !== null && hit.judged.run.endedAt !== null) return hit.judged;
    if (hit && hit.thresholds === t && now - hit.at < this.ttlMs && this.written - hit.written < Math.floor(hit.judged.run.compared / 100)) {
      return hit.judged;
    }
    const judged = judgeRun(store, row, t);
    if (this.entries.size > 256) this.entries.clear();
    this.entries.set(row.id, { at: now, written: this.written, judged, thresholds: t });
    return judged;
  }

  /** Runs started or ended: their rows changed. */
  clear(): void {
    this.entries.clear();
  }
}

export function judgeRun(store: CompareStore, row: RunRow, t: Thresholds): Judged {
  const endpoints = store.endpoints(row.id);
  const verdict = analyze(endpoints, t);
  return { run: runOf(row, verdict), verdict, endpoints };
}

/**
 * The overall result over runs: FAIL if any run fails; PASS only when every judged run passes; INCONCLUSIVE
 * otherwise (nothing to judge included).
 */
export function overall(runs: readonly { run: Run; result: Result; reasons: string[] }[]): VerdictReport {
  const reasons: string[] = [];
  let result: Result;
  const failing = runs.filter((r) => r.result === 'FAIL');
  if (runs.length === 0) {
    result = 'INCONCLUSIVE';
    reasons.push('no run to judge: no route mirrors to a candidate yet, or nothing was compared');
  } else if (failing.length > 0) {
    result = 'FAIL';
    for (const r of failing) reasons.push(`run ${r.run.id} (${r.run.route}, candidate ${label(r.run.candidate)}): ${r.reasons[0] ?? 'FAIL'}`);
  } else if (runs.every((r) => r.result === 'PASS')) {
    result = 'PASS';
    reasons.push(`${runs.length} run(s) pass`);
  } else {
    result = 'INCONCLUSIVE';
    for (const r of runs.filter((x) => x.result === 'INCONCLUSIVE')) reasons.push(`run ${r.run.id} (${r.run.route}): ${r.reasons[0] ?? 'INCONCLUSIVE'}`);
  }
  return { result, reasons, runs: [...runs] };
}

function label(s: Run['candidate']): string {
  return s.subset ? `${s.host}/${s.subset}` : s.host;
}

/**
 * The runs a verdict judges: with `run`, that one; with `since` (ms), every run open within that time; by
 * default the latest run of each candidate (route + host + subset) among the runs still open, or among all
 * runs when none is open (a store read after the gateway stopped).
 */
export function runsToJudge(store: CompareStore, opts: { run?: number; sinceMs?: number; now?: number }): RunRow[] | string {
  if (opts.run !== undefined) {
    const r = store.run(opts.run);
    return r ? [r] : `unknown run "r${opts.run}"`;
  }
  const all = store.runs(1_000);
  if (opts.sinceMs !== undefined) {
    const from = (opts.now ?? Date.now()) - opts.sinceMs;
    return all.filter((r) => r.ended_at === null || r.ended_at >= from);
  }
  const open = all.filter((r) => r.ended_at === null);
  const pool = open.length > 0 ? open : all;
  const seen = new Set<string>();
  const out: RunRow[] = [];
  for (const r of pool) {
    const key = `${r.route}\u0000${r.candidate_host}\u0000${r.candidate_subset ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(r);
  }
  return out;
}

export function endpointReport(e: StoredEndpoint, v: EndpointVerdict): EndpointReport {
  return {
    id: e.id,
    endpoint: e.endpoint,
    compared: e.compared,
    withSecondary: e.withSecondary,
    diffRate: v.realDiffRate,
    diffInterval: v.diffInterval,
    noiseRate: v.noiseBaseline ? Math.max(0, ...v.fields.map((f) => f.noiseRate)) : null,
    primaryErrorRate: v.primaryErrorRate,
    candidateErrorRate: v.candidateErrorRate,
    primaryLatency: { p50: v.primaryP50, p99: v.primaryP99 },
    candidateLatency: { p50: v.candidateP50, p99: v.candidateP99 },
    verdict: v.result,
    reasons: v.reasons,
  };
}

export function fieldReports(store: CompareStore, e: StoredEndpoint, t: Thresholds, isIgnored: (field: string) => boolean): FieldReport[] {
  const v = analyzeEndpoint(e, t);
  const series = store.series(e);
  const compared = new Map((series.get('') ?? []).map((p) => [p.minute, p.n]));
  return v.fields.map((f) => {
    const diffs = new Map((series.get(f.field) ?? []).map((p) => [p.minute, p.n]));
    const r: FieldReport = {
      field: f.field,
      kinds: { ...f.kinds } as Record<string, number>,
      rate: f.candidateRate,
      interval: f.interval,
      noiseRate: v.noiseBaseline ? f.noiseRate : null,
      timeLike: f.timeLike,
      ignored: isIgnored(f.field),
      verdict: f.result,
      series: [...compared.keys()].map((m) => ({ at: new Date(m * 60_000).toISOString(), compared: compared.get(m) ?? 0, diffs: diffs.get(m) ?? 0 })),
    };
    if (f.example) r.example = { primary: f.example.primary, candidate: f.example.candidate };
    return r;
  });
}
