// The admin API's shapes (docs/admin-api.md): runs, verdicts, endpoints, fields and samples as served and printed.
import type { Interval, VerdictResult } from './types.js';

export type Result = VerdictResult;

export type RunReason = 'started' | 'candidate-changed' | 'primary-changed' | 'mirror-changed' | 'manual';

export interface RunSide {
  host: string;
  subset?: string;
  /** What made the run: a hash of the endpoints' addresses, ports and labels. */
  fingerprint: string;
}

export interface Run {
  id: string;
  /** `<VirtualService namespace/name>#<route name or index>` */
  route: string;
  candidate: RunSide;
  primary: RunSide;
  /** RFC 3339 */
  startedAt: string;
  endedAt: string | null;
  reason: RunReason;
  note?: string;
  compared: number;
  verdict: Result;
  reasons: string[];
}

export interface VerdictReport {
  result: Result;
  reasons: string[];
  runs: { run: Run; result: Result; reasons: string[] }[];
}

export interface EndpointReport {
  id: string;
  endpoint: string;
  compared: number;
  withSecondary: number;
  diffRate: number;
  diffInterval: Interval;
  noiseRate: number | null;
  primaryErrorRate: number;
  candidateErrorRate: number;
  primaryLatency: { p50: number; p99: number };
  candidateLatency: { p50: number; p99: number };
  verdict: Result;
  reasons: string[];
}

export interface FieldReport {
  field: string;
  kinds: Record<string, number>;
  rate: number;
  interval: Interval;
  noiseRate: number | null;
  timeLike: number;
  ignored: boolean;
  verdict: Result;
  example?: { primary: string; candidate: string };
  series: { at: string; compared: number; diffs: number }[];
}

export type Headers = Record<string, string | string[]>;

export interface Message {
  status?: number;
  headers: Headers;
  body: string;
  bodyTruncated: boolean;
  bodyEncoding: 'utf8' | 'base64';
  latencyMs?: number;
  error?: string;
}

export interface SampleRequest {
  method: string;
  path: string;
  query: string;
  headers: Headers;
  body: string;
  bodyTruncated: boolean;
  bodyEncoding: 'utf8' | 'base64';
}

/** One whole exchange kept as a sample, redacted before it is written. `id`/`endpointId` are the store's. */
export interface SampleDoc {
  id: string;
  at: string;
  requestId: string;
  endpointId: string;
  request: SampleRequest;
  primary: Message;
  candidate?: Message;
  secondary?: Message;
  diffs: { field: string; kind: string; primary?: string; candidate?: string }[];
}
