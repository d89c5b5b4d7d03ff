// /api/traffic's shapes (docs/admin-api.md). No imports: the diff explorer (ui/src/types.ts) type-checks against
// this very file, so the server and the page cannot disagree on them.

export interface TrafficDestination {
  host: string;
  subset?: string;
  /** Relative weight of the destination in its route. */
  weight: number;
  /** Primary requests per second answered by this destination's endpoints (see `rate`). */
  rps: number;
}

export interface TrafficMirror {
  host: string;
  subset?: string;
  percent: number;
  /** Copies chosen for this destination per second. */
  rps: number;
  sampled: number;
  delivered: number;
  abandoned: Record<string, number>;
}

export interface TrafficRoute {
  route: string;
  listener: string;
  primary: { host: string; subset?: string; rps: number };
  /** Every weighted destination; `primary` is the heaviest. */
  destinations: TrafficDestination[];
  mirrors: TrafficMirror[];
}
