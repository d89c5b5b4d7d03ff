// `shadowgate verdict --prometheus URL`: the fleet's verdict from every replica's comparison metrics, printed as the
// local verdict is (same exit codes), with the replicas that hold the differences of each blamed field.
import type { EndpointReport } from '../compare/index.js';
import type { FleetSource } from '../fleet/index.js';
import { formatVerdict, VERDICT_EXIT } from './verdict.js';

export async function runFleetVerdict(
  src: FleetSource,
  o: { run: string | undefined; files: string[]; output: 'text' | 'json' },
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const [{ fleetVerdict }, { DEFAULT_COMPARE_SETTINGS, loadSnapshot }, { readSources }] = await Promise.all([
    import('../fleet/index.js'),
    import('../config/index.js'),
    import('../sources/index.js'),
  ]);
  let thresholds = DEFAULT_COMPARE_SETTINGS.thresholds;
  if (o.files.length > 0) {
    const read = readSources(o.files);
    thresholds = loadSnapshot(read.sources, read.problems).settings.compare.thresholds;
  }
  let v: Awaited<ReturnType<typeof fleetVerdict>>;
  try {
    v = await fleetVerdict(src, { run: o.run, thresholds });
  } catch (e) {
    err(`shadowgate: cannot get the fleet's verdict: ${(e as Error).message}`);
    return VERDICT_EXIT.UNAVAILABLE;
  }
  if (o.output === 'json') {
    out(JSON.stringify(v, null, 2));
  } else {
    const endpoints = new Map<string, EndpointReport[]>(v.runs.map((r) => [r.run.id, r.endpoints]));
    const head = `from ${v.source.prometheus}, the last ${v.source.window}${v.source.selector ? ` of {${v.source.selector}}` : ''}; replicas: ${[...new Set(v.runs.flatMap((r) => r.instances))].join(', ') || 'none'}`;
    out(`${formatVerdict(v, endpoints)}\n\n${head}`);
  }
  return VERDICT_EXIT[v.result];
}
