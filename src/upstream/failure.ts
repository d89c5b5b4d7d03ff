// The one failure vocabulary: how an upstream exchange failed, and what each failure is called everywhere else.
import type { AbandonReason } from '../telemetry/index.js';
import type { PickFlag } from './types.js';

/**
 * How an upstream exchange failed (what `classifyUpstreamError` returns and `Outcome` reports). `refused-stream`
 * is an HTTP/2 stream the upstream refused unprocessed (RST_STREAM REFUSED_STREAM, or above a GOAWAY's last
 * stream id: RFC 9113 §8.7), which Envoy's `refused-stream` retry condition retries.
 */
export type UpstreamFailure = 'connect-failure' | 'timeout' | 'reset' | 'refused-stream' | 'cancelled';

/** The failures a retry policy can retry (a cancelled request is never retried). */
export type RetriableFailure = Exclude<UpstreamFailure, 'cancelled'>;

/** Envoy response flags that name an upstream failure. */
export type FailureFlag = 'UF' | 'UT' | 'UC' | 'UR' | 'DC';

export interface FailureNames {
  /**
   * Envoy's response flag (https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage):
   * UF upstream connection failure, UT upstream request timeout, UC upstream connection termination,
   * UR upstream remote reset (Envoy's flag for a refused stream), DC downstream connection termination.
   */
  flag: FailureFlag;
  /** The status of the local reply when nothing was sent downstream yet (Envoy: 503 for UF/UC, 504 for UT). */
  status: number;
  /** The reason a shadow that failed this way is counted under in `shadowgate_shadow_abandoned_total`. */
  abandon: AbandonReason;
}

/** The one table from a failure to its response flag, status code and shadow abandon reason. */
export const FAILURES: Readonly<Record<UpstreamFailure, Readonly<FailureNames>>> = Object.freeze({
  'connect-failure': { flag: 'UF', status: 503, abandon: 'connect_error' },
  timeout: { flag: 'UT', status: 504, abandon: 'timeout' },
  reset: { flag: 'UC', status: 503, abandon: 'upstream_reset' },
  'refused-stream': { flag: 'UR', status: 503, abandon: 'upstream_reset' },
  // A cancel the shadow did not ask for (it records its own reason first) is a broken exchange to it.
  // No local reply follows a cancel (the client is gone; Envoy logs response code 0).
  cancelled: { flag: 'DC', status: 0, abandon: 'upstream_reset' },
});

/** Why a shadow is abandoned when no endpoint could be picked: UO means its connections and queue are full. */
export const PICK_ABANDON: Readonly<Record<PickFlag, AbandonReason>> = Object.freeze({
  NC: 'no_endpoint',
  UH: 'no_endpoint',
  UO: 'too_many_in_flight',
});
