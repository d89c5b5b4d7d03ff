// Traffic: the routes that mirror where, per destination request rate, shadow delivery and abandons by reason,
// from the gateway's own metrics (/api/traffic): what the Grafana dashboard shows, without Grafana.
import { getJson } from '../api.js';
import { type Ctx, show, type View } from '../app.js';
import { h, num, pct, side } from '../dom.js';
import type { TrafficMirror, TrafficRoute } from '../types.js';

function abandoned(a: Record<string, number>): HTMLElement | string {
  const entries = Object.entries(a).filter(([, n]) => n > 0);
  if (entries.length === 0) return 'none';
  return h(
    'ul',
    { class: 'kinds' },
    entries.sort((x, y) => y[1] - x[1]).map(([reason, n]) => h('li', {}, h('span', { class: 'mono' }, reason), ` ×${num(n)}`)),
  );
}

function mirrorCells(m: TrafficMirror | undefined): HTMLElement[] {
  if (!m) return [h('td', { colspan: 6, class: 'note' }, 'not mirrored')];
  return [
    h('td', {}, side(m)),
    h('td', { class: 'num' }, `${num(m.percent)}%`),
    h('td', { class: 'num' }, m.rps === undefined ? '—' : `${num(m.rps)}/s`),
    h('td', { class: 'num' }, num(m.sampled)),
    h('td', { class: 'num' }, `${num(m.delivered)}`, h('div', { class: 'sub' }, m.sampled > 0 ? pct(m.delivered / m.sampled) : '—')),
    h('td', {}, abandoned(m.abandoned)),
  ];
}

export async function trafficView(ctx: Ctx): Promise<View> {
  ctx.crumbs([{ label: 'Traffic' }]);
  const holder = h('div', { class: 'holder' });
  ctx.main.append(
    h('h1', {}, 'Traffic'),
    h('p', { class: 'lead' }, 'Routes and where they mirror. Rates are per second over the last minute; shadow counts since the gateway started.'),
    holder,
  );
  let last = '';
  const refresh = async () => {
    const data = await getJson<{ routes: TrafficRoute[] }>('traffic', {}, ctx.signal);
    const text = JSON.stringify(data);
    if (text === last) return;
    last = text;
    const head = ['Route', 'Listener', 'Primary', 'Primary req/s', 'Mirror', 'Share', 'Copies/s', 'Sampled', 'Delivered', 'Abandoned'];
    const rows = data.routes.flatMap((r) => {
      const mirrors = r.mirrors.length > 0 ? r.mirrors : [undefined];
      const dests = r.destinations && r.destinations.length > 1 ? r.destinations : undefined;
      return mirrors.map((m, i) =>
        h(
          'tr',
          { tabindex: 0, class: 'row', 'data-key': `${r.route}\u0000${i}` },
          i === 0
            ? [
                h('td', { rowspan: mirrors.length, class: 'mono' }, r.route),
                h('td', { rowspan: mirrors.length, class: 'mono' }, r.listener),
                h('td', { rowspan: mirrors.length }, dests ? dests.map((d) => h('div', {}, `${side(d)} · weight ${d.weight}`)) : side(r.primary)),
                h('td', { rowspan: mirrors.length, class: 'num' }, dests ? dests.map((d) => h('div', {}, `${num(d.rps)}/s`)) : `${num(r.primary.rps)}/s`),
              ]
            : null,
          mirrorCells(m),
        ),
      );
    });
    show(
      holder,
      h(
        'table',
        { class: 'grid traffic' },
        h('caption', {}, `${data.routes.length} route(s)`),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            head.map((t) => h('th', { scope: 'col' }, t)),
          ),
        ),
        h('tbody', {}, rows.length > 0 ? rows : h('tr', {}, h('td', { colspan: head.length, class: 'empty' }, 'No route is configured.'))),
      ),
    );
  };
  await refresh();
  return { refresh };
}
