// Writes Gateway API status back to the API server as a controller must (issue 18): the status the snapshot
// computed (config/gateway-api/status.ts) for GatewayClasses, Gateways, HTTPRoutes, GRPCRoutes and TLSRoutes read from the
// cluster, with lastTransitionTime kept while a condition's status holds, routes' `status.parents` entries of other
// controllers left as they are, and only when the status differs from what the object already says.
//
// Every replica (and every --workers process) writes, idempotently: each computes the same status from the same
// objects, compares it with the object's, and writes a merge patch carrying the resourceVersion it was computed
// against; a 409 Conflict (another writer was first) re-reads the object and compares again, so replicas that
// agree write once between them and never fight. No leader election is needed for that, and none is done.
// Spec: https://gateway-api.sigs.k8s.io/geps/gep-1364/ (conditions), https://gateway-api.sigs.k8s.io/reference/spec/#httproutestatus
import { Counter, type Registry } from 'prom-client';
import type { ResourceSummary } from '../../config/index.js';
import { isNotFound, type KubeApiError, type KubeHttp } from './http.js';
import { collectionPath, type ResourceType } from './resource-types.js';
import { isClusterSource } from './translate.js';
import type { KubeObject } from './watcher.js';

type Obj = Record<string, unknown>;

/** What the writer needs of one watched kind: its type, the version read, and the objects as last seen. */
export interface StatusTarget {
  type: ResourceType;
  version: string | undefined;
  cache: ReadonlyMap<string, KubeObject>;
}

const KINDS = ['GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'TLSRoute'] as const;
/** Route kinds: their status is `parents`, one entry per parentRef and controller (RouteStatus). */
const ROUTE_KINDS = new Set(['HTTPRoute', 'GRPCRoute', 'TLSRoute']);
const MERGE_PATCH = 'application/merge-patch+json';
/** Tries per object and round: a conflict re-reads and tries again; more conflicts than this wait for the next round. */
const ATTEMPTS = 5;

function obj(v: unknown): Obj {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {};
}
function arr(v: unknown): Obj[] {
  return Array.isArray(v) ? v.map(obj) : [];
}

/** JSON with object keys sorted: two statuses are the same when this is. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value as Obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
}

/** RFC 3339 to the second, as the API server writes times. */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Our conditions with lastTransitionTime: kept from the object's condition of the same type while its status is
 * unchanged, now otherwise. Conditions of other types on the object (another component's) stay.
 */
function timed(ours: readonly Obj[], existing: readonly Obj[], now: string, keepOthers: boolean): Obj[] {
  const types = new Set(ours.map((c) => c.type));
  const out = ours.map((c) => {
    const old = existing.find((e) => e.type === c.type);
    const at = old && old.status === c.status && typeof old.lastTransitionTime === 'string' ? old.lastTransitionTime : now;
    return { ...c, lastTransitionTime: at };
  });
  return keepOthers ? [...existing.filter((e) => !types.has(e.type)), ...out] : out;
}

const sameParent = (a: Obj, b: Obj) => canonical(parentKey(a)) === canonical(parentKey(b));
function parentKey(ref: Obj): Obj {
  // Defaults as the CRD fills them in: group gateway.networking.k8s.io, kind Gateway.
  return {
    group: ref.group ?? 'gateway.networking.k8s.io',
    kind: ref.kind ?? 'Gateway',
    namespace: ref.namespace ?? '',
    name: ref.name ?? '',
    sectionName: ref.sectionName ?? '',
    port: ref.port ?? 0,
  };
}

/** The status to write on `live`, from the snapshot's `computed` one. */
export function desiredStatus(kind: string, computed: Obj, live: KubeObject, controllerName: string, now: string): Obj {
  const current = obj(live.status);
  if (ROUTE_KINDS.has(kind)) {
    const existing = arr(current.parents);
    const ours = arr(computed.parents).map((p) => {
      const ref = obj(p.parentRef);
      // Our parentRef as the object spells it (namespace filled by the snapshot): matched on defaults.
      const old = existing.find((e) => e.controllerName === controllerName && sameParent(obj(e.parentRef), { ...ref, namespace: ref.namespace }));
      return { ...p, conditions: timed(arr(p.conditions), arr(old?.conditions), now, false) };
    });
    // GEP: a controller manages only its own entries; other controllers' stay as they are.
    return { ...current, parents: [...existing.filter((e) => e.controllerName !== controllerName), ...ours] };
  }
  const out: Obj = { ...current, ...computed, conditions: timed(arr(computed.conditions), arr(current.conditions), now, true) };
  if (kind === 'Gateway') {
    const existing = arr(current.listeners);
    out.listeners = arr(computed.listeners).map((l) => ({
      ...l,
      conditions: timed(arr(l.conditions), arr(existing.find((e) => e.name === l.name)?.conditions), now, false),
    }));
  }
  return out;
}

export interface StatusWriterStats {
  written: number;
  conflicts: number;
  unchanged: number;
  failed: number;
}

export class StatusWriter {
  readonly stats: StatusWriterStats = { written: 0, conflicts: 0, unchanged: 0, failed: 0 };
  private pending: readonly ResourceSummary[] | undefined;
  private running: Promise<void> | undefined;
  /** Per object: the resourceVersion a write of ours replaced, until the watch shows the object past it. */
  private readonly wroteOver = new Map<string, string>();
  /** Failures already logged, by object and reason (one line per cause, not per retry). */
  private readonly logged = new Set<string>();
  private readonly writes: Counter<'kind' | 'result'> | undefined;

  constructor(
    private readonly api: KubeHttp,
    private readonly controllerName: string,
    private readonly target: (kind: string) => StatusTarget | undefined,
    private readonly log?: (line: string) => void,
    registry?: Registry,
    private readonly now: () => Date = () => new Date(),
    private readonly timeoutMs = 10_000,
  ) {
    if (registry) {
      this.writes = new Counter({
        name: 'shadowgate_kubernetes_status_writes_total',
        help: 'Gateway API status writes to the API server, by kind and result (written, conflict: re-read and retried, failed)',
        labelNames: ['kind', 'result'] as const,
        registers: [registry],
      });
    }
  }

  /** Writes what differs among `resources`' statuses; a call while a round runs is taken up after it (the newest wins). */
  publish(resources: readonly ResourceSummary[]): Promise<void> {
    this.pending = resources;
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Resolves when no round is running. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const resources = this.pending;
      this.pending = undefined;
      for (const r of resources) {
        if (!r.status || !isClusterSource(r.file) || !(KINDS as readonly string[]).includes(r.kind)) continue;
        await this.writeOne(r);
      }
    }
  }

  private async writeOne(r: ResourceSummary): Promise<void> {
    const t = this.target(r.kind);
    if (!t?.version) return;
    const key = t.type.clusterScoped ? `/${r.name}` : `${r.namespace}/${r.name}`;
    let live = t.cache.get(key);
    if (!live) return; // deleted since the snapshot was built
    const path = `${collectionPath(t.type, t.version, t.type.clusterScoped ? undefined : r.namespace)}/${encodeURIComponent(r.name)}/status`;
    const id = `${r.kind} ${t.type.clusterScoped ? '' : `${r.namespace}/`}${r.name}`;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const rv = String(obj(live.metadata).resourceVersion ?? '');
      // Our last write replaced this very version: the watch has not caught up yet, and will trigger a round.
      if (attempt === 1 && this.wroteOver.get(id) === rv) return;
      const desired = desiredStatus(r.kind, obj(r.status), live, this.controllerName, rfc3339(this.now()));
      if (canonical(desired) === canonical(obj(live.status))) {
        this.stats.unchanged++;
        this.wroteOver.delete(id);
        return;
      }
      try {
        await this.api.patchJson(path, { metadata: { resourceVersion: rv }, status: desired }, MERGE_PATCH, this.timeoutMs);
        this.stats.written++;
        this.writes?.inc({ kind: r.kind, result: 'written' });
        this.wroteOver.set(id, rv);
        // Written again after a failure: a new failure is news again.
        for (const k of this.logged) if (k.startsWith(`${id}|`)) this.logged.delete(k);
        return;
      } catch (writeErr) {
        let err = writeErr;
        const status = (err as KubeApiError).status;
        if (status === 409) {
          // Someone else wrote first (another replica, a user): read the object again and compare again.
          this.stats.conflicts++;
          this.writes?.inc({ kind: r.kind, result: 'conflict' });
          try {
            const fresh = await this.api.getJson(path.replace(/\/status$/, ''), {}, 'application/json', AbortSignal.timeout(this.timeoutMs), this.timeoutMs);
            live = fresh;
            continue;
          } catch (readErr) {
            if (isNotFound(readErr)) return;
            err = readErr;
          }
        }
        if (isNotFound(err)) return;
        this.stats.failed++;
        this.writes?.inc({ kind: r.kind, result: 'failed' });
        const reason = `${id}|${status ?? (err as Error).name}`;
        if (!this.logged.has(reason)) {
          this.logged.add(reason);
          this.log?.(
            `kubernetes: cannot write the status of ${id}: ${(err as Error).message}${status === 403 ? ' (grant update and patch on its status subresource: deploy/k8s/gateway has the Role)' : ''}; tried again on the next change`,
          );
        }
        return;
      }
    }
  }
}
