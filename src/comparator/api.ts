// The comparison part of the admin API (/api/runs, /api/verdict, /api/endpoints, /api/fields, /api/samples;
// docs/admin-api.md): parameters checked here, answers computed by the comparison worker.
// config's own modules, not its index (which loads the compiler and yaml): see config/index.ts.
import { parseDurationMs } from '../config/duration.js';
import type { Comparator } from './comparator.js';
import type { Query } from './queries.js';

export interface ApiRequest {
  method: string;
  /** The path after `/api/`, e.g. `runs`. */
  path: string;
  query: URLSearchParams;
  /** The request body (POST), already bounded by the admin listener. */
  body?: string;
}

export interface ApiResponse {
  status: number;
  /** JSON text. */
  body: string;
}

const MAX_LIMIT = 500;
const MAX_NOTE = 500;
/** Ids as the API hands them out: short, URL-safe. Anything else is refused before it reaches a query. */
const ID = /^[A-Za-z0-9_-]{1,64}$/;

const json = (status: number, value: unknown): ApiResponse => ({ status, body: JSON.stringify(value) });
const bad = (error: string): ApiResponse => json(400, { error });

class BadRequest extends Error {}

function id(q: URLSearchParams, name: string, required: boolean): string | undefined {
  const v = q.get(name);
  if (v === null || v === '') {
    if (required) throw new BadRequest(`${name} is required`);
    return undefined;
  }
  if (!ID.test(v)) throw new BadRequest(`${name} "${v.slice(0, 80)}" is not an id this API gave out`);
  return v;
}

function positiveInt(q: URLSearchParams, name: string, max: number): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (!/^[1-9]\d{0,15}$/.test(v) || Number(v) > max) throw new BadRequest(`${name} must be a whole number from 1 to ${max}, not "${v.slice(0, 80)}"`);
  return Number(v);
}

function parseStart(body: string | undefined): { note?: string; route?: string } {
  if (body === undefined || body.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new BadRequest('the body must be JSON: {"note"?: string, "route"?: string}');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BadRequest('the body must be a JSON object: {"note"?: string, "route"?: string}');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'note' && k !== 'route') throw new BadRequest(`unknown field "${k.slice(0, 40)}" (note, route)`);
  const out: { note?: string; route?: string } = {};
  if (o.note !== undefined) {
    if (typeof o.note !== 'string' || o.note.length > MAX_NOTE) throw new BadRequest(`note must be a string of at most ${MAX_NOTE} characters`);
    out.note = o.note;
  }
  if (o.route !== undefined) {
    if (typeof o.route !== 'string' || o.route === '' || o.route.length > 300) throw new BadRequest('route must be a route as /api/runs names it');
    out.route = o.route;
  }
  return out;
}

function toQuery(req: ApiRequest): Query | ApiResponse {
  const q = req.query;
  const post = req.method === 'POST';
  if (req.method !== 'GET' && req.method !== 'HEAD' && !(post && req.path === 'runs'))
    return json(405, { error: `${req.method} is not allowed on /api/${req.path}` });
  switch (req.path) {
    case 'runs':
      return post ? { kind: 'startRun', ...parseStart(req.body) } : { kind: 'runs', limit: positiveInt(q, 'limit', MAX_LIMIT) ?? 100 };
    case 'verdict': {
      const run = id(q, 'run', false);
      const since = q.get('since');
      let sinceMs: number | undefined;
      if (since !== null) {
        sinceMs = parseDurationMs(since);
        if (sinceMs === undefined || sinceMs <= 0) throw new BadRequest(`since must be a duration such as 30m or 2h, not "${since.slice(0, 80)}"`);
      }
      const v: Query = { kind: 'verdict' };
      if (run !== undefined) v.run = run;
      if (sinceMs !== undefined) v.sinceMs = sinceMs;
      return v;
    }
    case 'endpoints': {
      const run = id(q, 'run', false);
      return run === undefined ? { kind: 'endpoints' } : { kind: 'endpoints', run };
    }
    case 'fields': {
      const run = id(q, 'run', false);
      const endpoint = id(q, 'endpoint', true)!;
      return run === undefined ? { kind: 'fields', endpoint } : { kind: 'fields', run, endpoint };
    }
    case 'samples': {
      const s: Extract<Query, { kind: 'samples' }> = { kind: 'samples', endpoint: id(q, 'endpoint', true)!, limit: positiveInt(q, 'limit', MAX_LIMIT) ?? 20 };
      const run = id(q, 'run', false);
      if (run !== undefined) s.run = run;
      const field = q.get('field');
      if (field !== null && field !== '') {
        if (field.length > 1024) throw new BadRequest('field is too long');
        s.field = field;
      }
      const before = positiveInt(q, 'before', Number.MAX_SAFE_INTEGER);
      if (before !== undefined) s.before = before;
      return s;
    }
    default:
      return json(404, { error: `no such API: /api/${req.path.slice(0, 80)}` });
  }
}

/** Undefined: not a comparison API path (the caller answers 404 or serves another API there). */
export async function handleCompareApi(c: Comparator | undefined, req: ApiRequest): Promise<ApiResponse | undefined> {
  if (req.path === 'flush') {
    // Internal: the supervisor of --workers asks every worker to write what it holds before one answers.
    await c?.flush();
    return json(200, { flushed: true });
  }
  if (!['runs', 'verdict', 'endpoints', 'fields', 'samples'].includes(req.path)) return undefined;
  if (!c) {
    if (req.path === 'verdict' && req.method !== 'POST') return json(200, { result: 'INCONCLUSIVE', reasons: ['comparison is off (no --store)'], runs: [] });
    return json(404, { error: 'comparison is off (no --store)' });
  }
  let q: Query | ApiResponse;
  try {
    q = toQuery(req);
  } catch (err) {
    if (err instanceof BadRequest) return bad(err.message);
    throw err;
  }
  if ('status' in q) return q;
  return c.query(q);
}
