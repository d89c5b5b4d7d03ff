// A small client for Prometheus' HTTP API (instant queries): what the fleet verdict reads. Loopback or cluster
// URLs alike; every call bounded by a timeout; errors name the query and what Prometheus said.

/** Where the fleet's comparison metrics are: a Prometheus that scrapes every replica. */
export interface FleetSource {
  /** Base URL, e.g. `http://prometheus.monitoring:9090`. */
  url: string;
  /** Extra label matchers for every series, e.g. `job="shadowgate",namespace="test"`. */
  selector?: string;
  /** How far back the sums go (ms). Default 1 h. */
  windowMs?: number;
  timeoutMs?: number;
}

export interface PromSeries {
  metric: Record<string, string>;
  /** Instant vector: one [time, value]; range (matrix): every sample in the range. */
  values: Array<[number, number]>;
}

const MATCHERS = /^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*(,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*)*,?\s*$/;

/** Checks a `--selector`: label matchers only (`a="x",b=~"y.*"`), so nothing else can be spliced into a query. */
export function checkSelector(selector: string): string | undefined {
  const s = selector.trim().replace(/^\{|\}$/g, '');
  if (s === '') return undefined;
  if (!MATCHERS.test(s)) throw new Error(`the selector must be label matchers such as job="shadowgate",namespace="test", not ${JSON.stringify(selector)}`);
  return s.replace(/,\s*$/, '');
}

/** A Prometheus duration for milliseconds (`3600s`). */
export function promDuration(ms: number): string {
  return `${Math.max(1, Math.round(ms / 1000))}s`;
}

export async function promQuery(src: FleetSource, expr: string, at?: number): Promise<PromSeries[]> {
  const params = new URLSearchParams({ query: expr });
  if (at !== undefined) params.set('time', String(at / 1000));
  const url = `${src.url.replace(/\/+$/, '')}/api/v1/query`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: params.toString(),
      signal: AbortSignal.timeout(src.timeoutMs ?? 30_000),
    });
  } catch (err) {
    throw new Error(`Prometheus at ${src.url} did not answer: ${(err as Error).message}`);
  }
  const text = await res.text();
  let body: { status?: string; error?: string; data?: { resultType: string; result: unknown[] } };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`Prometheus at ${src.url} answered ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  if (body.status !== 'success' || !body.data) throw new Error(`Prometheus at ${src.url} refused ${expr.slice(0, 200)}: ${body.error ?? res.status}`);
  const { resultType, result } = body.data;
  return (result as Array<{ metric: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }>).map((r) => ({
    metric: r.metric,
    values: (resultType === 'matrix' ? (r.values ?? []) : r.value ? [r.value] : []).map(([t, v]) => [t * 1000, Number(v)] as [number, number]),
  }));
}
