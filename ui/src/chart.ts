// A small inline SVG line of a field's difference rate per minute (built as DOM, so the CSP allows it).
import { svg } from './dom.js';
import type { Field } from './types.js';

const W = 120;
const H = 28;

export function rateChart(series: Field['series']): SVGElement {
  const rates = series.map((p) => (p.compared > 0 ? p.diffs / p.compared : 0));
  const max = Math.max(0.01, ...rates);
  const step = rates.length > 1 ? W / (rates.length - 1) : 0;
  const points = rates.map((r, i) => `${(i * step).toFixed(1)},${(H - 2 - (r / max) * (H - 4)).toFixed(1)}`).join(' ');
  const last = rates.at(-1) ?? 0;
  const label = `difference rate per minute over ${rates.length} minute(s), peak ${(Math.max(0, ...rates) * 100).toFixed(2)}%, last ${(last * 100).toFixed(2)}%`;
  return svg(
    'svg',
    { class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': label },
    svg('title', {}, label),
    svg('line', { x1: 0, y1: H - 2, x2: W, y2: H - 2, class: 'axis' }),
    rates.length > 1
      ? svg('polyline', { points, class: 'spark' })
      : rates.length === 1
        ? svg('circle', { cx: W / 2, cy: points.split(',')[1] ?? H - 2, r: 2, class: 'dot' })
        : null,
  );
}
