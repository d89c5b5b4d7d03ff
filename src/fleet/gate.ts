// /api/gate (issue 13): the verdict as a rollout tool's webhook takes it. Flagger POSTs
// {name, namespace, phase, checksum, metadata} and advances on 200–202, counting any other status (or a timeout)
// as a failed check and showing the body in its events (fluxcd/flagger pkg/controller/webhook.go). So: 200 with the
// verdict on PASS, 412 Precondition Failed with the reasons on FAIL or INCONCLUSIVE, 503 when it cannot be judged.
import type { Comparator } from '../comparator/index.js';
import { overall } from '../comparator/index.js';
import type { Result, Run, Thresholds, VerdictReport } from '../compare/index.js';
import { DEFAULT_WINDOW_MS, fleetVerdict } from './fleet-verdict.js';
import { checkSelector, type FleetSource, promDuration, promQuery } from './prometheus-client.js';
import type { RevisionAnswer, RevisionBook } from './revisions.js';

export interface GateRequest {
  method: string;
  query: URLSearchParams;
  body?: string;
}

export interface GateDeps {
  comparator: Comparator | undefined;
  /** With it, the fleet's sums in Prometheus are judged, so any replica answers for all. */
  prometheus: FleetSource | undefined;
  thresholds(): Thresholds;
  /** Which runs each Flagger checksum claimed (revisions.ts); without it a checksum is only echoed. */
  revisions?: RevisionBook;
  now?: () => number;
}

/** What names the runs to judge: Flagger's canary (name, namespace), or metadata `run` / `candidate`. */
interface GateAsk {
  name?: string;
  namespace?: string;
  phase?: string;
  checksum?: string;
  run?: string;
  candidate?: string;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const HOST = /^[A-Za-z0-9]([-A-Za-z0-9.]{0,251}[A-Za-z0-9])?$/;
/** Flagger's checksums are FNV hashes in Kubernetes' safe alphabet; printable ASCII is all a label needs. */
const CHECKSUM = /^[\x21-\x7e]{1,128}$/;

/** How far back a checksum's runs are looked for in this replica's store: a rollout rarely lasts a day. */
const CHECKSUM_LOOKBACK_MS = 24 * 60 * 60_000;

const reply = (status: number, value: unknown) => ({ status, body: JSON.stringify(value) });

class BadGate extends Error {}

function str(o: Record<string, unknown>, k: string, max = 256): string | undefined {
  const v = o[k];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || v.length > max) throw new BadGate(`${k} must be a string of at most ${max} characters`);
  return v;
}

/** Flagger's payload (POST) or query parameters (GET), checked: nothing unchecked reaches a query. */
function parseAsk(req: GateRequest): GateAsk {
  let o: Record<string, unknown> = {};
  let meta: Record<string, unknown> = {};
  if (req.method === 'POST' && req.body !== undefined && req.body.trim() !== '') {
    let v: unknown;
    try {
      v = JSON.parse(req.body);
    } catch {
      throw new BadGate("the body must be Flagger's JSON payload: {name, namespace, phase, checksum, metadata}");
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BadGate('the body must be a JSON object');
    o = v as Record<string, unknown>;
    if (o.metadata !== undefined && o.metadata !== null) {
      if (typeof o.metadata !== 'object' || Array.isArray(o.metadata)) throw new BadGate('metadata must be an object of strings');
      meta = o.metadata as Record<string, unknown>;
    }
  } else {
    // Only the names the gate reads: nothing else of the query string is kept (no `__proto__` games).
    for (const k of ['name', 'namespace', 'phase', 'checksum'] as const) if (req.query.has(k)) o[k] = req.query.get(k);
    for (const k of ['run', 'candidate'] as const) if (req.query.has(k)) meta[k] = req.query.get(k);
  }
  const ask: GateAsk = {};
  const name = str(o, 'name');
  const namespace = str(o, 'namespace');
  if (name !== undefined && !NAME.test(name)) throw new BadGate('name must be a Kubernetes object name');
  if (namespace !== undefined && !NAME.test(namespace)) throw new BadGate('namespace must be a Kubernetes namespace name');
  const run = str(meta, 'run', 64);
  if (run !== undefined && !ID.test(run)) throw new BadGate('metadata.run must be a run id (r3) or a run fingerprint');
  const candidate = str(meta, 'candidate');
  if (candidate !== undefined && !HOST.test(candidate)) throw new BadGate('metadata.candidate must be a host name');
  const phase = str(o, 'phase', 64);
  const checksum = str(o, 'checksum', 128);
  if (checksum !== undefined && !CHECKSUM.test(checksum)) throw new BadGate('checksum must be printable ASCII without spaces');
  if (name !== undefined) ask.name = name;
  if (namespace !== undefined) ask.namespace = namespace;
  if (phase !== undefined) ask.phase = phase;
  if (checksum !== undefined) ask.checksum = checksum;
  if (run !== undefined) ask.run = run;
  if (candidate !== undefined) ask.candidate = candidate;
  return ask;
}

/**
 * The runs a gate judges: the one named by metadata.run; else those whose candidate is metadata.candidate, or
 * Flagger's canary Service `<name>-canary.<namespace>.svc.cluster.local` when a run mirrors to it; else all.
 */
function pick(runs: VerdictReport['runs'], ask: GateAsk): VerdictReport['runs'] {
  if (ask.run !== undefined) return runs;
  const wanted = ask.candidate ?? (ask.name && ask.namespace ? `${ask.name}-canary.${ask.namespace}.svc.cluster.local` : undefined);
  if (wanted === undefined) return runs;
  const matching = runs.filter((r) => r.run.candidate.host === wanted);
  return ask.candidate !== undefined || matching.length > 0 ? matching : runs;
}

export async function handleGate(req: GateRequest, deps: GateDeps): Promise<{ status: number; body: string }> {
  if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'POST') return reply(405, { error: `${req.method} is not allowed on /api/gate` });
  let ask: GateAsk;
  try {
    ask = parseAsk(req);
  } catch (err) {
    if (err instanceof BadGate) return reply(400, { error: err.message });
    throw err;
  }
  // A checksum is judged on its own runs, which may have ended (Flagger's weight steps come after the mirror is
  // removed) while other routes' runs are open: so every run of the window is read, not only the open ones.
  const byChecksum =
    deps.revisions !== undefined && ask.checksum !== undefined && ask.name !== undefined && ask.namespace !== undefined && ask.run === undefined;
  let report: VerdictReport;
  let source: string;
  try {
    if (deps.prometheus) {
      source = `prometheus ${deps.prometheus.url}`;
      report = await fleetVerdict(deps.prometheus, { run: ask.run, thresholds: deps.thresholds(), everyRun: byChecksum });
    } else {
      source = 'this replica';
      if (!deps.comparator)
        return reply(412, { result: 'INCONCLUSIVE', reasons: ['comparison is off (no --store) and no --prometheus: nothing to judge'], gate: ask });
      const a = await deps.comparator.query(
        ask.run !== undefined ? { kind: 'verdict', run: ask.run } : byChecksum ? { kind: 'verdict', sinceMs: CHECKSUM_LOOKBACK_MS } : { kind: 'verdict' },
      );
      const v = JSON.parse(a.body) as VerdictReport & { error?: string };
      if (a.status === 400) return reply(400, { error: v.error });
      if (a.status !== 200) return reply(503, { error: v.error ?? `the comparison answered ${a.status}` });
      report = v;
    }
  } catch (err) {
    return reply(503, { error: (err as Error).message });
  }
  let runs = pick(report.runs, ask);
  let revision: (RevisionAnswer & { checksum: string }) | undefined;
  if (byChecksum && deps.revisions && ask.checksum !== undefined && ask.name !== undefined && ask.namespace !== undefined) {
    const now = deps.now?.() ?? Date.now();
    try {
      if (deps.prometheus) await learnClaims(deps.prometheus, deps.revisions, ask.namespace, ask.name);
    } catch (err) {
      return reply(503, { error: (err as Error).message });
    }
    const seen = runs.map((r) => {
      const open = r.run.endedAt === null;
      // The fleet's runs carry the window's start, not their own: only whether they are open is known.
      return deps.prometheus ? { id: r.run.id, open } : { id: r.run.id, open, startedAt: Date.parse(r.run.startedAt) };
    });
    const answer = deps.revisions.resolve(ask.namespace, ask.name, ask.checksum, seen, now);
    revision = { checksum: ask.checksum, ...answer };
    runs = newestPerRoute(runs.filter((r) => answer.runs.includes(r.run.id)));
  }
  const judged = runs.length === report.runs.length ? report : overall(runs.map((r) => ({ run: r.run, result: r.result, reasons: r.reasons })));
  const result: Result = runs.length === 0 ? 'INCONCLUSIVE' : judged.result;
  const reasons =
    runs.length === 0 ? (revision ? waitingFor(revision, ask) : [`no comparison run mirrors to ${ask.candidate ?? 'the canary'} yet`]) : judged.reasons;
  const summary = (r: { run: Run; result: Result; reasons: string[] }) => ({
    id: r.run.id,
    route: r.run.route,
    candidate: r.run.candidate.host,
    compared: r.run.compared,
    result: r.result,
    reasons: r.reasons,
  });
  const body: Record<string, unknown> = { result, reasons, source, gate: ask, runs: runs.map(summary) };
  if (revision) {
    body.revision = {
      checksum: revision.checksum,
      firstSeen: new Date(revision.firstSeen).toISOString(),
      runs: revision.runs,
      stale: revision.stale,
      ...(revision.previous === undefined ? {} : { previous: revision.previous }),
    };
  }
  return reply(result === 'PASS' ? 200 : 412, body);
}

/**
 * One run per route: an open one before an ended one, then the latest started. A revision's canary that was
 * rescheduled (new pods: a new run) is judged on its current run, not held back by the short one before it.
 */
function newestPerRoute<T extends { run: Run }>(runs: T[]): T[] {
  const best = new Map<string, T>();
  const rank = (r: T) => [r.run.endedAt === null ? 1 : 0, Date.parse(r.run.startedAt) || 0] as const;
  for (const r of runs) {
    const b = best.get(r.run.route);
    const [open, started] = rank(r);
    if (!b) best.set(r.run.route, r);
    else {
      const [bOpen, bStarted] = rank(b);
      if (open > bOpen || (open === bOpen && started > bStarted)) best.set(r.run.route, r);
    }
  }
  return runs.filter((r) => best.get(r.run.route) === r);
}

/** Why a checksum has no run to judge yet, and what starts one. */
function waitingFor(r: RevisionAnswer & { checksum: string }, ask: GateAsk): string[] {
  const canary = `${ask.namespace}/${ask.name}`;
  const start = "a run starts when the canary's endpoints or the mirror change, or with POST /api/runs";
  if (r.stale.length > 0) {
    const runs = r.stale.map((s) => `run ${s.run} (checksum ${s.checksum})`).join(', ');
    return [`checksum ${r.checksum} is a new revision of ${canary}: ${runs} compared an earlier revision; waiting for a run of this one (${start})`];
  }
  if (r.unclaimed.length > 0)
    return [
      `checksum ${r.checksum} of ${canary}: run(s) ${r.unclaimed.join(', ')} ended before it was first seen; waiting for a run of this revision (${start})`,
    ];
  return [`checksum ${r.checksum} of ${canary}: no comparison run mirrors to the canary yet`];
}

/**
 * What every replica claimed for this canary (each exports its claims on /metrics), so a replica that never saw
 * an earlier checksum still knows which runs were that revision's. As fresh as Prometheus' last scrape. The label is
 * `canary_namespace`, not `namespace`: Kubernetes service discovery attaches its own `namespace` to every target.
 */
async function learnClaims(src: FleetSource, book: RevisionBook, namespace: string, canary: string): Promise<void> {
  const selector = checkSelector(src.selector ?? '');
  const w = promDuration(src.windowMs ?? DEFAULT_WINDOW_MS);
  const matchers = [selector, `canary_namespace=${JSON.stringify(namespace)}`, `canary=${JSON.stringify(canary)}`].filter(Boolean).join(',');
  const series = await promQuery(src, `min by (checksum, run) (min_over_time(shadowgate_gate_checksum_run{${matchers}}[${w}]))`);
  const claims = series.flatMap((s) => {
    const v = s.values[0]?.[1];
    return s.metric.checksum && s.metric.run && v !== undefined && Number.isFinite(v) ? [{ checksum: s.metric.checksum, run: s.metric.run, at: v * 1000 }] : [];
  });
  if (claims.length > 0) book.learn(namespace, canary, claims);
}
