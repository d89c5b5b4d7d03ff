// Host/:authority → virtual host, with Envoy's domain precedence (exact, *suffix, prefix*, *).

/** Lower-cases and drops a trailing dot, before or after the port (Envoy stripTrailingHostDot). */
export function normalizeAuthority(authority: string): string {
  let a = authority.toLowerCase();
  if (a.endsWith('.')) return a.slice(0, -1);
  const colon = portStart(a);
  if (colon > 0 && a[colon - 1] === '.') a = a.slice(0, colon - 1) + a.slice(colon);
  return a;
}

/** Index of the ':' before a numeric port, or -1. IPv6 literals must be bracketed to carry one. */
function portStart(a: string): number {
  const colon = a.lastIndexOf(':');
  if (colon === -1 || colon === a.length - 1) return -1;
  if (a.lastIndexOf(']') > colon) return -1;
  if (a[0] !== '[' && a.indexOf(':') !== colon) return -1;
  for (let i = colon + 1; i < a.length; i++) {
    const c = a.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return colon;
}

/** The port an authority names, or undefined when it names none. */
export function portOf(a: string): number | undefined {
  const colon = portStart(a);
  return colon === -1 ? undefined : Number(a.slice(colon + 1));
}

export function stripPort(a: string): string {
  const colon = portStart(a);
  return colon === -1 ? a : a.slice(0, colon);
}

/**
 * Envoy's virtual host selection: an exact domain first, then the longest `*suffix` wildcard,
 * then the longest `prefix*` wildcard, then `*`. A wildcard must cover at least one character.
 */
export class DomainIndex<T> {
  readonly #exact = new Map<string, T>();
  readonly #suffix: Array<[string, T]> = [];
  readonly #prefix: Array<[string, T]> = [];
  #any: T | undefined;

  /** First registration of a domain wins (Envoy rejects duplicates; we keep going). */
  add(domain: string, value: T): void {
    const d = normalizeAuthority(domain);
    if (d === '*') {
      this.#any ??= value;
    } else if (d.startsWith('*')) {
      if (!this.#suffix.some(([s]) => s === d.slice(1))) this.#suffix.push([d.slice(1), value]);
    } else if (d.endsWith('*')) {
      if (!this.#prefix.some(([s]) => s === d.slice(0, -1))) this.#prefix.push([d.slice(0, -1), value]);
    } else if (!this.#exact.has(d)) {
      this.#exact.set(d, value);
    }
  }

  /** Call once after the last `add`. */
  seal(): void {
    // Longest first, as Envoy prefers the most specific wildcard; stable for equal lengths.
    this.#suffix.sort((a, b) => b[0].length - a[0].length);
    this.#prefix.sort((a, b) => b[0].length - a[0].length);
  }

  /** Exact or wildcard match, without the `*` fallback; `host` must already be normalized. */
  lookup(host: string): T | undefined {
    const hit = this.#exact.get(host);
    if (hit !== undefined) return hit;
    for (const [s, v] of this.#suffix) if (host.length > s.length && host.endsWith(s)) return v;
    for (const [p, v] of this.#prefix) if (host.length > p.length && host.startsWith(p)) return v;
    return undefined;
  }

  /** The `*` domain's owner, if any. */
  get any(): T | undefined {
    return this.#any;
  }
}
