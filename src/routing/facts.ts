// What routing needs to know about a request, and the per-request view of it that matching reads.

/** Node's lower-cased IncomingHttpHeaders shape. */
export type HeaderMap = Record<string, string | string[] | undefined>;

export interface RequestFacts {
  method: string;
  /** Raw origin-form request-target, query included (`/a/b?x=1`). */
  path: string;
  authority: string;
  scheme: string;
  headers: HeaderMap;
  /** Listener port the request arrived on. */
  port: number;
}

/**
 * One request as matching sees it. The path split and the query parse are computed at most once
 * per request, and only when some condition needs them.
 */
export class MatchInput {
  readonly facts: RequestFacts;
  #pathOnly: string | undefined;
  #query: Map<string, string> | undefined;

  constructor(facts: RequestFacts) {
    this.facts = facts;
  }

  /** The path without query string or fragment, as Envoy's path matchers see it. */
  get pathOnly(): string {
    if (this.#pathOnly === undefined) this.#pathOnly = splitPath(this.facts.path)[0];
    return this.#pathOnly;
  }

  /** First value of each query parameter, NOT percent-decoded (Envoy's router does not decode). */
  get query(): Map<string, string> {
    if (this.#query === undefined) this.#query = parseQuery(this.facts.path);
    return this.#query;
  }
}

/** `[path, rest]` where rest is the `?query` and/or `#fragment` suffix, kept verbatim. */
export function splitPath(target: string): [string, string] {
  const q = target.indexOf('?');
  const h = target.indexOf('#');
  const cut = q === -1 ? h : h === -1 ? q : Math.min(q, h);
  return cut === -1 ? [target, ''] : [target.slice(0, cut), target.slice(cut)];
}

/**
 * Mirrors Envoy's `QueryParamsMulti::parseQueryString`: split on `&`, then on the first `=`; a
 * name without `=` has the empty value; names and values stay raw; the first occurrence wins for
 * matching (`getFirstValue`).
 */
export function parseQuery(target: string): Map<string, string> {
  const out = new Map<string, string>();
  const start = target.indexOf('?');
  if (start === -1) return out;
  let end = target.indexOf('#', start);
  if (end === -1) end = target.length;
  let i = start + 1;
  while (i < end) {
    let amp = target.indexOf('&', i);
    if (amp === -1 || amp > end) amp = end;
    const eq = target.indexOf('=', i);
    const [name, value] = eq !== -1 && eq < amp ? [target.slice(i, eq), target.slice(eq + 1, amp)] : [target.slice(i, amp), ''];
    if (!out.has(name)) out.set(name, value);
    i = amp + 1;
  }
  return out;
}

/** Joins a multi-valued header with ',' as Envoy's `getAllOfHeaderAsString` does. */
export function headerValue(raw: string | string[] | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw === 'string') return raw;
  return raw.length === 0 ? undefined : raw.join(',');
}

const UPPER = /[A-Z]/;
const UPPER_RUN = /[A-Z]+/g;

/**
 * ASCII-only lower-casing, as Envoy's case-insensitive path compare (absl::EqualsIgnoreCase).
 * Unlike String#toLowerCase it never changes the length, so prefix offsets stay valid.
 */
export function asciiLower(s: string): string {
  return UPPER.test(s) ? s.replace(UPPER_RUN, (m) => m.toLowerCase()) : s;
}
