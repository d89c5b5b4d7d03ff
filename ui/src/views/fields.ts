// Fields of an endpoint: kind of difference, rate with its interval, noise, time-like and ignored marks, an
// example, and a small chart of the rate per minute. A row opens the newest sample differing at that field.
import { getJson } from '../api.js';
import { type Ctx, links, show, type View } from '../app.js';
import { rateChart } from '../chart.js';
import { badge, h, num, pct, verdictRank } from '../dom.js';
import { type Column, table } from '../table.js';
import type { Endpoint, Field } from '../types.js';
import { reasons } from './runs.js';

function kinds(k: Record<string, number>): HTMLElement {
  return h(
    'ul',
    { class: 'kinds' },
    Object.entries(k)
      .sort((a, b) => b[1] - a[1])
      .map(([kind, n]) => h('li', {}, h('span', { class: 'mono' }, kind), ` ×${num(n)}`)),
  );
}

function marks(f: Field): HTMLElement {
  return h(
    'span',
    {},
    f.ignored ? h('span', { class: 'mark mark-ignored', title: 'ignored by a comparison rule' }, 'ignored') : null,
    f.timeLike > 0
      ? h('span', { class: 'mark mark-time', title: 'differences within the time tolerance (not counted)' }, `time-like ×${num(f.timeLike)}`)
      : null,
    f.noiseRate !== null && f.noiseRate > 0 ? h('span', { class: 'mark mark-noise', title: 'the secondary differs here too' }, 'noisy') : null,
  );
}

const columns: Column<Field>[] = [
  { key: 'field', label: 'Field', value: (f) => f.field, cell: (f) => h('span', { class: 'mono field-name' }, f.field) },
  { key: 'kinds', label: 'Kind', value: (f) => Object.keys(f.kinds).join(','), cell: (f) => kinds(f.kinds) },
  {
    key: 'rate',
    label: 'Rate',
    numeric: true,
    value: (f) => f.rate,
    cell: (f) => [pct(f.rate), h('div', { class: 'sub' }, `${pct(f.interval.low)}–${pct(f.interval.high)}`)],
  },
  { key: 'noiseRate', label: 'Noise', numeric: true, value: (f) => f.noiseRate ?? -1, cell: (f) => pct(f.noiseRate) },
  { key: 'marks', label: 'Marks', value: (f) => (f.ignored ? 2 : 0) + (f.timeLike > 0 ? 1 : 0), cell: marks },
  { key: 'series', label: 'Over time', value: (f) => f.series.at(-1)?.diffs ?? 0, cell: (f) => rateChart(f.series) },
  {
    key: 'example',
    label: 'Example (primary → candidate)',
    value: (f) => f.example?.primary ?? '',
    cell: (f) =>
      f.example
        ? h('span', { class: 'example' }, h('code', { class: 'was' }, f.example.primary), ' → ', h('code', { class: 'now' }, f.example.candidate))
        : '—',
  },
  { key: 'verdict', label: 'Verdict', value: (f) => verdictRank(f.verdict), cell: (f) => badge(f.verdict) },
];

export async function fieldsView(ctx: Ctx): Promise<View> {
  const run = ctx.route.run!;
  const endpoint = ctx.route.endpoint!;
  const p = ctx.route.params;
  const summary = h('div', { class: 'holder summary' });
  const holder = h('div', { class: 'holder' });
  ctx.main.append(
    h('h1', { id: 'endpoint-title' }, 'Fields'),
    h('div', { class: 'controls' }, h('a', { href: links.exchange(run, endpoint), class: 'button' }, 'All samples of this endpoint →')),
    summary,
    holder,
  );
  let last = '';
  const refresh = async () => {
    const data = await getJson<{ endpoint: Endpoint; fields: Field[] }>('fields', { run, endpoint }, ctx.signal);
    const text = JSON.stringify(data);
    if (text === last) return;
    last = text;
    const e = data.endpoint;
    ctx.crumbs([{ label: 'Runs', href: links.runs() }, { label: `Run ${run}`, href: links.endpoints(run) }, { label: e.endpoint }]);
    ctx.main.querySelector('#endpoint-title')?.replaceChildren('Fields of ', h('span', { class: 'mono' }, e.endpoint));
    show(
      summary,
      h(
        'div',
        { class: 'card' },
        h(
          'div',
          {},
          badge(e.verdict),
          ` ${num(e.compared)} compared, ${pct(e.diffRate)} differ (noise ${pct(e.noiseRate)}), ${num(e.withSecondary)} with a secondary`,
        ),
        reasons(e.reasons),
      ),
    );
    const render = () =>
      show(
        holder,
        table({
          caption: `${data.fields.length} field(s) that differed`,
          columns,
          rows: data.fields,
          rowKey: (f) => f.field,
          sort: p.get('sort') ?? 'verdict',
          dir: p.get('dir') === 'desc' ? 'desc' : 'asc',
          onSort: (key, dir) => {
            ctx.setParam('sort', key);
            ctx.setParam('dir', dir);
            render();
          },
          onOpen: (f) => ctx.go(links.exchange(run, endpoint, undefined, f.field)),
          rowClass: (f) => (f.ignored ? 'ignored' : f.verdict === 'FAIL' ? 'fail' : undefined),
          empty: 'No field differed.',
        }),
      );
    render();
  };
  await refresh();
  return { refresh };
}
