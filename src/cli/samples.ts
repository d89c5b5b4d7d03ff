// `shadowgate samples --field F [--endpoint E] [--run ID]`: kept exchanges, primary and candidate side by side.
import type { EndpointReport, Message, SampleDoc } from '../compare/index.js';
import { ask, type CompareSource, parse } from './compare-source.js';

export interface SamplesOptions extends CompareSource {
  field: string;
  /** An endpoint id, or its name (`GET /orders/{id}`); default: every endpoint of the run. */
  endpoint?: string | undefined;
  run?: string | undefined;
  limit: number;
  output: 'text' | 'json';
}

const COLUMN = 58;

function bodyLines(m: Message | undefined): string[] {
  if (!m) return ['(no answer recorded)'];
  const head = [`${m.status ?? '-'}${m.error ? ` (${m.error})` : ''}${m.latencyMs !== undefined ? `  ${m.latencyMs} ms` : ''}`];
  for (const [k, v] of Object.entries(m.headers).sort(([a], [b]) => a.localeCompare(b))) head.push(`${k}: ${Array.isArray(v) ? v.join(', ') : v}`);
  head.push('');
  let body = m.body;
  if (m.bodyEncoding === 'utf8') {
    try {
      body = JSON.stringify(JSON.parse(body), null, 2);
    } catch {
      // Not JSON: printed as it is.
    }
  } else body = body === '' ? '(binary body not kept)' : body;
  return [...head, ...body.split('\n'), ...(m.bodyTruncated ? ['… (cut)'] : [])];
}

function wrap(line: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < line.length; i += COLUMN) out.push(line.slice(i, i + COLUMN));
  return out.length === 0 ? [''] : out;
}

/** Two columns; lines that differ are marked with `|` between them, equal ones with a space. */
export function sideBySide(a: string[], b: string[]): string {
  const lines: string[] = [`${'PRIMARY'.padEnd(COLUMN)}   CANDIDATE`];
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const la = wrap(a[i] ?? '');
    const lb = wrap(b[i] ?? '');
    const mark = (a[i] ?? '') === (b[i] ?? '') ? ' ' : '|';
    for (let j = 0; j < Math.max(la.length, lb.length); j++) lines.push(`${(la[j] ?? '').padEnd(COLUMN)} ${mark} ${lb[j] ?? ''}`);
  }
  return lines.join('\n');
}

function format(s: SampleDoc, endpoint: string): string {
  const q = s.request.query ? `?${s.request.query}` : '';
  const lines = [`sample ${s.id}  ${s.at}  ${endpoint}  x-request-id ${s.requestId}`, `> ${s.request.method} ${s.request.path}${q}`];
  for (const [k, v] of Object.entries(s.request.headers)) lines.push(`> ${k}: ${Array.isArray(v) ? v.join(', ') : v}`);
  if (s.request.body) lines.push('>', ...s.request.body.split('\n').map((l) => `> ${l}`));
  lines.push(
    'differs at:',
    ...s.diffs.map(
      (d) =>
        `  ${d.field} (${d.kind})${d.primary !== undefined || d.candidate !== undefined ? `: ${d.primary ?? '(absent)'} vs ${d.candidate ?? '(absent)'}` : ''}`,
    ),
  );
  lines.push(sideBySide(bodyLines(s.primary), bodyLines(s.candidate)));
  if (s.secondary) lines.push('secondary (the primary again, the noise baseline):', ...bodyLines(s.secondary).map((l) => `  ${l}`));
  return lines.join('\n');
}

export async function runSamples(opts: SamplesOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  try {
    const run = opts.run === undefined ? {} : { run: opts.run };
    const listed = parse<{ run: { id: string }; endpoints: EndpointReport[] }>(await ask(opts, { kind: 'endpoints', ...run }));
    let endpoints = listed.endpoints;
    if (opts.endpoint !== undefined) {
      endpoints = endpoints.filter((e) => e.id === opts.endpoint || e.endpoint === opts.endpoint);
      if (endpoints.length === 0) throw new Error(`no endpoint "${opts.endpoint}" in run ${listed.run.id}`);
    }
    const found: { endpoint: string; sample: SampleDoc }[] = [];
    for (const e of endpoints) {
      const v = parse<{ samples: SampleDoc[] }>(await ask(opts, { kind: 'samples', run: listed.run.id, endpoint: e.id, field: opts.field, limit: opts.limit }));
      for (const s of v.samples) found.push({ endpoint: e.endpoint, sample: s });
    }
    if (opts.output === 'json') out(JSON.stringify({ samples: found.map((f) => f.sample) }, null, 2));
    else if (found.length === 0) out(`no samples of ${opts.field} in run ${listed.run.id}`);
    else out(found.map((f) => format(f.sample, f.endpoint)).join('\n\n'));
    return 0;
  } catch (e) {
    err(`shadowgate: samples: ${(e as Error).message}`);
    return 4;
  }
}
