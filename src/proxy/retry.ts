// Envoy's retry_on conditions, decided once per attempt outcome (https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/router_filter#x-envoy-retry-on).
import type { RetryPolicy } from '../config/index.js';
import type { RetriableFailure } from '../upstream/index.js';

/** Precomputed per policy (policies are frozen and shared, so a WeakMap caches the compiled form). */
interface CompiledRetry {
  statuses: Set<number>;
  any5xx: boolean;
  gateway: boolean;
  connectFailure: boolean;
  reset: boolean;
  /** Envoy's `refused-stream`: an HTTP/2 stream the upstream refused unprocessed; `reset` (and 5xx) cover it too. */
  refusedStream: boolean;
  /** gRPC status codes retried when an answer's headers carry them (x-envoy-retry-grpc-on). */
  grpc: Set<string>;
}

/** Envoy's gRPC retry conditions: the status in a trailers-only answer's headers (trailers come too late). */
const GRPC_ON: Record<string, string> = { cancelled: '1', 'deadline-exceeded': '4', 'resource-exhausted': '8', internal: '13', unavailable: '14' };

const cache = new WeakMap<RetryPolicy, CompiledRetry>();

function compile(p: RetryPolicy): CompiledRetry {
  let c = cache.get(p);
  if (c) return c;
  const on = new Set(p.retryOn);
  const retriableCodes = on.has('retriable-status-codes');
  c = {
    statuses: new Set(retriableCodes ? p.retryOn.filter((t) => /^\d{3}$/.test(t)).map(Number) : []),
    any5xx: on.has('5xx'),
    gateway: on.has('gateway-error'),
    connectFailure: on.has('connect-failure') || on.has('5xx') || on.has('gateway-error') || on.has('reset'),
    reset: on.has('reset') || on.has('5xx') || on.has('gateway-error'),
    refusedStream: on.has('refused-stream') || on.has('reset') || on.has('5xx') || on.has('gateway-error'),
    grpc: new Set(p.retryOn.flatMap((t) => (GRPC_ON[t] ? [GRPC_ON[t]] : []))),
  };
  cache.set(p, c);
  return c;
}

export function retriableStatus(p: RetryPolicy, status: number): boolean {
  const c = compile(p);
  return (c.any5xx && status >= 500) || (c.gateway && status >= 502 && status <= 504) || c.statuses.has(status);
}

/** True when a gRPC answer's headers carry a status the policy retries (only gRPC requests ask). */
export function retriableGrpc(p: RetryPolicy, grpcStatus: string | string[] | undefined): boolean {
  const s = Array.isArray(grpcStatus) ? grpcStatus[0] : grpcStatus;
  return s !== undefined && compile(p).grpc.has(s);
}

export function retriableFailure(p: RetryPolicy, failure: RetriableFailure): boolean {
  const c = compile(p);
  if (failure === 'connect-failure') return c.connectFailure;
  if (failure === 'refused-stream') return c.refusedStream;
  return c.reset;
}

/** Envoy's default back-off: 25 ms base, doubling, full jitter, capped at 250 ms. */
export function backoffMs(attempt: number, random: number): number {
  return Math.min(250, 25 * 2 ** (attempt - 1)) * random;
}
