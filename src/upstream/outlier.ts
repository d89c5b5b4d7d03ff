// Passive health checking with Envoy's consecutive-error rules (outlier_detection_impl.cc), evaluated lazily.
import type { OutlierDetectionSettings } from '../config/model.js';
import type { Host } from './host.js';
import type { Outcome } from './types.js';

/** Istio's default for consecutive5xxErrors when outlierDetection is present but the field is not. */
export const DEFAULT_CONSECUTIVE_5XX = 5;
/** Envoy's max_ejection_time default (or the base time, when larger). */
export const DEFAULT_MAX_EJECTION_TIME_MS = 300_000;

export interface OutlierCounters {
  ejections: number;
  ejectionsOverflow: number;
}

export class OutlierDetector {
  /** 0 disables the rule. */
  private readonly consecutive5xx: number;
  private readonly consecutiveGateway: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly intervalMs: number;
  private readonly maxEjectionPercent: number;
  readonly minHealthPercent: number;

  constructor(s: OutlierDetectionSettings) {
    // Istio: consecutive5xxErrors defaults to 5 (Envoy's consecutive_5xx, enforced at 100%) and 0 disables
    // it; consecutiveGatewayErrors is off unless set (Envoy enforces it at 0% by default).
    this.consecutive5xx = nonNegative(s.consecutive5xxErrors ?? DEFAULT_CONSECUTIVE_5XX, 'consecutive5xxErrors');
    this.consecutiveGateway = nonNegative(s.consecutiveGatewayErrors ?? 0, 'consecutiveGatewayErrors');
    this.baseMs = nonNegative(s.baseEjectionTimeMs, 'baseEjectionTimeMs');
    this.maxMs = Math.max(DEFAULT_MAX_EJECTION_TIME_MS, this.baseMs);
    this.intervalMs = nonNegative(s.intervalMs, 'intervalMs');
    this.maxEjectionPercent = Math.min(100, nonNegative(s.maxEjectionPercent, 'maxEjectionPercent'));
    this.minHealthPercent = Math.min(100, nonNegative(s.minHealthPercent, 'minHealthPercent'));
  }

  /**
   * Returns the host to service once its ejection time has passed. Envoy checks on its interval timer;
   * checking on each pick gives the same result without a timer, just without rounding up to the tick.
   */
  refresh(h: Host, now: number): void {
    if (h.ejected && now >= h.ejectedUntil) {
      h.ejected = false;
      h.lastUnejectAt = now;
      // As Envoy: a returning host starts from clean counters so a couple of errors do not re-eject it.
      h.consecutive5xx = 0;
      h.consecutiveGateway = 0;
    }
  }

  /** Feeds one outcome; may eject `h`. `hosts` is the whole cluster (for maxEjectionPercent). */
  record(h: Host, outcome: Outcome, hosts: readonly Host[], now: number, counters: OutlierCounters): void {
    const code = statusOf(outcome);
    if (code === undefined) return;
    this.refresh(h, now);
    if (code < 500) {
      h.consecutive5xx = 0;
      h.consecutiveGateway = 0;
      return;
    }
    let trip = false;
    if (code === 502 || code === 503 || code === 504) {
      h.consecutiveGateway++;
      if (this.consecutiveGateway > 0 && h.consecutiveGateway >= this.consecutiveGateway) {
        h.consecutiveGateway = 0;
        trip = true;
      }
    } else {
      // Envoy: a 5xx that is not a gateway error breaks the gateway-error run.
      h.consecutiveGateway = 0;
    }
    h.consecutive5xx++;
    if (this.consecutive5xx > 0 && h.consecutive5xx >= this.consecutive5xx) {
      h.consecutive5xx = 0;
      trip = true;
    }
    if (trip && !h.ejected) this.eject(h, hosts, now, counters);
  }

  private eject(h: Host, hosts: readonly Host[], now: number, counters: OutlierCounters): void {
    let ejected = 0;
    for (const other of hosts) {
      this.refresh(other, now);
      if (other.ejected) ejected++;
    }
    // Envoy's rule, strictly: eject only if the share of ejected hosts stays within maxEjectionPercent.
    // With Istio's default of 10% that means clusters of fewer than 10 endpoints never eject; Envoy's
    // `always_eject_one_host` would relax this, but Istio does not set it, so neither do we.
    if ((100 * (ejected + 1)) / hosts.length > this.maxEjectionPercent) {
      counters.ejectionsOverflow++;
      return;
    }
    // Envoy shrinks the multiplier by one per interval the host stayed healthy since its last return.
    if (h.lastUnejectAt !== undefined && this.intervalMs > 0) {
      const healthyIntervals = Math.floor((now - h.lastUnejectAt) / this.intervalMs);
      h.ejectMultiplier = Math.max(0, h.ejectMultiplier - healthyIntervals);
    }
    if (h.ejectMultiplier * this.baseMs < this.maxMs + this.baseMs) h.ejectMultiplier++;
    const duration = Math.min(this.baseMs * h.ejectMultiplier, this.maxMs);
    h.ejected = true;
    h.ejectedUntil = now + duration;
    h.ejections++;
    counters.ejections++;
  }

  /** Envoy's panic mode: below minHealthPercent healthy, balance over every host, ejected or not. */
  panics(healthy: number, total: number): boolean {
    return total > 0 && (100 * healthy) / total < this.minHealthPercent;
  }
}

/**
 * Maps an outcome to the status code Envoy's outlier detector sees when local-origin errors are not split
 * (Istio's default): connect failures and resets are 503, timeouts 504, cancellations are not counted.
 */
function statusOf(o: Outcome): number | undefined {
  switch (o.kind) {
    case 'response':
      return o.status;
    case 'connect-failure':
    case 'reset':
    case 'refused-stream':
      return 503;
    case 'timeout':
      return 504;
    case 'cancelled':
      return undefined;
  }
}

function nonNegative(n: number, what: string): number {
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`outlierDetection.${what} must be >= 0, got ${n}`);
  return n;
}
