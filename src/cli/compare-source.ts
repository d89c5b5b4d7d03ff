// Where the comparison commands (verdict, runs, samples) read from: a running gateway's admin API, or a store file.
import type { Answer, Query } from '../comparator/index.js';
import { fetchAdmin } from './unreachable.js';

export interface CompareSource {
  /** `host:port` of a running gateway's admin listener. */
  admin?: string | undefined;
  /** The admin listener's token (serve --admin-token-file), sent as a Bearer token. */
  adminToken?: string | undefined;
  /** A comparison store read offline. */
  store?: string | undefined;
  /** Config files whose ShadowgateConfig thresholds apply to --store. */
  files?: string[];
}

/** The API path and parameters of a query, as the admin listener takes them. */
function toHttp(q: Query): { method: string; path: string; body?: string } {
  const p = new URLSearchParams();
  const set = (k: string, v: string | number | undefined) => {
    if (v !== undefined) p.set(k, String(v));
  };
  switch (q.kind) {
    case 'runs':
      set('limit', q.limit);
      return { method: 'GET', path: `runs?${p}` };
    case 'startRun':
      return {
        method: 'POST',
        path: 'runs',
        body: JSON.stringify({ ...(q.note === undefined ? {} : { note: q.note }), ...(q.route === undefined ? {} : { route: q.route }) }),
      };
    case 'verdict':
      set('run', q.run);
      if (q.sinceMs !== undefined) set('since', `${q.sinceMs}ms`);
      return { method: 'GET', path: `verdict?${p}` };
    case 'endpoints':
      set('run', q.run);
      return { method: 'GET', path: `endpoints?${p}` };
    case 'fields':
      set('run', q.run);
      set('endpoint', q.endpoint);
      return { method: 'GET', path: `fields?${p}` };
    case 'samples':
      set('run', q.run);
      set('endpoint', q.endpoint);
      set('field', q.field);
      set('limit', q.limit);
      set('before', q.before);
      return { method: 'GET', path: `samples?${p}` };
    case 'stats':
    case 'metrics':
      throw new Error(`${q.kind} is not served over HTTP`);
  }
}

/** Asks the gateway, or answers from the store file (read-only) with the same code the worker runs. */
export async function ask(src: CompareSource, q: Query): Promise<Answer> {
  if (src.admin) {
    const h = toHttp(q);
    const headers: Record<string, string> = {};
    if (src.adminToken !== undefined) headers.authorization = `Bearer ${src.adminToken}`;
    const init: RequestInit = { method: h.method, signal: AbortSignal.timeout(30_000), headers };
    if (h.body !== undefined) {
      init.body = h.body;
      headers['content-type'] = 'application/json';
    }
    const res = await fetchAdmin(src.admin, `http://${src.admin}/api/${h.path}`, init);
    const body = await res.text();
    // 401/403 come from the listener's access check (plain text), not from the API.
    if (res.status === 401 || res.status === 403 || res.status === 404 || res.status >= 500)
      throw new Error(`${src.admin} answered ${res.status}: ${body.trim().slice(0, 200)}`);
    return { status: res.status, body };
  }
  const [{ compileRules }, { DEFAULT_COMPARE_SETTINGS, loadSnapshot }, { readSources }, { CompareStore }, { answerQuery }] = await Promise.all([
    import('../compare/index.js'),
    import('../config/index.js'),
    import('../sources/index.js'),
    import('../store/index.js'),
    import('../comparator/index.js'),
  ]);
  let settings = DEFAULT_COMPARE_SETTINGS;
  if (src.files && src.files.length > 0) {
    const read = readSources(src.files);
    settings = loadSnapshot(read.sources, read.problems).settings.compare;
  }
  // Writes (`runs start`) need the gateway: a store is written by one process family only.
  if (q.kind === 'startRun') throw new Error('runs start needs a running gateway (--admin HOST:PORT)');
  const store = CompareStore.open(src.store!, { readonly: true });
  try {
    return answerQuery(store, q, settings.thresholds, compileRules(settings));
  } finally {
    store.close();
  }
}

/** The answer's JSON, or an Error with the API's own message for a 4xx. */
export function parse<T>(a: Answer): T {
  const v = JSON.parse(a.body) as T & { error?: string };
  if (a.status >= 400) throw new Error(v.error ?? `status ${a.status}`);
  return v;
}
