// The verdict: Diffy's noise-cancelled field differences, plus error-rate and p99-latency guards, per endpoint.
import type { EndpointStats, EndpointVerdict, FieldStats, FieldVerdict, Thresholds, Verdict, VerdictResult } from './types.js';

/** `10.2%`; small rates keep two decimals so 0.05% does not print as 0.1% or 0.0%. */
export function percent(rate: number): string {
  const p = rate * 100;
  return `${p !== 0 && Math.abs(p) < 0.1 ? p.toFixed(2) : p.toFixed(1)}%`;
}

/**
 * Diffy's test for a field whose differences are real, not noise (twitter/diffy, opendiffy/diffy
 * `analysis/JoinedDifferences.scala`, DifferencesFilterFactory + JoinedField):
 *
 *   raw > noise  AND  |raw − noise| / (raw + noise) > relative  AND  |raw − noise| / total > absolute
 *
 * Diffy counts raw and noise over the same requests (every request goes to all three). Here a secondary may be
 * mirrored for only some of them, so counts become rates over their own sample sizes (c = candidate rate,
 * n = noise rate) and the test reads:  c > n  AND  (c − n)/(c + n) > relative  AND  c − n > absolute.
 * Diffy's thresholds are percent (20.0, 0.03); ours are fractions (0.2, 0.0003), the same defaults.
 * With no noise (n = 0) the relative term is 1, so only the absolute threshold matters, as in the
 * (c − n)/n formulation with its n = 0 special case; with noise, Diffy's symmetric ratio is stricter
 * (c must exceed 1.5·n at the default 0.2, against 1.2·n) and stays bounded.
 */
export function isRealDifference(candidateRate: number, noiseRate: number, t: Pick<Thresholds, 'relative' | 'absolute'>): boolean {
  const excess = candidateRate - noiseRate;
  return excess > 0 && excess / (candidateRate + noiseRate) > t.relative && excess > t.absolute;
}

function fieldVerdict(f: FieldStats, s: EndpointStats, t: Thresholds): FieldVerdict {
  const candidateRate = s.compared > 0 ? f.candidateDiffs / s.compared : 0;
  const noiseRate = s.withSecondary > 0 ? f.secondaryDiffs / s.withSecondary : 0;
  return { field: f.field, candidateRate, noiseRate, real: isRealDifference(candidateRate, noiseRate, t), kinds: { ...f.kinds } };
}

function fieldSentence(f: FieldVerdict, baseline: boolean): string {
  return `${f.field} differs in ${percent(f.candidateRate)} of requests (${baseline ? `noise ${percent(f.noiseRate)}` : 'no noise baseline'})`;
}

/**
 * One endpoint. FAIL when (with at least minSample compared):
 * - a real field's excess over the noise (candidateRate − noiseRate) exceeds maxRealDiffRate: the noise part
 *   of a field's differences is not the candidate's doing, so it is not held against it;
 * - the candidate's error rate (5xx or no answer) exceeds the primary's by more than maxErrorRateIncrease;
 * - the candidate's p99 exceeds the primary's by more than maxP99LatencyIncrease (a ratio) AND by more than
 *   minP99LatencyIncreaseMs.
 * Below minSample it is INCONCLUSIVE, and the reasons still say what was seen so far.
 */
export function analyzeEndpoint(s: EndpointStats, t: Thresholds): EndpointVerdict {
  const noiseBaseline = s.withSecondary > 0;
  const fields = s.fields
    .map((f) => fieldVerdict(f, s, t))
    .filter((f) => f.candidateRate > 0 || f.noiseRate > 0)
    .sort((x, y) => y.candidateRate - x.candidateRate || x.field.localeCompare(y.field));
  const real = fields.filter((f) => f.real);
  const realDiffRate = real.reduce((m, f) => Math.max(m, f.candidateRate - f.noiseRate), 0);
  const primaryErrorRate = s.compared > 0 ? s.primaryErrors / s.compared : 0;
  const candidateErrorRate = s.compared > 0 ? s.candidateErrors / s.compared : 0;
  const p = s.primaryLatency;
  const c = s.candidateLatency;

  const problems: string[] = [];
  const notes: string[] = [];
  for (const f of real) {
    if (f.candidateRate - f.noiseRate > t.maxRealDiffRate) problems.push(fieldSentence(f, noiseBaseline));
    else notes.push(`${fieldSentence(f, noiseBaseline)}, within the ${percent(t.maxRealDiffRate)} allowed`);
  }
  if (candidateErrorRate - primaryErrorRate > t.maxErrorRateIncrease) {
    problems.push(
      `candidate error rate ${percent(candidateErrorRate)} vs primary ${percent(primaryErrorRate)} (5xx or no answer; allowed increase ${percent(t.maxErrorRateIncrease)})`,
    );
  }
  if (p.count > 0 && c.count > 0 && c.p99 > p.p99 * (1 + t.maxP99LatencyIncrease) && c.p99 - p.p99 > t.minP99LatencyIncreaseMs) {
    const ratio = p.p99 > 0 ? ` (+${percent((c.p99 - p.p99) / p.p99)})` : '';
    problems.push(`candidate p99 latency ${fmtMs(c.p99)} vs primary ${fmtMs(p.p99)}: ${fmtMs(c.p99 - p.p99)} slower${ratio}`);
  }
  if (!noiseBaseline && fields.length > 0) notes.push('no noise baseline (no secondary answers): every difference counts as real');

  let result: VerdictResult;
  const reasons: string[] = [];
  if (s.compared < t.minSample) {
    result = 'INCONCLUSIVE';
    reasons.push(`only ${s.compared} compared requests (need ${t.minSample})`, ...problems);
  } else if (problems.length > 0) {
    result = 'FAIL';
    reasons.push(...problems);
  } else {
    result = 'PASS';
  }
  reasons.push(...notes);
  return {
    endpoint: s.endpoint,
    result,
    compared: s.compared,
    noiseBaseline,
    fields,
    realDiffRate,
    primaryErrorRate,
    candidateErrorRate,
    primaryP50: p.p50,
    primaryP99: p.p99,
    candidateP50: c.p50,
    candidateP99: c.p99,
    reasons,
  };
}

function fmtMs(ms: number): string {
  return `${Math.round(ms)} ms`;
}

/**
 * The overall verdict: FAIL if any endpoint fails (each needs minSample to fail); INCONCLUSIVE if fewer than
 * minSample requests were compared in all, or no endpoint has minSample of its own; PASS otherwise.
 * Endpoints come worst first (FAIL, INCONCLUSIVE, PASS), then by traffic.
 */
export function analyze(stats: readonly EndpointStats[], thresholds: Thresholds): Verdict {
  const order: Record<VerdictResult, number> = { FAIL: 0, INCONCLUSIVE: 1, PASS: 2 };
  const endpoints = stats
    .map((s) => analyzeEndpoint(s, thresholds))
    .sort((x, y) => order[x.result] - order[y.result] || y.compared - x.compared || x.endpoint.localeCompare(y.endpoint));
  const compared = endpoints.reduce((n, e) => n + e.compared, 0);
  const failing = endpoints.filter((e) => e.result === 'FAIL');
  const decided = endpoints.filter((e) => e.result !== 'INCONCLUSIVE');
  const reasons: string[] = [];
  let result: VerdictResult;
  if (failing.length > 0) {
    result = 'FAIL';
    for (const e of failing) for (const r of e.reasons) reasons.push(`${e.endpoint}: ${r}`);
  } else if (compared < thresholds.minSample) {
    result = 'INCONCLUSIVE';
    reasons.push(`only ${compared} requests compared in all (need ${thresholds.minSample})`);
  } else if (decided.length === 0) {
    result = 'INCONCLUSIVE';
    reasons.push(`no endpoint has ${thresholds.minSample} compared requests yet (${compared} in all, over ${endpoints.length} endpoints)`);
  } else {
    result = 'PASS';
    const undecided = endpoints.length - decided.length;
    reasons.push(
      `${compared} requests compared over ${decided.length} endpoint(s) with enough sample: no real difference above ${percent(thresholds.maxRealDiffRate)}, no error or p99 latency regression` +
        (undecided > 0 ? `; ${undecided} endpoint(s) have too few requests to judge` : ''),
    );
  }
  const withoutBaseline = endpoints.filter((e) => !e.noiseBaseline && e.compared > 0).length;
  if (withoutBaseline > 0) reasons.push(`${withoutBaseline} endpoint(s) have no noise baseline (no secondary): their differences are not noise-cancelled`);
  return { result, compared, endpoints, reasons };
}
