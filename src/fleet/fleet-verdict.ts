// The verdict of the whole fleet (issue 13): every replica's comparison counters summed from Prometheus, then the
// very rules of the local verdict (compare/analyze.ts: noise cancellation, certainty, errors, p99 latency), with
// the replicas (instances) that hold the differences of each blamed field.
import { overall } from '../comparator/index.js';
// From the module, not compare's index: `serve` loads fleet/ for its selector check, and the serving thread must not
// load the gRPC decoding (@bufbuild/protobuf) that only the comparison thread uses.
import { analyze } from '../compare/analyze.js';
import type { EndpointReport, EndpointStats, FieldStats, Run, Thresholds, VerdictReport } from '../compare/index.js';
import { checkSelector, type FleetSource, type PromSeries, promDuration, promQuery } from './prometheus-client.js';

export const DEFAULT_WINDOW_MS = 60 * 60_000;

export interface BlamedField {
  endpoint: string;
  field: string;
  /** instance → differences it counted in the window. */
  instances: Record<string, number>;
}

export interface FleetRun {
  run: Run;
  result: VerdictReport['result'];
  reasons: string[];
  endpoints: EndpointReport[];
  /** Real differences, with the replicas that saw them. */
  blamed: BlamedField[];
  /** Replicas (instances) with samples of this run in the window. */
  instances: string[];
}

export interface FleetVerdict extends VerdictReport {
  source: { prometheus: string; window: string; selector: string };
  runs: FleetRun[];
}

/** A series' identity: its labels, sorted (`__name__` aside). */
function keyOf(metric: Record<string, string>): string {
  return JSON.stringify(
    Object.entries(metric)
      .filter(([k]) => k !== '__name__')
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

/**
 * What each counter series grew by in the window, exactly: from its value at the window's start (0 for a series
 * born inside it, as a run's are), every rise added, and after a drop (a restarted replica: a counter reset) the
 * new value added whole, as Prometheus' increase() handles resets. Unlike increase(), no extrapolation to the
 * window's edges: a count of compared requests stays a whole number, the same the replicas hold.
 */
export function exactIncreases(range: readonly PromSeries[], atStart: readonly PromSeries[]): Array<{ metric: Record<string, string>; increase: number }> {
  const base = new Map(atStart.map((s) => [keyOf(s.metric), s.values[0]?.[1] ?? 0]));
  return range.map((s) => {
    let prev = base.get(keyOf(s.metric)) ?? 0;
    let inc = 0;
    for (const [, v] of s.values) {
      inc += v >= prev ? v - prev : v;
      prev = v;
    }
    return { metric: s.metric, increase: inc };
  });
}

/** histogram_quantile's estimate over cumulative `[le, count]` buckets (linear within a bucket). */
export function bucketQuantile(buckets: ReadonlyArray<readonly [number, number]>, q: number): number {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return 0;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return prevLe;
      return count === prevCount ? le : prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

interface RunAcc {
  labels: Record<string, string>;
  instances: Set<string>;
  open: boolean;
  endpoints: Map<string, EndpointStats & { latency: Map<string, Map<number, number>> }>;
  fieldInstances: Map<string, Record<string, number>>;
}

export interface FleetVerdictOptions {
  /** One run by its fingerprint (the `run` label); default: the open runs (else every run in the window). */
  run?: string | undefined;
  thresholds: Thresholds;
  /** Every run seen in the window, ended ones too (the gate's checksums need them), not only the open ones. */
  everyRun?: boolean;
}

export async function fleetVerdict(src: FleetSource, o: FleetVerdictOptions): Promise<FleetVerdict> {
  const windowMs = src.windowMs ?? DEFAULT_WINDOW_MS;
  const w = promDuration(windowMs);
  const selector = checkSelector(src.selector ?? '');
  if (o.run !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(o.run))
    throw new Error(`a run is a fingerprint such as 3f2a9c0d11b2e4f5 (the run label on /metrics), not ${JSON.stringify(o.run)}`);
  const now = Date.now();
  const sel = (extra?: string) => `{${[selector, extra].filter(Boolean).join(',')}}`;

  // Which runs: their labels, replicas and whether any replica still has them open.
  const runFilter = o.run === undefined ? undefined : `run="${o.run}"`;
  const [info, open] = await Promise.all([
    promQuery(src, `last_over_time(shadowgate_compare_run_info${sel(runFilter)}[${w}])`, now),
    promQuery(src, `last_over_time(shadowgate_compare_run_open${sel(runFilter)}[${w}])`, now),
  ]);
  const runs = new Map<string, RunAcc>();
  for (const s of info) {
    const m = s.metric;
    const r = runs.get(m.run ?? '') ?? { labels: m, instances: new Set<string>(), open: false, endpoints: new Map(), fieldInstances: new Map() };
    if (m.instance) r.instances.add(m.instance);
    runs.set(m.run ?? '', r);
  }
  for (const s of open) {
    const r = runs.get(s.metric.run ?? '');
    if (r && (s.values[0]?.[1] ?? 0) === 1) r.open = true;
  }
  let chosen = [...runs.entries()];
  if (o.run === undefined && !o.everyRun && chosen.some(([, r]) => r.open)) chosen = chosen.filter(([, r]) => r.open);
  if (chosen.length === 0) {
    const reasons = [o.run === undefined ? `no comparison run on /metrics of any replica in the last ${w}` : `no run "${o.run}" in the last ${w}`];
    return { result: 'INCONCLUSIVE', reasons, runs: [], source: { prometheus: src.url, window: w, selector: selector ?? '' } };
  }
  const only = `run=~"${chosen.map(([id]) => id.replace(/[^A-Za-z0-9_-]/g, '')).join('|')}"`;

  const increases = async (family: string) => {
    const [range, start] = await Promise.all([promQuery(src, `${family}${sel(only)}[${w}]`, now), promQuery(src, `${family}${sel(only)}`, now - windowMs)]);
    return exactIncreases(range, start);
  };
  const [requests, baseline, errors, diffs, kinds, latency] = await Promise.all([
    increases('shadowgate_compare_requests_total'),
    increases('shadowgate_compare_baseline_requests_total'),
    increases('shadowgate_compare_errors_total'),
    increases('shadowgate_compare_differences_total'),
    increases('shadowgate_compare_difference_kinds_total'),
    increases('shadowgate_compare_latency_milliseconds_bucket'),
  ]);

  const endpointOf = (m: Record<string, string>) => {
    const r = runs.get(m.run ?? '');
    if (!r) return undefined;
    const name = m.endpoint ?? '';
    let e = r.endpoints.get(name);
    if (!e) {
      e = {
        endpoint: name,
        compared: 0,
        withSecondary: 0,
        primaryErrors: 0,
        candidateErrors: 0,
        primaryLatency: { count: 0, p50: 0, p99: 0 },
        candidateLatency: { count: 0, p50: 0, p99: 0 },
        fields: [],
        latency: new Map(),
      };
      r.endpoints.set(name, e);
    }
    return { r, e };
  };
  const fieldOf = (e: EndpointStats, field: string): FieldStats => {
    let f = e.fields.find((x) => x.field === field);
    if (!f) {
      f = { field, candidateDiffs: 0, secondaryDiffs: 0, kinds: {} };
      e.fields.push(f);
    }
    return f;
  };
  for (const { metric, increase } of requests) {
    const x = endpointOf(metric);
    if (x) x.e.compared += increase;
  }
  for (const { metric, increase } of baseline) {
    const x = endpointOf(metric);
    if (x) x.e.withSecondary += increase;
  }
  for (const { metric, increase } of errors) {
    const x = endpointOf(metric);
    if (!x) continue;
    if (metric.role === 'candidate') x.e.candidateErrors += increase;
    else x.e.primaryErrors += increase;
  }
  for (const { metric, increase } of diffs) {
    const x = endpointOf(metric);
    if (!x || !metric.field) continue;
    const f = fieldOf(x.e, metric.field);
    if (metric.against === 'baseline') f.secondaryDiffs += increase;
    else {
      f.candidateDiffs += increase;
      if (increase > 0 && metric.instance) {
        const key = `${x.e.endpoint}\u0000${metric.field}`;
        const per = x.r.fieldInstances.get(key) ?? {};
        per[metric.instance] = (per[metric.instance] ?? 0) + increase;
        x.r.fieldInstances.set(key, per);
      }
    }
  }
  for (const { metric, increase } of kinds) {
    const x = endpointOf(metric);
    if (!x || !metric.field || !metric.kind) continue;
    const f = fieldOf(x.e, metric.field);
    const k = metric.kind as keyof FieldStats['kinds'];
    f.kinds[k] = (f.kinds[k] ?? 0) + increase;
  }
  for (const { metric, increase } of latency) {
    const x = endpointOf(metric);
    if (!x || !metric.le || !metric.role) continue;
    const per = x.e.latency.get(metric.role) ?? new Map<number, number>();
    const le = metric.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(metric.le);
    per.set(le, (per.get(le) ?? 0) + increase);
    x.e.latency.set(metric.role, per);
  }

  const judged: FleetRun[] = [];
  for (const [id, r] of chosen) {
    const stats: EndpointStats[] = [...r.endpoints.values()].map(({ latency: lat, ...e }) => {
      for (const role of ['primary', 'candidate'] as const) {
        const buckets = [...(lat.get(role) ?? new Map<number, number>()).entries()];
        const count = buckets.find(([le]) => !Number.isFinite(le))?.[1] ?? 0;
        const summary = { count, p50: bucketQuantile(buckets, 0.5), p99: bucketQuantile(buckets, 0.99) };
        if (role === 'primary') e.primaryLatency = summary;
        else e.candidateLatency = summary;
      }
      return e;
    });
    const v = analyze(stats, o.thresholds);
    const l = r.labels;
    const run: Run = {
      id,
      route: l.route ?? '',
      candidate: l.candidate_subset
        ? { host: l.candidate_service ?? '', subset: l.candidate_subset, fingerprint: id }
        : { host: l.candidate_service ?? '', fingerprint: id },
      primary: l.primary_subset
        ? { host: l.primary_service ?? '', subset: l.primary_subset, fingerprint: id }
        : { host: l.primary_service ?? '', fingerprint: id },
      startedAt: new Date(now - windowMs).toISOString(),
      endedAt: r.open ? null : new Date(now).toISOString(),
      reason: 'started',
      compared: v.compared,
      verdict: v.result,
      reasons: v.reasons,
    };
    const blamed: BlamedField[] = [];
    for (const e of v.endpoints) {
      for (const f of e.fields) {
        if (!f.real) continue;
        blamed.push({ endpoint: e.endpoint, field: f.field, instances: r.fieldInstances.get(`${e.endpoint}\u0000${f.field}`) ?? {} });
      }
    }
    const reasons = [...v.reasons];
    for (const b of blamed) {
      const where = Object.entries(b.instances)
        .sort((x, y) => y[1] - x[1])
        .map(([instance, n]) => `${instance} (${n})`)
        .join(', ');
      reasons.push(`${b.endpoint}: ${b.field}: differences on ${where || 'no replica in the window'}`);
    }
    const endpoints: EndpointReport[] = v.endpoints.map((e) => ({
      id: e.endpoint,
      endpoint: e.endpoint,
      compared: e.compared,
      withSecondary: e.withSecondary,
      diffRate: e.realDiffRate,
      diffInterval: e.diffInterval,
      noiseRate: e.noiseBaseline ? Math.max(0, ...e.fields.map((f) => f.noiseRate)) : null,
      primaryErrorRate: e.primaryErrorRate,
      candidateErrorRate: e.candidateErrorRate,
      primaryLatency: { p50: e.primaryP50, p99: e.primaryP99 },
      candidateLatency: { p50: e.candidateP50, p99: e.candidateP99 },
      verdict: e.result,
      reasons: e.reasons,
    }));
    judged.push({ run, result: v.result, reasons, endpoints, blamed, instances: [...r.instances].sort() });
  }
  const o2 = overall(judged.map((j) => ({ run: j.run, result: j.result, reasons: j.reasons })));
  return { result: o2.result, reasons: o2.reasons, runs: judged, source: { prometheus: src.url, window: w, selector: selector ?? '' } };
}
