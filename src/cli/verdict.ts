// `shadowgate verdict`: PASS, FAIL or INCONCLUSIVE for a pipeline to gate on, from a running gateway or a store file.
import { analyze, type Verdict } from '../compare/index.js';
import { DEFAULT_COMPARE_SETTINGS, loadSnapshot } from '../config/index.js';
import { readSources } from '../sources/index.js';
import { CompareStore } from '../store/index.js';

/** Exit codes, documented in the README: a pipeline promotes on 0 and rolls back on 1. */
export const VERDICT_EXIT = { PASS: 0, FAIL: 1, INCONCLUSIVE: 3, UNAVAILABLE: 4 } as const;

export interface VerdictOptions {
  admin?: string;
  store?: string;
  /** Config files whose ShadowgateConfig thresholds apply to --store. */
  files: string[];
  output: 'text' | 'json';
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const ms = (x: number) => `${x < 10 ? x.toFixed(1) : Math.round(x)}ms`;

export function formatVerdict(v: Verdict): string {
  const lines = [`VERDICT: ${v.result} (${v.compared} requests compared, ${v.endpoints.length} endpoint(s))`];
  for (const r of v.reasons) lines.push(`  ${r}`);
  for (const e of v.endpoints) {
    lines.push('');
    lines.push(`${e.result.padEnd(12)} ${e.endpoint}`);
    lines.push(
      `  compared ${e.compared}${e.noiseBaseline ? '' : ' (no noise baseline: no mirror to the primary subset)'}; ` +
        `errors ${pct(e.primaryErrorRate)} -> ${pct(e.candidateErrorRate)}; ` +
        `p50 ${ms(e.primaryP50)} -> ${ms(e.candidateP50)}; p99 ${ms(e.primaryP99)} -> ${ms(e.candidateP99)}`,
    );
    for (const f of e.fields.slice(0, 10)) {
      lines.push(`  ${f.real ? 'REAL ' : 'noise'} ${f.field}: differs in ${pct(f.candidateRate)} (noise ${pct(f.noiseRate)})`);
    }
    for (const r of e.reasons) lines.push(`  - ${r}`);
  }
  return lines.join('\n');
}

async function fromAdmin(admin: string): Promise<Verdict> {
  const res = await fetch(`http://${admin}/api/verdict`, { signal: AbortSignal.timeout(15_000) });
  if (!res.ok) throw new Error(`${admin} answered ${res.status}`);
  return (await res.json()) as Verdict;
}

function fromStore(file: string, configFiles: string[]): Verdict {
  let thresholds = DEFAULT_COMPARE_SETTINGS.thresholds;
  if (configFiles.length > 0) {
    const read = readSources(configFiles);
    thresholds = loadSnapshot(read.sources, read.problems).settings.compare.thresholds;
  }
  const store = CompareStore.open(file, { readonly: true });
  try {
    return analyze(store.endpoints(), thresholds);
  } finally {
    store.close();
  }
}

export async function runVerdict(opts: VerdictOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let v: Verdict;
  try {
    v = opts.admin ? await fromAdmin(opts.admin) : fromStore(opts.store!, opts.files);
  } catch (e) {
    err(`shadowgate: cannot get a verdict from ${opts.admin ? `the gateway at ${opts.admin}` : opts.store}: ${(e as Error).message}`);
    return VERDICT_EXIT.UNAVAILABLE;
  }
  out(opts.output === 'json' ? JSON.stringify(v, null, 2) : formatVerdict(v));
  return VERDICT_EXIT[v.result];
}
