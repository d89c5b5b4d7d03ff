// The only way this page makes DOM: elements from tag names and attributes, text as text nodes. Nothing here (or
// anywhere in ui/) parses an HTML string, so a hostile sample can only ever be shown as text; the page's
// Content-Security-Policy (require-trusted-types-for) makes innerHTML throw if anyone tries.
export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else parent.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

function setAttrs(el: Element, attrs: Attrs): void {
  for (const [name, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') {
      el.addEventListener(name.replace(/^on/, ''), v);
      continue;
    }
    // Links are only ever in-page routes this code builds: a javascript: or foreign URL cannot be made.
    if (name === 'href' && !String(v).startsWith('#')) throw new Error(`refusing href ${String(v)}`);
    if (/^on/i.test(name) || name === 'style' || name === 'src') throw new Error(`refusing attribute ${name}`);
    el.setAttribute(name, v === true ? '' : String(v));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

export function svg(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVG, tag) as SVGElement;
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function clear(el: Element): void {
  el.replaceChildren();
}

/** A class name from a fixed set, so no data decides a class outside it. */
export function verdictClass(v: string): string {
  return v === 'PASS' || v === 'FAIL' || v === 'INCONCLUSIVE' ? `verdict verdict-${v.toLowerCase()}` : 'verdict';
}

export function badge(v: string): HTMLElement {
  return h('span', { class: verdictClass(v) }, v);
}

export function pct(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  const p = x * 100;
  return `${p === 0 ? '0' : p < 0.1 ? p.toFixed(3) : p < 10 ? p.toFixed(2) : p.toFixed(1)}%`;
}

export function ms(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return x < 10 ? `${x.toFixed(2)} ms` : x < 1000 ? `${x.toFixed(0)} ms` : `${(x / 1000).toFixed(2)} s`;
}

export function num(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return x.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? iso
    : d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}

export function side(s: { host: string; subset?: string } | undefined): string {
  return s ? (s.subset ? `${s.host} (${s.subset})` : s.host) : '—';
}

/** FAIL first: the order a reader wants the verdicts in. */
export function verdictRank(v: string): number {
  return v === 'FAIL' ? 0 : v === 'INCONCLUSIVE' ? 1 : v === 'PASS' ? 2 : 3;
}
