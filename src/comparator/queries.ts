// The questions the admin API asks the comparison worker, answered there (off the request thread) as JSON text.
// From the module, not compare's index: this runs on the serving thread, which must not load the gRPC decoding
// (@bufbuild/protobuf, ~2.5 MB of heap per worker) that only the comparison thread uses.
import { analyzeEndpoint } from '../compare/analyze.js';
import type { CompiledRules, EndpointStats, Thresholds } from '../compare/index.js';
import type { CompareStore } from '../store/index.js';
import { type RunMetricsOptions, runMetricsExposition } from './metrics-export.js';
import { endpointReport, fieldReports, JudgeCache, overall, parseRunId, runOf, runsToJudge } from './reports.js';

export type Query =
  | { kind: 'runs'; limit?: number }
  | { kind: 'startRun'; route?: string; note?: string }
  | { kind: 'verdict'; run?: string; sinceMs?: number }
  | { kind: 'endpoints'; run?: string }
  | { kind: 'fields'; run?: string; endpoint: string }
  | { kind: 'samples'; run?: string; endpoint: string; field?: string; limit: number; before?: number }
  /** Raw aggregates of a run (the newest by default): the demo and tests. */
  | { kind: 'stats'; run?: string }
  /** The runs' aggregates as Prometheus text, for /metrics (issue 13; metrics-export.ts). */
  | { kind: 'metrics'; options: RunMetricsOptions };

export interface Answer {
  status: number;
  /** JSON text: serialized here, so a large answer never costs the request thread a stringify. */
  body: string;
}

const ok = (value: unknown, status = 200): Answer => ({ status, body: JSON.stringify(value) });
const bad = (error: string): Answer => ({ status: 400, body: JSON.stringify({ error }) });

/** The run a query names, or the newest run when it names none; an unknown id is the caller's error. */
function pickRun(store: CompareStore, id: string | undefined): { id: number } | string {
  if (id === undefined) {
    const newest = store.runs(1)[0];
    return newest ? { id: newest.id } : 'no run yet';
  }
  const n = parseRunId(id);
  if (n === undefined || store.run(n) === undefined) return `unknown run "${id}"`;
  return { id: n };
}

export function answer(store: CompareStore, q: Query, t: Thresholds, rules: CompiledRules, cache = new JudgeCache(0)): Answer {
  const judgeRun = (s: CompareStore, row: Parameters<JudgeCache['judge']>[1], th: Thresholds) => cache.judge(s, row, th);
  switch (q.kind) {
    case 'runs':
      return ok({ runs: store.runs(q.limit ?? 100).map((row) => judgeRun(store, row, t).run) });
    case 'startRun': {
      const opened = store.startRun(q.route, q.note);
      cache.clear();
      if (opened.length === 0) {
        return bad(q.route === undefined ? 'no route mirrors to a candidate: nothing to start a run for' : `no open run on route "${q.route}"`);
      }
      const runs = opened.map((row) => runOf(row, { result: 'INCONCLUSIVE', compared: 0, endpoints: [], reasons: ['no request compared yet'] }));
      // One run in `run` as the contract says; every run opened in `runs` when several routes mirror.
      return ok({ run: runs[0], runs }, 201);
    }
    case 'verdict': {
      let run: number | undefined;
      if (q.run !== undefined) {
        run = parseRunId(q.run);
        if (run === undefined) return bad(`unknown run "${q.run}"`);
      }
      const rows = runsToJudge(store, { ...(run === undefined ? {} : { run }), ...(q.sinceMs === undefined ? {} : { sinceMs: q.sinceMs }) });
      if (typeof rows === 'string') return bad(rows);
      return ok(overall(rows.map((row) => judgeRun(store, row, t)).map((j) => ({ run: j.run, result: j.verdict.result, reasons: j.verdict.reasons }))));
    }
    case 'endpoints': {
      const picked = pickRun(store, q.run);
      if (typeof picked === 'string') return bad(picked);
      const row = store.run(picked.id)!;
      const { run, endpoints, verdict } = judgeRun(store, row, t);
      // The verdict has judged every endpoint already: no second analysis of a big run.
      const judged = new Map(verdict.endpoints.map((v) => [v.endpoint, v]));
      return ok({ run, endpoints: endpoints.map((e) => endpointReport(e, judged.get(e.endpoint) ?? analyzeEndpoint(e, t))) });
    }
    case 'fields': {
      const picked = pickRun(store, q.run);
      if (typeof picked === 'string') return bad(picked);
      const e = store.endpoint(picked.id, q.endpoint);
      if (!e) return bad(`unknown endpoint "${q.endpoint}" in run r${picked.id}`);
      return ok({
        endpoint: endpointReport(e, analyzeEndpoint(e, t)),
        fields: fieldReports(store, e, t, (f) => rules.hasIgnoredFields && rules.isIgnoredField(f)),
      });
    }
    case 'samples': {
      const picked = pickRun(store, q.run);
      if (typeof picked === 'string') return bad(picked);
      const e = store.endpoint(picked.id, q.endpoint);
      if (!e) return bad(`unknown endpoint "${q.endpoint}" in run r${picked.id}`);
      const opts: { field?: string; limit: number; before?: number } = { limit: q.limit };
      if (q.field !== undefined) opts.field = q.field;
      if (q.before !== undefined) opts.before = q.before;
      return ok({ samples: store.samples(e, opts) });
    }
    case 'metrics':
      return { status: 200, body: runMetricsExposition(store, q.options) };
    case 'stats': {
      const picked = pickRun(store, q.run);
      if (typeof picked === 'string') return ok({ run: null, endpoints: [] as EndpointStats[] });
      return ok({ run: `r${picked.id}`, endpoints: store.endpoints(picked.id) });
    }
  }
}
