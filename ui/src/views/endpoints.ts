// Endpoints of a run: compared, real-difference rate, noise, error rates and latencies of both sides, verdict;
// sortable by any column and filterable by text and verdict, both kept in the deep link. A run switch on top.
import { getJson } from '../api.js';
import { type Ctx, links, show, type View } from '../app.js';
import { badge, h, ms, num, pct, side, verdictRank, when } from '../dom.js';
import { type Column, table } from '../table.js';
import type { Endpoint, Run } from '../types.js';
import { reasons } from './runs.js';

const columns: Column<Endpoint>[] = [
  { key: 'endpoint', label: 'Endpoint', value: (e) => e.endpoint, cell: (e) => h('span', { class: 'mono' }, e.endpoint) },
  { key: 'compared', label: 'Compared', numeric: true, value: (e) => e.compared, cell: (e) => num(e.compared) },
  {
    key: 'diffRate',
    label: 'Differences',
    numeric: true,
    title: 'Real-difference rate (95% interval)',
    value: (e) => e.diffRate,
    cell: (e) => [pct(e.diffRate), h('div', { class: 'sub' }, `${pct(e.diffInterval.low)}–${pct(e.diffInterval.high)}`)],
  },
  {
    key: 'noiseRate',
    label: 'Noise',
    numeric: true,
    title: 'Primary vs secondary difference rate',
    value: (e) => e.noiseRate ?? -1,
    cell: (e) => pct(e.noiseRate),
  },
  {
    key: 'candidateErrorRate',
    label: 'Errors cand. / prim.',
    numeric: true,
    value: (e) => e.candidateErrorRate - e.primaryErrorRate,
    cell: (e) => `${pct(e.candidateErrorRate)} / ${pct(e.primaryErrorRate)}`,
  },
  {
    key: 'p50',
    label: 'p50 cand. / prim.',
    numeric: true,
    value: (e) => e.candidateLatency.p50 - e.primaryLatency.p50,
    cell: (e) => `${ms(e.candidateLatency.p50)} / ${ms(e.primaryLatency.p50)}`,
  },
  {
    key: 'p99',
    label: 'p99 cand. / prim.',
    numeric: true,
    value: (e) => e.candidateLatency.p99 - e.primaryLatency.p99,
    cell: (e) => `${ms(e.candidateLatency.p99)} / ${ms(e.primaryLatency.p99)}`,
  },
  { key: 'verdict', label: 'Verdict', value: (e) => verdictRank(e.verdict), cell: (e) => [badge(e.verdict), reasons(e.reasons)] },
];

export async function endpointsView(ctx: Ctx): Promise<View> {
  const run = ctx.route.run!;
  const p = ctx.route.params;
  ctx.crumbs([{ label: 'Runs', href: links.runs() }, { label: `Run ${run}` }]);
  const summary = h('div', { class: 'holder summary' });
  const holder = h('div', { class: 'holder' });
  const runSwitch = h('select', { id: 'run-switch', 'aria-label': 'Switch run' });
  runSwitch.addEventListener('change', () => ctx.go(links.endpoints(runSwitch.value)));
  const filter = h('input', {
    type: 'search',
    id: 'filter',
    'data-filter': true,
    placeholder: 'Filter endpoints ( / )',
    'aria-label': 'Filter endpoints',
    value: p.get('q') ?? '',
  });
  const verdict = h(
    'select',
    { id: 'verdict-filter', 'aria-label': 'Verdict' },
    ['', 'FAIL', 'INCONCLUSIVE', 'PASS'].map((v) => h('option', { value: v, selected: (p.get('verdict') ?? '') === v }, v || 'any verdict')),
  );
  ctx.main.append(
    h('h1', {}, 'Endpoints ', h('span', { class: 'sub' }, `of run ${run}`)),
    h('div', { class: 'controls' }, h('label', {}, 'Run ', runSwitch), filter, verdict),
    summary,
    holder,
  );
  let data: { run: Run; endpoints: Endpoint[] } | undefined;
  let lastText = '';
  let lastRuns = '';
  const draw = () => {
    if (!data) return;
    const q = filter.value.trim().toLowerCase();
    const v = verdict.value;
    const rows = data.endpoints.filter((e) => (!q || e.endpoint.toLowerCase().includes(q)) && (!v || e.verdict === v));
    show(
      holder,
      table({
        caption: `${rows.length} of ${data.endpoints.length} endpoint(s)`,
        columns,
        rows,
        rowKey: (e) => e.id,
        sort: p.get('sort') ?? 'verdict',
        dir: p.get('dir') === 'desc' ? 'desc' : 'asc',
        onSort: (key, dir) => {
          ctx.setParam('sort', key);
          ctx.setParam('dir', dir);
          draw();
        },
        onOpen: (e) => ctx.go(links.fields(run, e.id)),
        rowClass: (e) => (e.verdict === 'FAIL' ? 'fail' : undefined),
        empty: data.endpoints.length === 0 ? 'Nothing compared in this run yet.' : 'No endpoint matches the filter.',
      }),
    );
  };
  filter.addEventListener('input', () => {
    ctx.setParam('q', filter.value || undefined);
    draw();
  });
  verdict.addEventListener('change', () => {
    ctx.setParam('verdict', verdict.value || undefined);
    draw();
  });
  const refresh = async () => {
    const [next, runs] = await Promise.all([
      getJson<{ run: Run; endpoints: Endpoint[] }>('endpoints', { run }, ctx.signal),
      getJson<{ runs: Run[] }>('runs', {}, ctx.signal),
    ]);
    const runsText = JSON.stringify(runs);
    if (runsText !== lastRuns) {
      lastRuns = runsText;
      const list = runs.runs.some((r) => r.id === run) ? runs.runs : [next.run, ...runs.runs];
      runSwitch.replaceChildren(
        ...list.map((r) => h('option', { value: r.id, selected: r.id === run }, `${r.id} · ${r.route} · ${r.verdict} · ${when(r.startedAt)}`)),
      );
    }
    const text = JSON.stringify(next);
    if (text === lastText) return;
    lastText = text;
    data = next;
    const r = next.run;
    show(
      summary,
      h(
        'div',
        { class: 'card' },
        h('div', {}, badge(r.verdict), ' ', h('strong', {}, r.route)),
        h(
          'div',
          {},
          `candidate ${side(r.candidate)} vs primary ${side(r.primary)} · ${num(r.compared)} compared · started ${when(r.startedAt)}${r.endedAt ? ` · ended ${when(r.endedAt)}` : ''}`,
        ),
        reasons(r.reasons, r.note),
      ),
    );
    draw();
  };
  await refresh();
  return { refresh };
}
