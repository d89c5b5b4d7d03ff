// Comparison results folded into per-endpoint aggregates (EndpointStats), the input of analyze().
import { isUncounted } from './time-like.js';
import type { ComparisonResult, DiffKind, EndpointStats, FieldStats, LatencySummary } from './types.js';

/** 5xx or no (complete) answer. */
export function isErrorAnswer(r: { status: number; error?: string } | undefined): boolean {
  return r === undefined || r.status === 0 || r.status >= 500 || r.error !== undefined;
}

/** Nearest-rank percentiles (p in 0..1) of unsorted values. */
export function latencySummary(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { count: 0, p50: 0, p99: 0 };
  const sorted = [...values].sort((x, y) => x - y);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99) };
}

/**
 * Per-endpoint aggregates of a set of results: what the store keeps, computed in memory (tests, benchmarks,
 * one-off analyses). Each result counts at most once per field, as compareResponses already guarantees.
 */
export function aggregateResults(results: Iterable<ComparisonResult>): EndpointStats[] {
  interface Acc {
    stats: EndpointStats;
    fields: Map<string, FieldStats>;
    primary: number[];
    candidate: number[];
  }
  const byEndpoint = new Map<string, Acc>();
  for (const r of results) {
    if (r.candidate === undefined) continue;
    let acc = byEndpoint.get(r.endpoint);
    if (acc === undefined) {
      acc = {
        stats: {
          endpoint: r.endpoint,
          compared: 0,
          withSecondary: 0,
          primaryErrors: 0,
          candidateErrors: 0,
          primaryLatency: { count: 0, p50: 0, p99: 0 },
          candidateLatency: { count: 0, p50: 0, p99: 0 },
          fields: [],
        },
        fields: new Map(),
        primary: [],
        candidate: [],
      };
      byEndpoint.set(r.endpoint, acc);
    }
    const s = acc.stats;
    s.compared++;
    if (r.secondaryDiffs !== undefined) s.withSecondary++;
    if (isErrorAnswer(r.primary)) s.primaryErrors++;
    if (isErrorAnswer(r.candidate)) s.candidateErrors++;
    acc.primary.push(r.primary.latencyMs);
    acc.candidate.push(r.candidate.latencyMs);
    const field = (name: string) => {
      let f = acc.fields.get(name);
      if (f === undefined) {
        f = { field: name, candidateDiffs: 0, secondaryDiffs: 0, kinds: {} };
        acc.fields.set(name, f);
      }
      return f;
    };
    for (const d of r.candidateDiffs) {
      const f = field(d.field);
      f.kinds[d.kind as DiffKind] = (f.kinds[d.kind] ?? 0) + 1;
      if (isUncounted(d.kind)) {
        f.timeLike = (f.timeLike ?? 0) + 1;
        continue;
      }
      f.candidateDiffs++;
      f.example ??= { kind: d.kind, primary: d.left ?? '(absent)', candidate: d.right ?? '(absent)' };
    }
    for (const d of r.secondaryDiffs ?? []) if (!isUncounted(d.kind)) field(d.field).secondaryDiffs++;
  }
  return [...byEndpoint.values()].map((acc) => ({
    ...acc.stats,
    primaryLatency: latencySummary(acc.primary),
    candidateLatency: latencySummary(acc.candidate),
    fields: [...acc.fields.values()],
  }));
}
