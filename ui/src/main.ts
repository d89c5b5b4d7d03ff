// The diff explorer's shell: hash routing (every view is a deep link), live refresh of the open view, keyboard
// navigation, breadcrumbs and the status line.
import { type Crumb, type Ctx, parseHash, type Route, upOf, type View } from './app.js';
import { h } from './dom.js';
import { endpointsView } from './views/endpoints.js';
import { exchangeView } from './views/exchange.js';
import { fieldsView } from './views/fields.js';
import { runsView } from './views/runs.js';
import { trafficView } from './views/traffic.js';

/** How often the open view re-reads the API. */
const REFRESH_MS = 3000;

const mains: Record<Route['view'], (ctx: Ctx) => Promise<View>> = {
  runs: runsView,
  endpoints: endpointsView,
  fields: fieldsView,
  exchange: exchangeView,
  traffic: trafficView,
  missing: async (ctx) => {
    ctx.crumbs([]);
    ctx.main.append(h('h1', {}, 'Not found'), h('p', {}, 'No view has this address. ', h('a', { href: '#/runs' }, 'Go to the runs.')));
    return {};
  },
};

const main = document.getElementById('main')!;
const crumbs = document.getElementById('crumbs')!;
const statusLine = document.getElementById('status')!;
const help = document.getElementById('help')!;
const helpToggle = document.getElementById('help-toggle')!;

let current: { route: Route; view: View; abort: AbortController } | undefined;
let refreshing = false;

function status(text: string, error = false): void {
  statusLine.textContent = text;
  statusLine.className = error ? 'error' : '';
}

function stamp(): string {
  return new Date().toISOString().slice(11, 19);
}

async function open(): Promise<void> {
  current?.abort.abort();
  const route = parseHash(location.hash);
  const abort = new AbortController();
  // A fresh root per view: a view still loading for the previous address draws into a detached element.
  const root = h('div', { class: 'view' });
  main.replaceChildren(root);
  const ctx: Ctx = {
    route,
    main: root,
    signal: abort.signal,
    go: (hash) => {
      location.hash = hash;
    },
    setParam: (name, value) => {
      if (value === undefined) route.params.delete(name);
      else route.params.set(name, value);
      const base = location.hash.replace(/\?.*$/, '');
      history.replaceState(null, '', `${base}${route.params.size > 0 ? `?${route.params}` : ''}`);
    },
    crumbs: (list: Crumb[]) =>
      crumbs.replaceChildren(
        ...list.flatMap((c, i) => [
          i > 0 ? h('span', { class: 'sep', 'aria-hidden': 'true' }, ' › ') : '',
          c.href ? h('a', { href: c.href }, c.label) : h('span', { 'aria-current': 'page' }, c.label),
        ]),
      ),
  };
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.getAttribute('data-nav') === (route.view === 'traffic' ? 'traffic' : 'runs'));
  }
  status('loading…');
  try {
    const view = await mains[route.view](ctx);
    if (abort.signal.aborted) return;
    current = { route, view, abort };
    root.setAttribute('data-ready', location.hash);
    status(`updated ${stamp()}${view.refresh ? ` · refreshing every ${REFRESH_MS / 1000} s` : ''}`);
    main.querySelector<HTMLElement>('tr[tabindex="0"]')?.focus({ preventScroll: true });
  } catch (err) {
    if (abort.signal.aborted) return;
    current = { route, view: {}, abort };
    root.replaceChildren(h('h1', {}, 'Cannot show this view'), h('p', { class: 'error' }, (err as Error).message));
    root.setAttribute('data-ready', location.hash);
    status(`failed ${stamp()}`, true);
  }
}

async function tick(): Promise<void> {
  const c = current;
  if (!c?.view.refresh || refreshing || document.visibilityState !== 'visible') return;
  refreshing = true;
  try {
    await c.view.refresh();
    if (current === c) status(`updated ${stamp()} · refreshing every ${REFRESH_MS / 1000} s`);
  } catch (err) {
    if (current === c && !c.abort.signal.aborted) status(`refresh failed ${stamp()}: ${(err as Error).message}`, true);
  } finally {
    refreshing = false;
  }
}

function moveRow(step: number): void {
  const rows = [...main.querySelectorAll<HTMLElement>('tr[tabindex="0"]')];
  if (rows.length === 0) return;
  const at = rows.indexOf(document.activeElement as HTMLElement);
  const next = rows[at < 0 ? 0 : Math.min(rows.length - 1, Math.max(0, at + step))]!;
  next.focus();
}

function toggleHelp(): void {
  help.hidden = !help.hidden;
  helpToggle.setAttribute('aria-expanded', String(!help.hidden));
}

document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target as HTMLElement;
  if (t.closest('input, select, textarea')) {
    if (e.key === 'Escape') t.blur();
    return;
  }
  if (e.key === 'Enter' || e.key === ' ') return; // buttons, links and rows handle their own
  if (e.key === 'Escape' && !help.hidden) {
    toggleHelp();
    return;
  }
  const handled = (() => {
    if (current?.view.onKey?.(e)) return true;
    switch (e.key) {
      case 'j':
      case 'ArrowDown':
        moveRow(1);
        return true;
      case 'k':
      case 'ArrowUp':
        moveRow(-1);
        return true;
      case 'u':
      case 'Backspace':
        location.hash = upOf(current?.route ?? parseHash(location.hash));
        return true;
      case '/':
        main.querySelector<HTMLElement>('[data-filter]')?.focus();
        return true;
      case 'r':
        location.hash = '#/runs';
        return true;
      case 't':
        location.hash = '#/traffic';
        return true;
      case '?':
        toggleHelp();
        return true;
      default:
        return false;
    }
  })();
  if (handled) e.preventDefault();
});

helpToggle.addEventListener('click', toggleHelp);
window.addEventListener('hashchange', () => void open());
setInterval(() => void tick(), REFRESH_MS);
void open();
