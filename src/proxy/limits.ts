// What the service ports allow a downstream client: checked once when the gateway is built, frozen after.
import { readFileSync } from 'node:fs';
import { PATH_NORMALIZATIONS, type PathNormalization } from '../routing/index.js';

export interface DownstreamLimits {
  /** More request headers than this: 431 (Envoy's `max_headers_count` default). */
  maxRequestHeaders: number;
  /** Istio's `meshConfig.pathNormalization` mode applied before routing. */
  pathNormalization: PathNormalization;
  /** A request head not complete this long after its first byte: 408 and close (nginx `client_header_timeout`). */
  headerTimeoutMs: number;
  /** No request body byte for this long while the body is expected: 408 and close (nginx `client_body_timeout`). */
  bodyIdleTimeoutMs: number;
  /** An upgraded connection (WebSocket) with no byte either way for this long is closed (Envoy's stream_idle_timeout, 5 min). */
  upgradeIdleTimeoutMs: number;
  /** Open downstream connections across all service ports of this process; beyond it new ones are closed. 0: no cap. */
  maxConnections: number;
}

/** Per process: half the file descriptors the process may open (the rest are for upstreams, shadows, files), at most 10,000. */
export function defaultMaxConnections(): number {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return Math.max(64, Math.min(10_000, Math.floor(Number(m[1]) / 2)));
  } catch {
    // Not Linux: no /proc.
  }
  return 10_000;
}

export function downstreamLimits(overrides: Partial<DownstreamLimits> = {}): Readonly<DownstreamLimits> {
  const limits: DownstreamLimits = {
    maxRequestHeaders: 100,
    // Istio's own default is BASE; MERGE_SLASHES also closes `//admin` past a `prefix: /admin` rule.
    pathNormalization: 'MERGE_SLASHES',
    headerTimeoutMs: 60_000,
    bodyIdleTimeoutMs: 60_000,
    upgradeIdleTimeoutMs: 300_000,
    maxConnections: overrides.maxConnections ?? defaultMaxConnections(),
    ...overrides,
  };
  const whole = (name: keyof DownstreamLimits, min: number) => {
    const v = limits[name] as number;
    if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be a whole number >= ${min}, got ${v}`);
  };
  whole('maxRequestHeaders', 1);
  whole('headerTimeoutMs', 1);
  whole('bodyIdleTimeoutMs', 1);
  whole('upgradeIdleTimeoutMs', 1);
  whole('maxConnections', 0);
  if (!PATH_NORMALIZATIONS.includes(limits.pathNormalization)) {
    throw new RangeError(`pathNormalization must be one of ${PATH_NORMALIZATIONS.join(', ')}, got ${limits.pathNormalization}`);
  }
  return Object.freeze(limits);
}
