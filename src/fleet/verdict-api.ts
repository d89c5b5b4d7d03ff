// /api/verdict for the fleet (issue 13): what Argo Rollouts' web metric provider reads. With --prometheus the
// replica it reaches answers for every replica, from the same sums as /api/gate and `verdict --prometheus`, in
// the local verdict's shape (result, reasons, runs[].run/result/reasons) plus the replicas each run was seen on.
// config's own modules, not its index (which loads the compiler and yaml): see config/index.ts.
import { parseDurationMs } from '../config/duration.js';
import type { Thresholds } from '../config/index.js';
import { fleetVerdict } from './fleet-verdict.js';
import type { FleetSource } from './prometheus-client.js';

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const json = (status: number, value: unknown) => ({ status, body: JSON.stringify(value) });

export async function handleFleetVerdict(
  req: { method: string; query: URLSearchParams },
  src: FleetSource,
  thresholds: Thresholds,
): Promise<{ status: number; body: string }> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: `${req.method} is not allowed on /api/verdict` });
  const run = req.query.get('run') ?? undefined;
  if (run !== undefined && run !== '' && !ID.test(run)) return json(400, { error: `run "${run.slice(0, 80)}" is not a run fingerprint` });
  // `since` bounds what the local verdict reads; here it is how far back the sums go (the replica's window otherwise).
  const since = req.query.get('since');
  let windowMs = src.windowMs;
  if (since !== null) {
    windowMs = parseDurationMs(since);
    if (windowMs === undefined || windowMs <= 0) return json(400, { error: `since must be a duration such as 30m or 2h, not "${since.slice(0, 80)}"` });
  }
  try {
    const v = await fleetVerdict(windowMs === undefined ? src : { ...src, windowMs }, { run: run || undefined, thresholds });
    const replicas = [...new Set(v.runs.flatMap((r) => r.instances))].sort();
    return json(200, { ...v, replicas });
  } catch (err) {
    return json(503, { error: (err as Error).message });
  }
}
