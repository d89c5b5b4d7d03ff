// Public data types of the upstream module: what a pick returns, how a request ended, what stats show.
import type { Pool } from 'undici';
import type { Endpoint } from '../config/model.js';
import type { UpstreamFailure } from './failure.js';
import type { H2Pool } from './h2/index.js';

/** How one upstream attempt ended, as reported by the caller through `onDone`. */
export type Outcome = { kind: 'response'; status: number } | { kind: UpstreamFailure };

/** Envoy response flags for a pick that found nothing to send to. */
export type PickFlag = 'NC' | 'UH' | 'UO';

export interface Picked {
  ok: true;
  endpoint: Endpoint;
  /** The endpoint's keep-alive pool (HTTP/1.1 or HTTP/2); never retries on its own. */
  dispatcher: Pool | H2Pool;
  /** `http://address:port` of the endpoint (IPv6 in brackets). */
  origin: string;
  /** Report how the request ended; releases the request slot. Idempotent: only the first call counts. */
  onDone(outcome: Outcome): void;
}

export interface NotPicked {
  ok: false;
  /** NC: no such cluster; UH: no healthy endpoint; UO: circuit breaker overflow. */
  flag: PickFlag;
}

export type PickResult = Picked | NotPicked;

export interface EndpointStats {
  address: string;
  port: number;
  weight: number;
  activeRequests: number;
  ejected: boolean;
  /** Milliseconds left in the current ejection (0 when not ejected). */
  ejectedForMs: number;
  /** Times this endpoint was ejected since its pool was created. */
  ejections: number;
  consecutive5xx: number;
  consecutiveGatewayErrors: number;
  /** Connect failures in a row (reset by any successful connect or response). */
  connectFailures: number;
  /** Milliseconds left before this endpoint is dialled again (0 when not backing off). */
  backoffForMs: number;
  pool: { connected: number; free: number; pending: number; queued: number; running: number; size: number };
}

export interface ClusterCounters {
  /** Picks that returned an endpoint. */
  picked: number;
  /** UO: maxRequests or maxPendingRequests exceeded. */
  overflow: number;
  /** UH: no endpoint, all ejected, or all backing off. */
  noHealthyUpstream: number;
  /** Ejections enforced by outlier detection. */
  ejections: number;
  /** Ejections skipped because of maxEjectionPercent (Envoy's `ejections_overflow`). */
  ejectionsOverflow: number;
}

export interface ClusterStats {
  name: string;
  lbPolicy: string;
  activeRequests: number;
  pendingRequests: number;
  /** True when fewer than minHealthPercent of the endpoints are healthy, so balancing ignores ejection. */
  panic: boolean;
  counters: ClusterCounters;
  /** What was wrong with the last config applied to this cluster (skipped endpoints, ignored settings). */
  problems: string[];
  endpoints: EndpointStats[];
}
