// GET /api/traffic: what mirrors where, and per destination request rates, shadow delivery and abandons, read from
// the route table and the gateway's own Prometheus exposition (the merged one under --workers).
import type { Cluster, Listener, Route } from '../config/index.js';

/** What the traffic view reads: the routing config being served and the /metrics text. */
export interface TrafficSource {
  routing(): Promise<{ listeners: readonly Listener[]; clusters: Readonly<Record<string, Cluster>> } | undefined>;
  metrics(): Promise<{ body: string }>;
}

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

/** Rates are taken over the last minute of reads, like Prometheus' `rate(...[1m])`. */
export const RATE_WINDOW_MS = 60_000;

type Totals = Map<string, number>;

interface Reading {
  at: number;
  totals: Totals;
}

/** Counter totals keyed `<family>\0<key>`; the keys below say which labels they keep. */
function readTotals(text: string): Totals {
  const totals: Totals = new Map();
  const add = (key: string, v: number) => totals.set(key, (totals.get(key) ?? 0) + v);
  for (const line of text.split('\n')) {
    const family = FAMILIES.find((f) => line.startsWith(`${f}{`));
    if (!family) continue;
    const close = line.lastIndexOf('}');
    const value = Number(line.slice(close + 1).trim().split(/\s+/)[0]);
    if (close < 0 || !Number.isFinite(value)) continue;
    const labels = parseLabels(line.slice(family.length + 1, close));
    const service = labels.destination_service ?? '';
    if (family === 'istio_requests_total') add(`p\0${service}\0${labels.destination_version ?? 'unknown'}`, value);
    else {
      const dest = `${service}\0${labels.destination_subset ?? 'unknown'}`;
      if (family === 'shadowgate_shadows_sampled_total') add(`s\0${dest}`, value);
      else if (family === 'shadowgate_shadow_requests_total') add(`d\0${dest}`, value);
      else add(`a\0${dest}\0${labels.reason ?? 'unknown'}`, value);
    }
  }
  return totals;
}

const FAMILIES = [
  'istio_requests_total',
  'shadowgate_shadows_sampled_total',
  'shadowgate_shadow_requests_total',
  'shadowgate_shadow_abandoned_total',
] as const;

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(LABEL)) out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  return out;
}

/**
 * `VirtualService default/nginx` + route → `default/nginx#<name or index>`, the runs' route id (docs/admin-api.md).
 * Routes from other resources (an HTTPRoute, a ServiceEntry's default route) keep their kind: `HTTPRoute ns/n#0`.
 */
function routeId(route: Route): string {
  const vs = route.source.replace(/^VirtualService /, '');
  if (vs === route.source) return `${route.source}#${route.name}`;
  const auto = `${vs.slice(vs.indexOf('/') + 1)}.${route.index}`;
  return `${vs}#${route.name === auto ? route.index : route.name}`;
}

export class TrafficView {
  /** Readings of the last minute, oldest first; the first is the gateway's start, with every counter at zero. */
  private readonly readings: Reading[];

  constructor(
    private readonly source: TrafficSource,
    private readonly now: () => number = Date.now,
  ) {
    this.readings = [{ at: now(), totals: new Map() }];
  }

  async read(): Promise<{ routes: TrafficRoute[] }> {
    const routing = await this.source.routing();
    const totals = readTotals((await this.source.metrics()).body);
    const at = this.now();
    // The oldest reading still inside the window (or the newest one before it) is the rate's base.
    while (this.readings.length > 1 && at - this.readings[1]!.at >= RATE_WINDOW_MS) this.readings.shift();
    const base = this.readings[0]!;
    // At most one reading a second is kept: a client polling in a loop cannot grow the list past 60.
    if (at - this.readings[this.readings.length - 1]!.at >= 1000) this.readings.push({ at, totals });
    const seconds = Math.max((at - base.at) / 1000, 0.001);
    const rate = (keys: string[]) => {
      let d = 0;
      for (const k of keys) d += (totals.get(k) ?? 0) - (base.totals.get(k) ?? 0);
      // A restarted worker resets its counters: a negative increase reads as no traffic, not as a negative rate.
      return Math.max(0, Math.round((d / seconds) * 100) / 100);
    };
    const routes: TrafficRoute[] = [];
    if (!routing) return { routes };
    /** Istio's dashboards split a service by `destination_version`: a subset's rate is its endpoints' versions. */
    const primaryKeys = (host: string, subset: string, port: number) => {
      const cluster = routing.clusters[`outbound|${port}|${subset}|${host}`];
      const versions = new Set((cluster?.endpoints ?? []).map((e) => e.labels.version ?? 'unknown'));
      if (!cluster) versions.add('unknown');
      return [...versions].map((v) => `p\0${host}\0${v}`);
    };
    for (const listener of routing.listeners) {
      for (const vhost of listener.virtualHosts) {
        for (const route of vhost.routes) {
          if (route.action.kind !== 'route') continue;
          const destinations = route.action.destinations.map((d) => ({
            host: d.host,
            ...(d.subset ? { subset: d.subset } : {}),
            weight: d.weight,
            rps: rate(primaryKeys(d.host, d.subset, d.port)),
          }));
          const heaviest = destinations.reduce((a, b) => (b.weight > a.weight ? b : a), destinations[0]!);
          if (!heaviest) continue;
          routes.push({
            route: routeId(route),
            listener: `${vhost.host}:${listener.port}`,
            primary: { host: heaviest.host, ...(heaviest.subset ? { subset: heaviest.subset } : {}), rps: heaviest.rps },
            destinations,
            mirrors: route.mirrors.map((m) => {
              const dest = `${m.host}\0${m.subset || 'unknown'}`;
              const abandoned: Record<string, number> = {};
              for (const [k, v] of totals) {
                if (k.startsWith(`a\0${dest}\0`) && v > 0) abandoned[k.slice(dest.length + 3)] = v;
              }
              return {
                host: m.host,
                ...(m.subset ? { subset: m.subset } : {}),
                percent: m.percentage,
                rps: rate([`s\0${dest}`]),
                sampled: totals.get(`s\0${dest}`) ?? 0,
                delivered: totals.get(`d\0${dest}`) ?? 0,
                abandoned,
              };
            }),
          });
        }
      }
    }
    return { routes };
  }
}
