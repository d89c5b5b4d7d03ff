// The comparison's aggregates on /metrics (issue 13), so Prometheus can sum them over every replica: per run,
// endpoint and field, read from the store at scrape time (nothing per request), rendered in the worker thread.
// A run is labelled by its fingerprint (route, candidate, primary, mirror config), which every replica serving
// the same config and endpoints computes alike; the local run id differs per replica and is only in run_info.

import { bucketValue, type CompareStore, type RunRow, type StoredEndpoint } from '../store/index.js';
import { ENVOY_BUCKETS_MS } from '../telemetry/index.js';

export interface RunMetricsOptions {
  /** Ended runs stay on /metrics this long after they end (then their series go). */
  retentionMs: number;
  /** Endpoints exported per run by name, in the order they first appeared; the rest add up in `(other)`. */
  maxEndpoints: number;
  /** Fields exported per endpoint by name (in name order); the rest add up in `(other)`. */
  maxFields: number;
  now: number;
}

export const DEFAULT_RUN_METRICS: Omit<RunMetricsOptions, 'now'> = { retentionMs: 10 * 60_000, maxEndpoints: 100, maxFields: 50 };

/** The families whose values come from the shared store (the same in every worker of one gateway). */
export const STORE_FAMILIES = [
  'shadowgate_compare_run_info',
  'shadowgate_compare_run_open',
  'shadowgate_compare_requests_total',
  'shadowgate_compare_baseline_requests_total',
  'shadowgate_compare_errors_total',
  'shadowgate_compare_differences_total',
  'shadowgate_compare_difference_kinds_total',
  'shadowgate_compare_latency_milliseconds',
] as const;

const OTHER = '(other)';

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labels(pairs: Record<string, string>): string {
  return Object.entries(pairs)
    .map(([k, v]) => `${k}="${esc(v)}"`)
    .join(',');
}

/** The runs to export: open ones and those ended within the retention; one per fingerprint (the newest). */
export function exportedRuns(rows: readonly RunRow[], o: Pick<RunMetricsOptions, 'retentionMs' | 'now'>): RunRow[] {
  const seen = new Set<string>();
  const out: RunRow[] = [];
  for (const r of [...rows].sort((a, b) => b.id - a.id)) {
    if (r.ended_at !== null && r.ended_at < o.now - o.retentionMs) continue;
    if (seen.has(r.fingerprint)) continue;
    seen.add(r.fingerprint);
    out.push(r);
  }
  return out;
}

interface Folded {
  name: string;
  compared: number;
  withSecondary: number;
  primaryErrors: number;
  candidateErrors: number;
  /** field → [candidate diffs, secondary diffs, kinds] */
  fields: Map<string, { candidate: number; secondary: number; kinds: Map<string, number> }>;
  /** side (0 primary, 1 candidate) → cumulative-ready counts per Envoy bucket (+Inf last), and the sum. */
  latency: [{ counts: number[]; sum: number }, { counts: number[]; sum: number }];
}

function emptyFolded(name: string): Folded {
  const h = () => ({ counts: new Array<number>(ENVOY_BUCKETS_MS.length + 1).fill(0), sum: 0 });
  return { name, compared: 0, withSecondary: 0, primaryErrors: 0, candidateErrors: 0, fields: new Map(), latency: [h(), h()] };
}

/** Index of the Envoy bucket whose upper bound holds a store bucket's value (the last is +Inf). */
function envoyBucket(value: number): number {
  let i = 0;
  while (i < ENVOY_BUCKETS_MS.length && value > ENVOY_BUCKETS_MS[i]!) i++;
  return i;
}

function fold(store: CompareStore, endpoints: StoredEndpoint[], o: RunMetricsOptions): Folded[] {
  const byRow = [...endpoints].sort((a, b) => a.rowId - b.rowId);
  const out: Folded[] = [];
  let other: Folded | undefined;
  for (const [i, e] of byRow.entries()) {
    let f: Folded;
    if (i < o.maxEndpoints) {
      f = emptyFolded(e.endpoint);
      out.push(f);
    } else {
      other ??= emptyFolded(OTHER);
      f = other;
    }
    f.compared += e.compared;
    f.withSecondary += e.withSecondary;
    f.primaryErrors += e.primaryErrors;
    f.candidateErrors += e.candidateErrors;
    const fields = [...e.fields].sort((a, b) => a.field.localeCompare(b.field));
    for (const [j, field] of fields.entries()) {
      const name = j < o.maxFields ? field.field : OTHER;
      let agg = f.fields.get(name);
      if (!agg) {
        agg = { candidate: 0, secondary: 0, kinds: new Map() };
        f.fields.set(name, agg);
      }
      agg.candidate += field.candidateDiffs;
      agg.secondary += field.secondaryDiffs;
      for (const [k, n] of Object.entries(field.kinds)) agg.kinds.set(k, (agg.kinds.get(k) ?? 0) + (n ?? 0));
    }
    for (const { side, bucket, n } of store.latency(e)) {
      const h = f.latency[side === 0 ? 0 : 1];
      const v = bucketValue(bucket);
      h.counts[envoyBucket(v)]! += n;
      h.sum += v * n;
    }
  }
  if (other) out.push(other);
  return out;
}

/** Prometheus text of every exported run. Series per run: see the README (Observability, comparison metrics). */
export function runMetricsExposition(store: CompareStore, o: RunMetricsOptions): string {
  const families = new Map<string, string[]>(STORE_FAMILIES.map((f) => [f, []]));
  const push = (family: (typeof STORE_FAMILIES)[number], line: string) => families.get(family)!.push(line);
  for (const run of exportedRuns(store.runs(1_000), o)) {
    const base = {
      run: run.fingerprint,
      route: run.route,
      candidate_service: run.candidate_host,
      candidate_subset: run.candidate_subset ?? '',
      // When this store opened the run (ms): a replica restarted on a new store, or a run restarted by hand, has
      // new series, counted from 0. A counter reset is otherwise seen only as a drop between two scrapes, and a
      // restarted replica that catches up before its first scrape hides it: increase() and the fleet verdict lost
      // its counts (https://prometheus.io/docs/prometheus/latest/querying/functions/#resets).
      run_start: String(run.started_at),
    };
    const b = labels(base);
    push(
      'shadowgate_compare_run_info',
      `shadowgate_compare_run_info{${b},${labels({ run_id: `r${run.id}`, primary_service: run.primary_host, primary_subset: run.primary_subset ?? '', reason: run.reason })}} 1`,
    );
    push('shadowgate_compare_run_open', `shadowgate_compare_run_open{${b}} ${run.ended_at === null ? 1 : 0}`);
    for (const e of fold(store, store.endpoints(run.id), o)) {
      const eb = `${b},${labels({ endpoint: e.name })}`;
      push('shadowgate_compare_requests_total', `shadowgate_compare_requests_total{${eb}} ${e.compared}`);
      push('shadowgate_compare_baseline_requests_total', `shadowgate_compare_baseline_requests_total{${eb}} ${e.withSecondary}`);
      push('shadowgate_compare_errors_total', `shadowgate_compare_errors_total{${eb},role="primary"} ${e.primaryErrors}`);
      push('shadowgate_compare_errors_total', `shadowgate_compare_errors_total{${eb},role="candidate"} ${e.candidateErrors}`);
      for (const [field, agg] of e.fields) {
        const fb = `${eb},${labels({ field })}`;
        push('shadowgate_compare_differences_total', `shadowgate_compare_differences_total{${fb},against="candidate"} ${agg.candidate}`);
        push('shadowgate_compare_differences_total', `shadowgate_compare_differences_total{${fb},against="baseline"} ${agg.secondary}`);
        for (const [kind, n] of agg.kinds)
          push('shadowgate_compare_difference_kinds_total', `shadowgate_compare_difference_kinds_total{${fb},${labels({ kind })}} ${n}`);
      }
      e.latency.forEach((h, side) => {
        const lb = `${eb},role="${side === 0 ? 'primary' : 'candidate'}"`;
        let cumulative = 0;
        for (const [i, le] of ENVOY_BUCKETS_MS.entries()) {
          cumulative += h.counts[i]!;
          push('shadowgate_compare_latency_milliseconds', `shadowgate_compare_latency_milliseconds_bucket{${lb},le="${le}"} ${cumulative}`);
        }
        cumulative += h.counts[ENVOY_BUCKETS_MS.length]!;
        push('shadowgate_compare_latency_milliseconds', `shadowgate_compare_latency_milliseconds_bucket{${lb},le="+Inf"} ${cumulative}`);
        push('shadowgate_compare_latency_milliseconds', `shadowgate_compare_latency_milliseconds_sum{${lb}} ${Math.round(h.sum * 1000) / 1000}`);
        push('shadowgate_compare_latency_milliseconds', `shadowgate_compare_latency_milliseconds_count{${lb}} ${cumulative}`);
      });
    }
  }
  const help: Record<(typeof STORE_FAMILIES)[number], [string, string]> = {
    shadowgate_compare_run_info: ['gauge', 'Comparison runs on /metrics (open, or ended within the retention); run is the fingerprint shared by every replica'],
    shadowgate_compare_run_open: ['gauge', '1 while the run is open, 0 once a new candidate, primary or mirror config ended it'],
    shadowgate_compare_requests_total: ['counter', "Mirrored requests whose candidate answer was compared with the primary's, per run and endpoint"],
    shadowgate_compare_baseline_requests_total: ['counter', "Of those, requests that also had a noise-baseline answer (a mirror to the primary's own version)"],
    shadowgate_compare_errors_total: ['counter', 'Compared requests answered 5xx or not at all, by role (primary, candidate)'],
    shadowgate_compare_differences_total: [
      'counter',
      'Compared requests differing at a field: against="candidate" (primary vs candidate), against="baseline" (primary vs noise baseline)',
    ],
    shadowgate_compare_difference_kinds_total: ['counter', 'Candidate differences at a field by kind (value_changed, field_missing, ...)'],
    shadowgate_compare_latency_milliseconds: ['histogram', "Latency of the compared answers, by role, in Envoy's buckets"],
  };
  const out: string[] = [];
  for (const [family, lines] of families) {
    const [type, text] = help[family as (typeof STORE_FAMILIES)[number]];
    out.push(`# HELP ${family} ${text}`, `# TYPE ${family} ${type}`, ...lines);
  }
  return `${out.join('\n')}\n`;
}
