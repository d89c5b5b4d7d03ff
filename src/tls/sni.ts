// Server name (SNI) → the server whose hosts take it, as Envoy picks a filter chain by server_names: the exact name,
// then the closest wildcard (`*.b.example.com` before `*.example.com`), then a server whose host is `*`.

export class SniIndex<T> {
  readonly #names = new Map<string, T>();
  #any: T | undefined;

  /** The first server to claim a name keeps it (the config reports the later one as a conflict). */
  add(pattern: string, value: T): void {
    const p = pattern.toLowerCase();
    if (p === '*') this.#any ??= value;
    else if (!this.#names.has(p)) this.#names.set(p, value);
  }

  /** `name` as the client sent it (may be empty: no SNI, only a `*` server answers). */
  lookup(name: string | undefined): T | undefined {
    if (!name) return this.#any;
    const n = name.toLowerCase().replace(/\.$/, '');
    const hit = this.#names.get(n);
    if (hit !== undefined) return hit;
    for (let dot = n.indexOf('.'); dot !== -1; dot = n.indexOf('.', dot + 1)) {
      const wild = this.#names.get(`*${n.slice(dot)}`);
      if (wild !== undefined) return wild;
    }
    return this.#any;
  }
}
