// `shadowgate runs [start [--note TEXT] [--route R]]`: the comparison runs of a gateway (or a store), and a new one.
import type { Run } from '../compare/index.js';
import { ask, type CompareSource, parse } from './compare-source.js';
import { side } from './verdict.js';

export interface RunsOptions extends CompareSource {
  start: boolean;
  note?: string | undefined;
  route?: string | undefined;
  output: 'text' | 'json';
}

function table(runs: Run[]): string {
  const rows = runs.map((r) => [
    r.id,
    r.startedAt.replace(/\.\d+Z$/, 'Z'),
    r.endedAt ? r.endedAt.replace(/\.\d+Z$/, 'Z') : 'open',
    r.route,
    side(r.candidate),
    side(r.primary),
    String(r.compared),
    r.verdict,
    `${r.reason}${r.note ? `: ${r.note}` : ''}`,
  ]);
  const head = ['ID', 'START', 'END', 'ROUTE', 'CANDIDATE', 'PRIMARY', 'COMPARED', 'VERDICT', 'REASON'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export async function runRuns(opts: RunsOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  try {
    if (opts.start) {
      const q = {
        kind: 'startRun' as const,
        ...(opts.note === undefined ? {} : { note: opts.note }),
        ...(opts.route === undefined ? {} : { route: opts.route }),
      };
      const v = parse<{ run: Run; runs?: Run[] }>(await ask(opts, q));
      const runs = v.runs ?? [v.run];
      out(
        opts.output === 'json'
          ? JSON.stringify(v, null, 2)
          : runs.map((r) => `started run ${r.id} on ${r.route}: candidate ${side(r.candidate)} vs primary ${side(r.primary)}`).join('\n'),
      );
      return 0;
    }
    const v = parse<{ runs: Run[] }>(await ask(opts, { kind: 'runs' }));
    out(opts.output === 'json' ? JSON.stringify(v, null, 2) : v.runs.length === 0 ? 'no runs yet' : table(v.runs));
    return 0;
  } catch (e) {
    err(`shadowgate: runs: ${(e as Error).message}`);
    return 4;
  }
}
