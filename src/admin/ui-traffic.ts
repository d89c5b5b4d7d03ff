// GET /api/traffic: what mirrors where, and per destination request rates, shadow delivery and abandons, read from
// the route table and the gateway's own counters (under --workers, from the merged Prometheus exposition).
import type { Cluster, Listener, Route } from '../config/index.js';
import type { TrafficTotals } from '../telemetry/index.js';
import type { TrafficRoute } from './traffic-types.js';

export type { TrafficDestination, TrafficMirror, TrafficRoute } from './traffic-types.js';

/** What the traffic view reads: the routing config being served and the counters' totals. */
export interface TrafficSource {
  routing(): Promise<{ listeners: readonly Listener[]; clusters: Readonly<Record<string, Cluster>> } | undefined>;
  totals(): Promise<TrafficTotals>;
}

/** Rates are taken over the last minute of reads, like Prometheus' `rate(...[1m])`. */
export const RATE_WINDOW_MS = 60_000;

const FAMILIES = [
  ['istio_requests_total', 'requests'],
  ['shadowgate_shadows_sampled_total', 'sampled'],
  ['shadowgate_shadow_requests_total', 'delivered'],
  ['shadowgate_shadow_abandoned_total', 'abandoned'],
] as const;

/**
 * The value of label `name` in a sample line, unescaped. Inside a label value every `"` is escaped, so `name="`
 * after `{` or `,` can only be the label itself.
 */
function labelValue(line: string, name: string): string | undefined {
  let at = line.indexOf(`{${name}="`);
  if (at < 0) at = line.indexOf(`,${name}="`);
  if (at < 0) return undefined;
  const from = at + name.length + 3;
  let escaped = false;
  let i = from;
  for (; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 0x5c) {
      escaped = true;
      i++;
    } else if (c === 0x22) break;
  }
  const raw = line.slice(from, i);
  return escaped ? raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)) : raw;
}

/**
 * The same totals read out of a Prometheus exposition (the primary of `--workers` has only the merged text),
 * jumping from one line of the four counter families to the next: the histograms are never split or copied.
 */
export function totalsFromExposition(text: string): TrafficTotals {
  const totals: TrafficTotals = { requests: new Map(), sampled: new Map(), delivered: new Map(), abandoned: new Map() };
  for (const [family, kind] of FAMILIES) {
    const head = `\n${family}{`;
    /** Start of the next line of this family, or -1. */
    const next = (from: number) => {
      const i = text.indexOf(head, from);
      return i < 0 ? -1 : i + 1;
    };
    for (let at = text.startsWith(head.slice(1)) ? 0 : next(0); at >= 0; ) {
      const endOfLine = text.indexOf('\n', at);
      const line = text.slice(at, endOfLine < 0 ? text.length : endOfLine);
      at = endOfLine < 0 ? -1 : next(endOfLine);
      const value = Number(
        line
          .slice(line.lastIndexOf('}') + 1)
          .trim()
          .split(' ')[0],
      );
      if (!Number.isFinite(value)) continue;
      // Primary requests as the caller counts them; reporter="destination" counts the same attempts (and the
      // mirrored copies) from the workloads' side (issue 13), so it is left out here.
      if (kind === 'requests' && labelValue(line, 'reporter') === 'destination') continue;
      const service = labelValue(line, 'destination_service') ?? '';
      if (kind === 'abandoned') {
        if (value <= 0) continue;
        const key = `${service}\0${labelValue(line, 'destination_subset') ?? 'unknown'}`;
        const byReason = totals.abandoned.get(key) ?? {};
        const reason = labelValue(line, 'reason') ?? 'unknown';
        byReason[reason] = (byReason[reason] ?? 0) + value;
        totals.abandoned.set(key, byReason);
        continue;
      }
      const key = `${service}\0${labelValue(line, kind === 'requests' ? 'destination_version' : 'destination_subset') ?? 'unknown'}`;
      totals[kind].set(key, (totals[kind].get(key) ?? 0) + value);
    }
  }
  return totals;
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

/** Answers are reused for this long: any number of open pages (or a client in a loop) cost one read a second. */
export const READ_EVERY_MS = 1000;

const EMPTY: TrafficTotals = { requests: new Map(), sampled: new Map(), delivered: new Map(), abandoned: new Map() };

export class TrafficView {
  /** Readings of the last minute, oldest first; the first is the gateway's start, with every counter at zero. */
  private readonly readings: { at: number; totals: TrafficTotals }[];
  private last: { at: number; answer: Promise<{ routes: TrafficRoute[] }> } | undefined;
  /** Per route table: each destination's istio_requests_total keys (`<host>\0<version>`), computed once. */
  private readonly keysByClusters = new WeakMap<object, Map<string, string[]>>();

  constructor(
    private readonly source: TrafficSource,
    private readonly now: () => number = Date.now,
  ) {
    this.readings = [{ at: now(), totals: EMPTY }];
  }

  read(): Promise<{ routes: TrafficRoute[] }> {
    const at = this.now();
    if (this.last && at - this.last.at < READ_EVERY_MS) return this.last.answer;
    const answer = this.compute(at);
    this.last = { at, answer };
    answer.catch(() => {
      if (this.last?.answer === answer) this.last = undefined;
    });
    return answer;
  }

  private async compute(at: number): Promise<{ routes: TrafficRoute[] }> {
    const routing = await this.source.routing();
    const totals = await this.source.totals();
    // The oldest reading still inside the window (or the newest one before it) is the rate's base.
    while (this.readings.length > 1 && at - this.readings[1]!.at >= RATE_WINDOW_MS) this.readings.shift();
    const base = this.readings[0]!.totals;
    const seconds = Math.max((at - this.readings[0]!.at) / 1000, 0.001);
    // One reading a second at most (read() sees to it): the window holds at most 61.
    this.readings.push({ at, totals });
    const rate = (kind: 'requests' | 'sampled', keys: readonly string[]) => {
      let d = 0;
      for (const k of keys) d += (totals[kind].get(k) ?? 0) - (base[kind].get(k) ?? 0);
      // A restarted worker resets its counters: a negative increase reads as no traffic, not as a negative rate.
      return Math.max(0, Math.round((d / seconds) * 100) / 100);
    };
    const routes: TrafficRoute[] = [];
    if (!routing) return { routes };
    let keys = this.keysByClusters.get(routing.clusters);
    if (!keys) {
      keys = new Map();
      this.keysByClusters.set(routing.clusters, keys);
    }
    /** Istio's dashboards split a service by `destination_version`: a subset's rate is its endpoints' versions. */
    const primaryKeys = (host: string, subset: string, port: number): string[] => {
      const name = `outbound|${port}|${subset}|${host}`;
      let k = keys.get(name);
      if (!k) {
        const cluster = routing.clusters[name];
        const versions = new Set((cluster?.endpoints ?? []).map((e) => e.labels.version ?? 'unknown'));
        if (!cluster) versions.add('unknown');
        k = [...versions].map((v) => `${host}\0${v}`);
        keys.set(name, k);
      }
      return k;
    };
    for (const listener of routing.listeners) {
      for (const vhost of listener.virtualHosts) {
        for (const route of vhost.routes) {
          if (route.action.kind !== 'route') continue;
          const destinations = route.action.destinations.map((d) => ({
            host: d.host,
            ...(d.subset ? { subset: d.subset } : {}),
            weight: d.weight,
            rps: rate('requests', primaryKeys(d.host, d.subset, d.port)),
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
              return {
                host: m.host,
                ...(m.subset ? { subset: m.subset } : {}),
                percent: m.percentage,
                rps: rate('sampled', [dest]),
                sampled: totals.sampled.get(dest) ?? 0,
                delivered: totals.delivered.get(dest) ?? 0,
                abandoned: { ...totals.abandoned.get(dest) },
              };
            }),
          });
        }
      }
    }
    return { routes };
  }
}
