// A JSON body pretty-printed as a foldable tree (<details>, so folding works by keyboard too), with the nodes at
// the sample's differing paths highlighted and their ancestors unfolded. Paths are the comparator's folded
// ones: `body.items[*].price`, `body["a.b"]` for keys that would be ambiguous (src/compare/render.ts keyPath).
import { type Child, h } from './dom.js';

const PLAIN_KEY = /^[^.[\]"]+$/;
/** Nodes drawn per body at most: a huge answer stays a responsive page. */
const MAX_NODES = 4000;

export function keyPath(path: string, key: string): string {
  return PLAIN_KEY.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** The contract's examples write `items[]`, the comparator `items[*]`: both name the same folded path. */
export function normalizePath(p: string): string {
  return p.replace(/\[\]/g, '[*]');
}

export interface Highlight {
  diffs: Set<string>;
  /** Every proper prefix of a differing path: those nodes start unfolded. */
  open: Set<string>;
}

export function highlightOf(fields: string[]): Highlight {
  const diffs = new Set(fields.map(normalizePath));
  const open = new Set<string>();
  for (const f of diffs) {
    for (let i = 1; i < f.length; i++) if (f[i] === '.' || f[i] === '[') open.add(f.slice(0, i));
  }
  return { diffs, open };
}

interface Ctx extends Highlight {
  nodes: number;
}

function primitive(v: unknown): HTMLElement {
  const type = v === null ? 'null' : typeof v === 'string' ? 'string' : typeof v === 'number' ? 'number' : 'boolean';
  return h('span', { class: `v-${type}` }, JSON.stringify(v));
}

function node(value: unknown, path: string, label: Child, depth: number, ctx: Ctx): HTMLElement {
  ctx.nodes++;
  const isDiff = ctx.diffs.has(path);
  const cls = (base: string) => (isDiff ? `${base} diff` : base);
  if (value === null || typeof value !== 'object') {
    return h('div', { class: cls('line'), 'data-path': path }, label, primitive(value));
  }
  const isArray = Array.isArray(value);
  const entries: [string, unknown][] = isArray ? value.map((v, i) => [String(i), v]) : Object.entries(value as Record<string, unknown>);
  const [open, close] = isArray ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) return h('div', { class: cls('line'), 'data-path': path }, label, `${open}${close}`);
  const kids: HTMLElement[] = [];
  for (const [k, v] of entries) {
    if (ctx.nodes >= MAX_NODES) {
      kids.push(h('div', { class: 'line more' }, `… ${entries.length - kids.length} more not shown`));
      break;
    }
    const childPath = isArray ? `${path}[*]` : keyPath(path, k);
    kids.push(node(v, childPath, isArray ? null : h('span', { class: 'key' }, JSON.stringify(k), ': '), depth + 1, ctx));
  }
  const unfolded = depth < 1 || ctx.open.has(path) || isDiff;
  const count = isArray ? `${entries.length} items` : `${entries.length} keys`;
  return h(
    'details',
    { class: cls('tree'), 'data-path': path, open: unfolded },
    h('summary', {}, label, open, h('span', { class: 'count' }, ` ${count} `), h('span', { class: 'closer' }, close)),
    h('div', { class: 'kids' }, kids),
    h('div', { class: 'line end' }, close),
  );
}

/** A body: a JSON tree when it parses, else its text (base64 bodies say so). */
export function bodyView(body: string, encoding: 'utf8' | 'base64', truncated: boolean, hl: Highlight): HTMLElement {
  const notes: string[] = [];
  if (encoding === 'base64') notes.push('binary, shown as base64');
  if (truncated) notes.push('truncated when sampled');
  const note = notes.length > 0 ? h('p', { class: 'note' }, notes.join('; ')) : null;
  if (body === '') return h('div', { class: 'body' }, note, h('p', { class: 'note' }, '(empty body)'));
  if (encoding === 'utf8' && !truncated && /^\s*[[{]/.test(body)) {
    try {
      const parsed: unknown = JSON.parse(body);
      return h('div', { class: 'body json' }, note, node(parsed, 'body', null, 0, { ...hl, nodes: 0 }));
    } catch {
      // not JSON after all: shown as text below
    }
  }
  return h('div', { class: hl.diffs.has('body') ? 'body diff' : 'body' }, note, h('pre', { class: 'text' }, body));
}
