// What every view gets from the shell (routing, status, breadcrumbs) and the deep-link format of each view.
export type ViewName = 'runs' | 'endpoints' | 'fields' | 'exchange' | 'traffic' | 'missing';

export interface Route {
  view: ViewName;
  run?: string;
  endpoint?: string;
  sample?: string;
  params: URLSearchParams;
}

export interface Crumb {
  label: string;
  href?: string;
}

export interface Ctx {
  route: Route;
  main: HTMLElement;
  signal: AbortSignal;
  go(hash: string): void;
  /** Changes one deep-link parameter in place (no reload, no history entry). */
  setParam(name: string, value: string | undefined): void;
  crumbs(list: Crumb[]): void;
}

export interface View {
  /** Re-reads the data and redraws what changed; called every few seconds while the view is open and live. */
  refresh?: () => Promise<void>;
  onKey?: (e: KeyboardEvent) => boolean;
}

const enc = encodeURIComponent;

export const links = {
  runs: () => '#/runs',
  traffic: () => '#/traffic',
  endpoints: (run: string) => `#/runs/${enc(run)}`,
  fields: (run: string, endpoint: string) => `#/runs/${enc(run)}/endpoints/${enc(endpoint)}`,
  exchange: (run: string, endpoint: string, sample?: string, field?: string) =>
    `#/runs/${enc(run)}/endpoints/${enc(endpoint)}/samples${sample ? `/${enc(sample)}` : ''}${field ? `?field=${enc(field)}` : ''}`,
};

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  let parts: string[];
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return { view: 'missing', params };
  }
  const [a, run, b, endpoint, c, sample, ...rest] = parts;
  if (rest.length > 0) return { view: 'missing', params };
  if (a === undefined || (a === 'runs' && run === undefined)) return { view: 'runs', params };
  if (a === 'traffic' && run === undefined) return { view: 'traffic', params };
  if (a !== 'runs' || run === undefined) return { view: 'missing', params };
  if (b === undefined) return { view: 'endpoints', run, params };
  if (b !== 'endpoints' || endpoint === undefined) return { view: 'missing', params };
  if (c === undefined) return { view: 'fields', run, endpoint, params };
  if (c !== 'samples') return { view: 'missing', params };
  return { view: 'exchange', run, endpoint, ...(sample !== undefined ? { sample } : {}), params };
}

/** One level up from a route, for `u` / Backspace. */
export function upOf(r: Route): string {
  if (r.view === 'exchange' && r.run && r.endpoint) return links.fields(r.run, r.endpoint);
  if (r.view === 'fields' && r.run) return links.endpoints(r.run);
  return links.runs();
}

/** Shows `next` in `holder` instead of what it held, putting the keyboard focus back on the row (data-key) that had it. */
export function show(holder: Element, next: Element): void {
  const focused = document.activeElement;
  const key = focused && holder.contains(focused) ? focused.closest('[data-key]')?.getAttribute('data-key') : null;
  holder.replaceChildren(next);
  if (key !== null && key !== undefined) {
    for (const el of next.querySelectorAll<HTMLElement>('[data-key]')) {
      if (el.getAttribute('data-key') === key) {
        el.focus({ preventScroll: true });
        break;
      }
    }
  }
}
