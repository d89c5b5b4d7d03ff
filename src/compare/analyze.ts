// The verdict: Diffy's noise-cancelled field differences judged with confidence intervals, plus error-rate and
// p99-latency guards, per endpoint; then one overall result.
import { newcombe, wilson, zFor } from './certainty.js';
import type { DiffKind, EndpointStats, EndpointVerdict, FieldStats, FieldVerdict, Interval, Thresholds, Verdict, VerdictResult } from './types.js';

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
 */
export function isRealDifference(candidateRate: number, noiseRate: number, t: Pick<Thresholds, 'relative' | 'absolute'>): boolean {
  const excess = candidateRate - noiseRate;
  return excess > 0 && excess / (candidateRate + noiseRate) > t.relative && excess > t.absolute;
}

const KIND_WORDS: Partial<Record<DiffKind, string>> = {
  value_changed: 'value changed',
  type_changed: 'type changed',
  field_missing: 'missing',
  field_extra: 'extra',
  array_length: 'array length',
  array_order: 'array order',
  status_changed: 'status changed',
  header_changed: 'header changed',
  header_missing: 'header missing',
  header_extra: 'header extra',
  text_changed: 'text changed',
  binary_changed: 'binary changed',
  size_or_hash_changed: 'size or hash changed (beyond the capture bound)',
  no_answer: 'no answer',
  time_changed: 'time-like, beyond the tolerance',
  id_changed: 'id-like',
};

/** The kind most of a field's differences have, in words. */
function mainKind(kinds: Partial<Record<DiffKind, number>>): string | undefined {
  let best: DiffKind | undefined;
  for (const [k, n] of Object.entries(kinds) as [DiffKind, number][]) {
    if (k === 'time_within_tolerance') continue;
    if (best === undefined || n > (kinds[best] ?? 0)) best = k;
  }
  return best === undefined ? undefined : (KIND_WORDS[best] ?? best);
}

function fieldVerdict(f: FieldStats, s: EndpointStats, t: Thresholds, z: number): FieldVerdict {
  const candidateRate = s.compared > 0 ? f.candidateDiffs / s.compared : 0;
  const baseline = s.withSecondary > 0;
  const noiseRate = baseline ? f.secondaryDiffs / s.withSecondary : 0;
  const real = isRealDifference(candidateRate, noiseRate, t);
  const interval = baseline ? newcombe(f.candidateDiffs, s.compared, f.secondaryDiffs, s.withSecondary, z) : wilson(f.candidateDiffs, s.compared, z);
  // Noise (by Diffy's test) is not the candidate's doing; a real difference is judged by its interval.
  const result: VerdictResult = !real ? 'PASS' : interval.low > t.maxRealDiffRate ? 'FAIL' : interval.high <= t.maxRealDiffRate ? 'PASS' : 'INCONCLUSIVE';
  const v: FieldVerdict = { field: f.field, candidateRate, noiseRate, real, kinds: { ...f.kinds }, interval, result, timeLike: f.timeLike ?? 0 };
  if (f.example) v.example = f.example;
  return v;
}

function hasControl(v: string): boolean {
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) < 0x20) return true;
  return false;
}

/** An example value in a sentence: short, one line (control characters shown escaped). */
function shown(v: string): string {
  const one = hasControl(v) ? JSON.stringify(v) : v;
  return one.length > 80 ? `${one.slice(0, 79)}…` : one;
}

/** "body.total differs in 100.0% of requests (value changed, e.g. 42 vs 43; noise 0.0%)" */
export function fieldSentence(f: FieldVerdict, baseline: boolean): string {
  const kind = mainKind(f.kinds);
  const example = f.example ? `e.g. ${shown(f.example.primary)} vs ${shown(f.example.candidate)}` : undefined;
  const what = [kind, example].filter((x) => x !== undefined).join(', ');
  const noise = baseline ? `noise ${percent(f.noiseRate)}` : 'no noise baseline';
  return `${f.field} differs in ${percent(f.candidateRate)} of requests (${what ? `${what}; ` : ''}${noise})`;
}

function fmtMs(ms: number): string {
  return `${Math.round(ms)} ms`;
}

/**
 * One endpoint, judged with one-sided confidence intervals at `confidence` (0.95 by default):
 * - FAIL when a real field's excess over the noise is certainly above maxRealDiffRate (the low end of its
 *   Newcombe interval, or Wilson's without a secondary), when the candidate's error rate certainly exceeds the
 *   primary's by more than maxErrorRateIncrease, or (with minSample compared) when its p99 latency exceeds the
 *   primary's by more than maxP99LatencyIncrease AND minP99LatencyIncreaseMs;
 * - PASS when the real-difference rate is certainly below maxRealDiffRate (the high end of the worst real
 *   field's interval, and of Wilson's interval for "no difference in N requests", which covers the fields not
 *   seen yet) and the error-rate increase is certainly within its bound;
 * - INCONCLUSIVE in between: not enough requests to tell either way.
 */
export function analyzeEndpoint(s: EndpointStats, t: Thresholds): EndpointVerdict {
  const z = zFor(t.confidence);
  const noiseBaseline = s.withSecondary > 0;
  const fields = s.fields
    .map((f) => fieldVerdict(f, s, t, z))
    .filter((f) => f.candidateRate > 0 || f.noiseRate > 0 || f.timeLike > 0)
    .sort((x, y) => y.candidateRate - x.candidateRate || x.field.localeCompare(y.field));
  const real = fields.filter((f) => f.real);
  const realDiffRate = real.reduce((m, f) => Math.max(m, f.candidateRate - f.noiseRate), 0);
  const unseen = wilson(0, s.compared, z);
  const diffInterval: Interval = {
    low: Math.max(0, ...real.map((f) => f.interval.low)),
    high: Math.min(1, Math.max(unseen.high, ...real.map((f) => f.interval.high))),
  };
  const primaryErrorRate = s.compared > 0 ? s.primaryErrors / s.compared : 0;
  const candidateErrorRate = s.compared > 0 ? s.candidateErrors / s.compared : 0;
  const errors = newcombe(s.candidateErrors, s.compared, s.primaryErrors, s.compared, z);
  const p = s.primaryLatency;
  const c = s.candidateLatency;

  const problems: string[] = [];
  const notes: string[] = [];
  for (const f of real) {
    if (f.result === 'FAIL') problems.push(fieldSentence(f, noiseBaseline));
    else if (f.result === 'INCONCLUSIVE') notes.push(`${fieldSentence(f, noiseBaseline)}: not yet certainly above or below ${percent(t.maxRealDiffRate)}`);
  }
  if (errors.low > t.maxErrorRateIncrease) {
    problems.push(
      `candidate error rate ${percent(candidateErrorRate)} vs primary ${percent(primaryErrorRate)} (5xx or no answer; allowed increase ${percent(t.maxErrorRateIncrease)})`,
    );
  }
  if (s.compared >= t.minSample && p.count > 0 && c.count > 0 && c.p99 > p.p99 * (1 + t.maxP99LatencyIncrease) && c.p99 - p.p99 > t.minP99LatencyIncreaseMs) {
    const ratio = p.p99 > 0 ? ` (+${percent((c.p99 - p.p99) / p.p99)})` : '';
    problems.push(`candidate p99 latency ${fmtMs(c.p99)} vs primary ${fmtMs(p.p99)}: ${fmtMs(c.p99 - p.p99)} slower${ratio}`);
  }
  for (const f of fields) {
    if (f.timeLike > 0 && f.candidateRate === 0)
      notes.push(`${f.field}: time-like, within tolerance in ${percent(s.compared > 0 ? f.timeLike / s.compared : 0)} (not counted)`);
  }
  if (!noiseBaseline && fields.some((f) => f.candidateRate > 0)) notes.push('no noise baseline (no secondary answers): every difference counts as real');

  let result: VerdictResult;
  const reasons: string[] = [];
  if (problems.length > 0) {
    result = 'FAIL';
    reasons.push(...problems);
  } else if (diffInterval.high <= t.maxRealDiffRate && errors.high <= t.maxErrorRateIncrease) {
    result = 'PASS';
  } else {
    result = 'INCONCLUSIVE';
    reasons.push(
      `${s.compared} compared: the real-difference rate is between ${percent(diffInterval.low)} and ${percent(diffInterval.high)} ` +
        `(${Math.round(t.confidence * 100)}% confidence), not yet certainly below ${percent(t.maxRealDiffRate)}` +
        (errors.high > t.maxErrorRateIncrease && diffInterval.high <= t.maxRealDiffRate ? ' (error rate not yet certain)' : ''),
    );
  }
  reasons.push(...notes);
  return {
    endpoint: s.endpoint,
    result,
    compared: s.compared,
    withSecondary: s.withSecondary,
    diffInterval,
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

/**
 * The overall verdict: FAIL if any endpoint fails; PASS only when every endpoint with traffic passes (ignored
 * endpoints are never recorded); INCONCLUSIVE otherwise, naming the endpoints not decided yet.
 * Endpoints come worst first (FAIL, INCONCLUSIVE, PASS), then by traffic.
 */
export function analyze(stats: readonly EndpointStats[], thresholds: Thresholds): Verdict {
  const order: Record<VerdictResult, number> = { FAIL: 0, INCONCLUSIVE: 1, PASS: 2 };
  const endpoints = stats
    .filter((s) => s.compared > 0)
    .map((s) => analyzeEndpoint(s, thresholds))
    .sort((x, y) => order[x.result] - order[y.result] || y.compared - x.compared || x.endpoint.localeCompare(y.endpoint));
  const compared = endpoints.reduce((n, e) => n + e.compared, 0);
  const failing = endpoints.filter((e) => e.result === 'FAIL');
  const undecided = endpoints.filter((e) => e.result === 'INCONCLUSIVE');
  const reasons: string[] = [];
  let result: VerdictResult;
  if (failing.length > 0) {
    result = 'FAIL';
    for (const e of failing) for (const r of e.reasons) reasons.push(`${e.endpoint}: ${r}`);
  } else if (endpoints.length === 0) {
    result = 'INCONCLUSIVE';
    reasons.push('no request compared yet');
  } else if (undecided.length > 0) {
    result = 'INCONCLUSIVE';
    const names = undecided.slice(0, 5).map((e) => `${e.endpoint} (${e.compared} compared)`);
    reasons.push(`${undecided.length} of ${endpoints.length} endpoint(s) not decided yet: ${names.join(', ')}${undecided.length > 5 ? ', …' : ''}`);
  } else {
    result = 'PASS';
    reasons.push(
      `${compared} requests compared over ${endpoints.length} endpoint(s): every one certainly below ${percent(thresholds.maxRealDiffRate)} real differences, no error or p99 latency regression`,
    );
  }
  const withoutBaseline = endpoints.filter((e) => !e.noiseBaseline).length;
  if (withoutBaseline > 0) reasons.push(`${withoutBaseline} endpoint(s) have no noise baseline (no secondary): their differences are not noise-cancelled`);
  return { result, compared, endpoints, reasons };
}
