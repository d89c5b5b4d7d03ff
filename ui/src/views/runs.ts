// Runs: each comparison run's route, candidate and primary, start, compared count and verdict with its reasons.
import { getJson } from '../api.js';
import { type Ctx, links, show, type View } from '../app.js';
import { badge, h, num, side, verdictRank, when } from '../dom.js';
import { type Column, table } from '../table.js';
import type { Run } from '../types.js';

export const runColumns: Column<Run>[] = [
  { key: 'id', label: 'Run', value: (r) => r.id, cell: (r) => h('a', { href: links.endpoints(r.id), tabindex: -1 }, r.id) },
  { key: 'route', label: 'Route', value: (r) => r.route, cell: (r) => r.route },
  { key: 'candidate', label: 'Candidate', value: (r) => side(r.candidate), cell: (r) => side(r.candidate) },
  { key: 'primary', label: 'Primary', value: (r) => side(r.primary), cell: (r) => side(r.primary) },
  {
    key: 'startedAt',
    label: 'Started',
    value: (r) => r.startedAt,
    cell: (r) => [when(r.startedAt), r.endedAt ? h('div', { class: 'sub' }, `ended ${when(r.endedAt)}`) : h('div', { class: 'sub' }, `open (${r.reason})`)],
  },
  { key: 'compared', label: 'Compared', numeric: true, value: (r) => r.compared, cell: (r) => num(r.compared) },
  { key: 'verdict', label: 'Verdict', value: (r) => verdictRank(r.verdict), cell: (r) => badge(r.verdict) },
  { key: 'reasons', label: 'Reasons', value: (r) => r.reasons.join('; '), cell: (r) => reasons(r.reasons, r.note) },
];

export function reasons(list: string[], note?: string): HTMLElement {
  return h(
    'ul',
    { class: 'reasons' },
    list.map((x) => h('li', {}, x)),
    note ? h('li', { class: 'sub' }, `note: ${note}`) : null,
  );
}

export async function runsView(ctx: Ctx): Promise<View> {
  ctx.crumbs([{ label: 'Runs' }]);
  const holder = h('div', { class: 'holder' });
  ctx.main.append(
    h('h1', {}, 'Runs'),
    h('p', { class: 'lead' }, 'Each run compares one candidate with its primary on one mirrored route. Pick one to see its endpoints.'),
    holder,
  );
  let last = '';
  const refresh = async () => {
    const data = await getJson<{ runs: Run[] }>('runs', {}, ctx.signal);
    const text = JSON.stringify(data);
    if (text === last) return;
    last = text;
    const p = ctx.route.params;
    show(
      holder,
      table({
        caption: `${data.runs.length} run(s), newest first`,
        columns: runColumns,
        rows: data.runs,
        rowKey: (r) => r.id,
        sort: p.get('sort') ?? undefined,
        dir: p.get('dir') === 'desc' ? 'desc' : 'asc',
        onSort: (key, dir) => {
          ctx.setParam('sort', key);
          ctx.setParam('dir', dir);
          last = '';
          void refresh();
        },
        onOpen: (r) => ctx.go(links.endpoints(r.id)),
        empty: 'No run yet: a run opens when a mirrored route sees its first comparison.',
      }),
    );
  };
  await refresh();
  return { refresh };
}
