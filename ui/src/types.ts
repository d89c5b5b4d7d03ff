// The admin API's shapes, as docs/admin-api.md specifies them.
export type Result = 'PASS' | 'FAIL' | 'INCONCLUSIVE';
export interface Side {
  host: string;
  subset?: string;
  fingerprint: string;
}
export interface Run {
  id: string;
  route: string;
  candidate: Side;
  primary: Side;
  startedAt: string;
  endedAt: string | null;
  reason: string;
  note?: string;
  compared: number;
  verdict: Result;
  reasons: string[];
}
export interface Interval {
  low: number;
  high: number;
}
export interface Endpoint {
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
export interface Field {
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
export interface Diff {
  field: string;
  kind: string;
  primary?: string;
  candidate?: string;
}
export interface Sample {
  id: string;
  at: string;
  requestId: string;
  endpointId: string;
  request: SampleRequest;
  primary: Message;
  candidate?: Message;
  secondary?: Message;
  diffs: Diff[];
}
export interface TrafficMirror {
  host: string;
  subset?: string;
  percent: number;
  rps?: number;
  sampled: number;
  delivered: number;
  abandoned: Record<string, number>;
}
export interface TrafficRoute {
  route: string;
  listener: string;
  primary: { host: string; subset?: string; rps: number };
  destinations?: { host: string; subset?: string; weight: number; rps: number }[];
  mirrors: TrafficMirror[];
}
