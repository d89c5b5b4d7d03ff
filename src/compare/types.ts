// The data that comparison works on and produces. Plain data: it crosses a worker-thread boundary and
// goes into the store.
import { DEFAULT_COMPARE_SETTINGS } from '../config/model.js';

/** A response body as captured off the data path: bytes up to a bound, then only size and hash. */
export interface CapturedBody {
  /** Total bytes seen (the whole body, even beyond the capture bound). */
  size: number;
  /** sha256 (hex) of the whole body as it came off the wire (still compressed, if it was). */
  sha256: string;
  /** True when the body was larger than the capture bound: `bytes` is absent and only size/hash compare. */
  truncated: boolean;
  /** The body as it came off the wire (compressed if `content-encoding` says so), when not truncated. */
  bytes?: Uint8Array;
}

/** One answer (primary, candidate or secondary) to one mirrored request. */
export interface CapturedResponse {
  /** 0 when there was no answer (see `error`). */
  status: number;
  /** Lower-cased header names. */
  headers: Record<string, string | string[]>;
  body: CapturedBody;
  /** From sending the request to the end of the answer. */
  latencyMs: number;
  /** Why there is no (complete) answer: `timeout`, `connect_error`, `upstream_reset`, `abandoned:<reason>`. */
  error?: string;
}

/** One mirrored request with every answer it got. */
export interface Exchange {
  /** Epoch milliseconds when the request arrived. */
  at: number;
  requestId: string;
  /** Route name (HTTPRoute.name or `<vs>.<index>`). */
  route: string;
  method: string;
  /** Request target as received (path and query). */
  path: string;
  host: string;
  primarySubset: string;
  primary: CapturedResponse;
  /** The new version: a mirror to another subset than the primary's. */
  candidateSubset?: string;
  candidate?: CapturedResponse;
  /** The noise baseline: a mirror to the primary's own subset (Diffy's "secondary"). */
  secondary?: CapturedResponse;
}

export type DiffKind =
  | 'status_changed'
  | 'header_changed'
  | 'header_missing'
  | 'header_extra'
  | 'value_changed'
  | 'type_changed'
  | 'field_missing'
  | 'field_extra'
  | 'array_length'
  | 'array_order'
  | 'text_changed'
  | 'binary_changed'
  /** Bodies beyond the capture bound: compared by size and hash only. */
  | 'size_or_hash_changed'
  /** One side answered, the other did not (error, timeout, abandoned). */
  | 'no_answer';

/** One difference, at a field whose array indices are folded (`body.items[*].price`), so it aggregates. */
export interface FieldDiff {
  /** `status`, `header.<name>`, `body` (whole body) or `body.<json path>` with `[*]` for array indices. */
  field: string;
  kind: DiffKind;
  /** Short renderings of the two values (bounded length), for samples. */
  left?: string;
  right?: string;
}

export interface Thresholds {
  /**
   * Diffy's relative threshold: (candidate rate − noise rate) / (candidate rate + noise rate) must exceed it,
   * Diffy's own formulation (see analyze.ts). Default 0.2.
   */
  relative: number;
  /** Diffy's absolute threshold: candidate rate − noise rate must exceed it. Default 0.0003 (0.03%). */
  absolute: number;
  /** A field whose real-difference rate exceeds this fails the verdict. Default 0.01. */
  maxRealDiffRate: number;
  /** Shadow error rate (5xx and no answer) may exceed the primary's by at most this. Default 0.01. */
  maxErrorRateIncrease: number;
  /** Shadow p99 latency may exceed the primary's by at most this ratio. Default 0.2 (20%)... */
  maxP99LatencyIncrease: number;
  /** ...and by at least this many milliseconds, so tiny absolute differences do not fail. Default 50. */
  minP99LatencyIncreaseMs: number;
  /** Fewer compared requests than this (per endpoint and overall) is INCONCLUSIVE. Default 100. */
  minSample: number;
}

export interface CompareRules {
  /** Header names never compared (added to the built-in set: hop-by-hop, date, server, ...). */
  ignoreHeaders: string[];
  /** JSON paths never compared, in the folded form (`body.meta.generatedAt`, `body.items[*].id`); `*` matches one segment. */
  ignoreFields: string[];
  /** Endpoint patterns never compared (`GET /health`, `* /internal/*`). */
  ignoreEndpoints: string[];
  /** Headers and JSON paths whose values are never stored in samples. */
  redactHeaders: string[];
  redactFields: string[];
  /**
   * JSON arrays (folded paths, same syntax as ignoreFields) whose order carries no meaning: the same elements
   * in another order are equal there. Optional; added after the first version.
   */
  unorderedArrays?: string[];
  /** Body bytes captured per answer; beyond it only size and hash compare. */
  maxBodyBytes: number;
  thresholds: Thresholds;
}

/** The defaults live with the config model, where ShadowgateConfig reads them. */
export const DEFAULT_THRESHOLDS: Thresholds = DEFAULT_COMPARE_SETTINGS.thresholds;

export const DEFAULT_COMPARE_RULES: CompareRules = Object.freeze({
  ignoreHeaders: [],
  ignoreFields: [],
  ignoreEndpoints: [],
  redactHeaders: [],
  redactFields: [],
  maxBodyBytes: 256 * 1024,
  thresholds: DEFAULT_THRESHOLDS,
}) as CompareRules;

/** What one exchange contributes to the store, once compared. */
export interface ComparisonResult {
  at: number;
  /** `route METHOD /path/{id}` */
  endpoint: string;
  requestId: string;
  primary: { status: number; latencyMs: number; error?: string };
  candidate?: { status: number; latencyMs: number; error?: string };
  secondary?: { status: number; latencyMs: number; error?: string };
  /** Primary vs candidate. */
  candidateDiffs: FieldDiff[];
  /** Primary vs secondary (the noise); undefined without a secondary. */
  secondaryDiffs?: FieldDiff[];
}

// ---------------------------------------------------------------------------------------------
// Aggregates, as the store keeps them and the verdict reads them.

export interface FieldStats {
  field: string;
  /** Exchanges where primary and candidate differ at this field. */
  candidateDiffs: number;
  /** Exchanges where primary and secondary differ at this field (the noise). */
  secondaryDiffs: number;
  /** Candidate differences by kind. */
  kinds: Partial<Record<DiffKind, number>>;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
}

export interface EndpointStats {
  endpoint: string;
  /** Exchanges whose candidate answer was compared with the primary's. */
  compared: number;
  /** Of those, how many also had a secondary answer (the noise baseline's sample size). */
  withSecondary: number;
  /** 5xx answers or no answer. */
  primaryErrors: number;
  candidateErrors: number;
  primaryLatency: LatencySummary;
  candidateLatency: LatencySummary;
  fields: FieldStats[];
}

export interface Sample {
  requestId: string;
  at: number;
  kind: DiffKind;
  left?: string;
  right?: string;
}

// ---------------------------------------------------------------------------------------------
// The verdict, as analyze() derives it from the aggregates.

export type VerdictResult = 'PASS' | 'FAIL' | 'INCONCLUSIVE';

export interface FieldVerdict {
  field: string;
  /** Exchanges differing at this field (primary vs candidate) / compared. */
  candidateRate: number;
  /** Exchanges differing at this field (primary vs secondary) / withSecondary; 0 without a secondary. */
  noiseRate: number;
  /** Diffy's test: the candidate differs here clearly more often than the primary differs from itself. */
  real: boolean;
  kinds: Partial<Record<DiffKind, number>>;
}

export interface EndpointVerdict {
  endpoint: string;
  result: VerdictResult;
  compared: number;
  /** False when no exchange had a secondary answer: every difference then counts as real. */
  noiseBaseline: boolean;
  /** Every field that differed (candidate or noise), the largest candidate rate first. */
  fields: FieldVerdict[];
  /** The largest candidateRate − noiseRate over the real fields (0 when none is real). */
  realDiffRate: number;
  primaryErrorRate: number;
  candidateErrorRate: number;
  primaryP50: number;
  primaryP99: number;
  candidateP50: number;
  candidateP99: number;
  /** Sentences naming what decided the result. */
  reasons: string[];
}

export interface Verdict {
  result: VerdictResult;
  /** Compared exchanges over all endpoints. */
  compared: number;
  endpoints: EndpointVerdict[];
  reasons: string[];
}
