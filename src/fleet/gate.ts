// /api/gate (issue 13): the verdict as a rollout tool's webhook takes it. Flagger POSTs
// {name, namespace, phase, checksum, metadata} and advances on 200–202, counting any other status (or a timeout)
// as a failed check and showing the body in its events (fluxcd/flagger pkg/controller/webhook.go). So: 200 with the
// verdict on PASS, 412 Precondition Failed with the reasons on FAIL or INCONCLUSIVE, 503 when it cannot be judged.
import type { Comparator } from '../comparator/index.js';
import { overall } from '../comparator/index.js';
import type { Result, Run, Thresholds, VerdictReport } from '../compare/index.js';
import { fleetVerdict } from './fleet-verdict.js';
import type { FleetSource } from './prometheus-client.js';

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
  const checksum = str(o, 'checksum');
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
  let report: VerdictReport;
  let source: string;
  try {
    if (deps.prometheus) {
      source = `prometheus ${deps.prometheus.url}`;
      report = await fleetVerdict(deps.prometheus, { run: ask.run, thresholds: deps.thresholds() });
    } else {
      source = 'this replica';
      if (!deps.comparator)
        return reply(412, { result: 'INCONCLUSIVE', reasons: ['comparison is off (no --store) and no --prometheus: nothing to judge'], gate: ask });
      const a = await deps.comparator.query(ask.run === undefined ? { kind: 'verdict' } : { kind: 'verdict', run: ask.run });
      const v = JSON.parse(a.body) as VerdictReport & { error?: string };
      if (a.status === 400) return reply(400, { error: v.error });
      if (a.status !== 200) return reply(503, { error: v.error ?? `the comparison answered ${a.status}` });
      report = v;
    }
  } catch (err) {
    return reply(503, { error: (err as Error).message });
  }
  const runs = pick(report.runs, ask);
  const judged = runs.length === report.runs.length ? report : overall(runs.map((r) => ({ run: r.run, result: r.result, reasons: r.reasons })));
  const result: Result = runs.length === 0 ? 'INCONCLUSIVE' : judged.result;
  const reasons = runs.length === 0 ? [`no comparison run mirrors to ${ask.candidate ?? 'the canary'} yet`] : judged.reasons;
  const summary = (r: { run: Run; result: Result; reasons: string[] }) => ({
    id: r.run.id,
    route: r.run.route,
    candidate: r.run.candidate.host,
    compared: r.run.compared,
    result: r.result,
    reasons: r.reasons,
  });
  return reply(result === 'PASS' ? 200 : 412, { result, reasons, source, gate: ask, runs: runs.map(summary) });
}
