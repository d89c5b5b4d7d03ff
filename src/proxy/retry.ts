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
}

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
  };
  cache.set(p, c);
  return c;
}

export function retriableStatus(p: RetryPolicy, status: number): boolean {
  const c = compile(p);
  return (c.any5xx && status >= 500) || (c.gateway && status >= 502 && status <= 504) || c.statuses.has(status);
}

export function retriableFailure(p: RetryPolicy, failure: RetriableFailure): boolean {
  const c = compile(p);
  if (failure === 'connect-failure') return c.connectFailure;
  return c.reset;
}

/** Envoy's default back-off: 25 ms base, doubling, full jitter, capped at 250 ms. */
export function backoffMs(attempt: number, random: number): number {
  return Math.min(250, 25 * 2 ** (attempt - 1)) * random;
}
