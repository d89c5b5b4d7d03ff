// Benchmark and quality check: the labelled compare corpus, compared and analysed; precision/recall of "real" fields.

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import {
  aggregateResults,
  analyze,
  type CapturedResponse,
  type CompareSettings,
  type ComparisonResult,
  compareExchange,
  compileRules,
  type Exchange,
} from '../src/compare/index.js';
import { DEFAULT_COMPARE_SETTINGS } from '../src/config/index.js';

const CORPUS_DIR = new URL('../../test/fixtures/compare-corpus/', import.meta.url);
/** Exchanges per case: enough for a PASS to be certain (no difference in 400 is below 1% at 95%) and for shares as small as 0.5%. */
const EXCHANGES_PER_CASE = 400;

/** One answer in a corpus file; the body is `json`, `text` or `base64` (raw bytes), compressed per `encoding`. */
export interface CorpusAnswer {
  status?: number;
  headers?: Record<string, string | string[]>;
  json?: unknown;
  text?: string;
  base64?: string;
  encoding?: 'gzip' | 'br' | 'deflate';
  /** Beyond the capture bound: only size and hash are kept. */
  truncated?: boolean;
  latencyMs?: number;
  error?: string;
}

/** One labelled pair (or triple): which fields really differ and which only look different. */
export interface CorpusCase {
  name: string;
  note?: string;
  route?: string;
  method?: string;
  path: string;
  rules?: Partial<CompareSettings>;
  primary: CorpusAnswer;
  candidate: CorpusAnswer;
  secondary?: CorpusAnswer;
  /** Fraction of exchanges whose candidate answer is `candidate` (the others get the primary's). Default 1. */
  candidateShare?: number;
  /** Fraction of exchanges whose secondary answer is `secondary` (the others get the primary's). Default 1. */
  secondaryShare?: number;
  /** Fields that really differ: the analysis must call them real. */
  real: string[];
  /** Fields that differ only as noise: the analysis must not call them real. */
  noise: string[];
  /** The expected endpoint verdict; NONE when the endpoint is ignored (nothing compared). */
  verdict?: 'PASS' | 'FAIL' | 'INCONCLUSIVE' | 'NONE';
}

export function loadCorpus(): CorpusCase[] {
  const cases: CorpusCase[] = [];
  for (const f of readdirSync(CORPUS_DIR).sort()) {
    if (f.endsWith('.json')) cases.push(...(JSON.parse(readFileSync(new URL(f, CORPUS_DIR), 'utf8')) as CorpusCase[]));
  }
  return cases;
}

function captured(a: CorpusAnswer): CapturedResponse {
  const headers: Record<string, string | string[]> = { ...(a.headers ?? {}) };
  let bytes: Uint8Array = new Uint8Array(0);
  if (a.json !== undefined) {
    bytes = Buffer.from(JSON.stringify(a.json));
    headers['content-type'] ??= 'application/json';
  } else if (a.text !== undefined) {
    bytes = Buffer.from(a.text);
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else if (a.base64 !== undefined) {
    bytes = Buffer.from(a.base64, 'base64');
  }
  if (a.encoding !== undefined) {
    bytes = a.encoding === 'gzip' ? gzipSync(bytes) : a.encoding === 'br' ? brotliCompressSync(bytes) : deflateSync(bytes);
    headers['content-encoding'] = a.encoding;
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const body = a.truncated ? { size: bytes.length, sha256, truncated: true } : { size: bytes.length, sha256, truncated: false, bytes };
  const r: CapturedResponse = { status: a.status ?? (a.error !== undefined ? 0 : 200), headers, body, latencyMs: a.latencyMs ?? 20 };
  if (a.error !== undefined) r.error = a.error;
  return r;
}

/** Spreads `share` of n exchanges evenly (i is chosen when floor((i+1)·share) steps). */
function chosen(i: number, share: number): boolean {
  return Math.floor((i + 1) * share) > Math.floor(i * share);
}

export function caseExchanges(c: CorpusCase, n = EXCHANGES_PER_CASE): Exchange[] {
  const primary = captured(c.primary);
  const candidate = captured(c.candidate);
  const secondary = c.secondary ? captured(c.secondary) : undefined;
  const out: Exchange[] = [];
  for (let i = 0; i < n; i++) {
    const ex: Exchange = {
      at: 1_714_557_600_000 + i,
      requestId: `${c.name}-${i}`,
      route: `corpus-${c.name}`,
      method: c.method ?? 'GET',
      path: c.path,
      host: 'corpus',
      primarySubset: 'v1',
      primary,
      candidateSubset: 'v2',
      candidate: chosen(i, c.candidateShare ?? 1) ? candidate : primary,
    };
    if (secondary) ex.secondary = chosen(i, c.secondaryShare ?? 1) ? secondary : primary;
    out.push(ex);
  }
  return out;
}

export interface CorpusReport {
  cases: number;
  comparisons: number;
  /** Time in compareExchange only (no loading, no analysis). */
  compareMs: number;
  analyzeMs: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  precision: number;
  recall: number;
  verdictsMatched: number;
  verdictsExpected: number;
  /** One line per disagreement with the labels, for debugging the corpus or the comparer. */
  mismatches: string[];
}

export function runCompareCorpus(cases: CorpusCase[] = loadCorpus()): CorpusReport {
  let comparisons = 0;
  let compareMs = 0;
  let analyzeMs = 0;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let verdictsMatched = 0;
  let verdictsExpected = 0;
  const mismatches: string[] = [];
  for (const c of cases) {
    const rules = compileRules({ ...DEFAULT_COMPARE_SETTINGS, ...c.rules });
    const exchanges = caseExchanges(c);
    const results: ComparisonResult[] = [];
    const t0 = performance.now();
    for (const ex of exchanges) {
      const r = compareExchange(ex, rules);
      if (r) results.push(r);
    }
    compareMs += performance.now() - t0;
    comparisons += exchanges.length;
    const t1 = performance.now();
    const verdict = analyze(aggregateResults(results), rules.thresholds);
    analyzeMs += performance.now() - t1;

    const predicted = new Set(verdict.endpoints.flatMap((e) => e.fields.filter((f) => f.real).map((f) => f.field)));
    const real = new Set(c.real);
    for (const f of predicted) {
      if (real.has(f)) tp++;
      else {
        fp++;
        mismatches.push(`${c.name}: ${f} called real (labelled ${c.noise.includes(f) ? 'noise' : 'unlabelled'})`);
      }
    }
    for (const f of real) {
      if (!predicted.has(f)) {
        fn++;
        mismatches.push(`${c.name}: ${f} labelled real, not detected`);
      }
    }
    if (c.verdict !== undefined) {
      verdictsExpected++;
      const got = results.length === 0 ? 'NONE' : (verdict.endpoints[0]?.result ?? 'NONE');
      if (got === c.verdict) verdictsMatched++;
      else mismatches.push(`${c.name}: verdict ${got}, expected ${c.verdict} (${verdict.reasons.join('; ')})`);
    }
  }
  return {
    cases: cases.length,
    comparisons,
    compareMs,
    analyzeMs,
    truePositives: tp,
    falsePositives: fp,
    falseNegatives: fn,
    precision: tp + fp === 0 ? 1 : tp / (tp + fp),
    recall: tp + fn === 0 ? 1 : tp / (tp + fn),
    verdictsMatched,
    verdictsExpected,
    mismatches,
  };
}

/** Two ~100 KB JSON answers (2,000 records) differing at one field of one record. */
function largeExchange(): Exchange {
  const rows = Array.from({ length: 2_000 }, (_, i) => ({ id: i, name: `row-${i}`, price: i * 1.5, tags: ['a', 'b'], meta: { ok: true } }));
  const a = captured({ json: { rows } });
  const changed = rows.map((r) => (r.id === 1_234 ? { ...r, price: 0 } : r));
  const b = captured({ json: { rows: changed } });
  return { at: 0, requestId: 'large', route: 'bench', method: 'GET', path: '/rows', host: 'bench', primarySubset: 'v1', primary: a, candidate: b };
}

export function benchCompareCorpus(): { name: string; ms: number; detail: string }[] {
  const cases = loadCorpus();
  const runs: CorpusReport[] = [];
  for (let i = 0; i < 5; i++) runs.push(runCompareCorpus(cases));
  runs.sort((x, y) => x.compareMs + x.analyzeMs - (y.compareMs + y.analyzeMs));
  const r = runs[2]!;
  const perComparisonUs = (r.compareMs / r.comparisons) * 1000;

  const rules = compileRules(DEFAULT_COMPARE_SETTINGS);
  const large = largeExchange();
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    compareExchange(large, rules);
    times.push(performance.now() - t);
  }
  times.sort((x, y) => x - y);
  return [
    {
      name: `compare + analyze the labelled corpus (${r.cases} cases × ${EXCHANGES_PER_CASE} exchanges)`,
      ms: r.compareMs + r.analyzeMs,
      detail:
        `precision ${r.precision.toFixed(3)}, recall ${r.recall.toFixed(3)} of real-difference fields ` +
        `(${r.truePositives} TP, ${r.falsePositives} FP, ${r.falseNegatives} FN); verdicts ${r.verdictsMatched}/${r.verdictsExpected} as labelled; ` +
        `${perComparisonUs.toFixed(1)} µs per comparison (${r.comparisons} comparisons, candidate + secondary), analysis ${r.analyzeMs.toFixed(1)} ms; median of 5`,
    },
    {
      name: 'compare two 100 KB JSON answers (2,000 records, one field differs)',
      ms: times[3]!,
      detail: `${(large.primary.body.size / 1024) | 0} KiB per body; median of 7`,
    },
  ];
}
