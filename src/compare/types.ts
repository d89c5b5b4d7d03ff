// The data that comparison works on and produces. Plain data: it crosses a worker-thread boundary and
// goes into the store.
import { type CompareSettings, DEFAULT_COMPARE_SETTINGS, type GrpcDescriptorSet, type Thresholds } from '../config/model.js';

import type { SampleDoc } from './report.js';

/** The settings type has one owner (config); compare reads it, compiled once by compileRules. */
export type { CompareSettings, GrpcDescriptorSet, Thresholds };

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
  /** The endpoint that answered (`http://address:port`), for the primary: where gRPC server reflection asks. */
  origin?: string;
}

/** One mirrored request with every answer it got. */
export interface Exchange {
  /** Epoch milliseconds when the request arrived. */
  at: number;
  requestId: string;
  /** Route name (HTTPRoute.name or `<vs>.<index>`), as ignoreEndpoints patterns name it. */
  route: string;
  /** The run this exchange belongs to: its route key and the fingerprint of what was compared (see comparator/runs.ts). */
  run?: { route: string; fingerprint: string };
  /** The request as forwarded (lower-case names), kept redacted in samples. */
  requestHeaders?: Record<string, string | string[] | undefined>;
  /** The request body, captured bounded like the answers'. */
  requestBody?: CapturedBody;
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
  | 'no_answer'
  /** Both values are times (RFC 3339, HTTP date, epoch s/ms) further apart than the tolerance. */
  | 'time_changed'
  /** Both values are times within the tolerance: reported, never counted as a difference. */
  | 'time_within_tolerance'
  /** Both values look like generated ids of one shape (UUID, hex, token): a difference, usually noise. */
  | 'id_changed';

/** One difference, at a field whose array indices are folded (`body.items[*].price`), so it aggregates. */
export interface FieldDiff {
  /** `status`, `header.<name>`, `body` (whole body) or `body.<json path>` with `[*]` for array indices. */
  field: string;
  kind: DiffKind;
  /** Short renderings of the two values (bounded length), for samples. */
  left?: string;
  right?: string;
}

/** The defaults live with the config model, where ShadowgateConfig reads them. */
export const DEFAULT_THRESHOLDS: Thresholds = DEFAULT_COMPARE_SETTINGS.thresholds;

/** What one exchange contributes to the store, once compared. */
export interface ComparisonResult {
  at: number;
  /** `METHOD /path/{id}` (the route is the run's). */
  endpoint: string;
  run?: { route: string; fingerprint: string };
  /** The whole exchange, redacted and bounded, kept as a sample when it differs (see sample.ts). */
  sample?: SampleDoc;
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
  /** Exchanges where they differ only by time-like values within the tolerance (not in candidateDiffs). */
  timeLike?: number;
  /** One example pair of the candidate's differences (redacted, bounded). */
  example?: { kind: DiffKind; primary: string; candidate: string };
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

// ---------------------------------------------------------------------------------------------
// The verdict, as analyze() derives it from the aggregates.

export type VerdictResult = 'PASS' | 'FAIL' | 'INCONCLUSIVE';

/** A rate's confidence interval, 0..1 (for a difference of rates, −1..1). */
export interface Interval {
  low: number;
  high: number;
}

export interface FieldVerdict {
  field: string;
  /** Interval of candidateRate − noiseRate (Newcombe), or of candidateRate without a secondary (Wilson). */
  interval: Interval;
  /** PASS: certainly within maxRealDiffRate, or noise; FAIL: certainly above; else INCONCLUSIVE. */
  result: VerdictResult;
  timeLike: number;
  example?: { kind: DiffKind; primary: string; candidate: string };
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
  withSecondary: number;
  /** Interval of the endpoint's real-difference rate: the worst real field, or no difference at all. */
  diffInterval: Interval;
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

/** What a run compares: one candidate against one primary on one route, each with a fingerprint (comparator/runs.ts). */
export interface RunIdentity {
  /** `<VirtualService namespace/name>#<route name or index>` */
  route: string;
  /** Of the three below together: a run continues while it is unchanged. */
  fingerprint: string;
  candidate: { host: string; subset?: string; fingerprint: string };
  primary: { host: string; subset?: string; fingerprint: string };
  /** The route's mirror config (targets and percentages). */
  mirrorFingerprint: string;
}
