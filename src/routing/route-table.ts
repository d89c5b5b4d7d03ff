// Listener port + Host/:authority → compiled virtual host, built once per snapshot.

import type { Listener, Problem } from '../config/model.js';
import { DomainIndex, normalizeAuthority, portOf, stripPort } from './domains.js';
import { CompiledVirtualHost } from './virtual-host.js';

interface PortEntry {
  readonly listener: Listener;
  /** Set when the port has exactly one virtual host: it takes all traffic, whatever the Host. */
  readonly only: CompiledVirtualHost | undefined;
  readonly domains: DomainIndex<CompiledVirtualHost>;
}

export class RouteTable {
  readonly #ports: ReadonlyMap<number, PortEntry>;
  /** Routes disabled at build time (e.g. a regex that is not RE2) and duplicate listener ports. */
  readonly problems: readonly Problem[];

  private constructor(ports: Map<number, PortEntry>, problems: Problem[]) {
    this.#ports = ports;
    this.problems = Object.freeze(problems);
  }

  static build(listeners: readonly Listener[]): RouteTable {
    const ports = new Map<number, PortEntry>();
    const problems: Problem[] = [];
    for (const listener of listeners) {
      if (ports.has(listener.port)) {
        problems.push({
          severity: 'warning',
          code: 'duplicate-listener-port',
          message: `listener port ${listener.port} appears twice; the first one is used`,
        });
        continue;
      }
      const hosts = listener.virtualHosts.map((vh) => new CompiledVirtualHost(vh));
      const domains = new DomainIndex<CompiledVirtualHost>();
      for (const vh of hosts) {
        for (const d of vh.source.domains) domains.add(d, vh);
        for (const r of vh.routes) {
          if (r.error === undefined) continue;
          problems.push({
            severity: 'error',
            code: 'route-not-compiled',
            message: `route ${r.route.name} disabled: ${r.error}`,
            resource: r.route.source,
            path: `spec.http[${r.route.index}]`,
          });
        }
      }
      domains.seal();
      ports.set(listener.port, { listener, only: hosts.length === 1 && !listener.strictHost ? hosts[0] : undefined, domains });
    }
    return new RouteTable(ports, problems);
  }

  get ports(): number[] {
    return [...this.#ports.keys()];
  }

  listener(port: number): Listener | undefined {
    return this.#ports.get(port)?.listener;
  }

  /**
   * undefined means "no route" (404 NR): unknown port, or several virtual hosts share the port and
   * none claims this authority. Tries the authority as sent, then without its port (so a domain
   * listed without port also takes the listener's port), and only then a `*` domain. An authority naming
   * another port than the listener's is looked up as it is, never port-stripped, and never given to the port's
   * only host: Istio's domains are `host` and `host:<service port>`, so Envoy answers `host:9999` with 404
   * unless a wildcard claims it.
   */
  findVirtualHost(port: number, authority: string | undefined): CompiledVirtualHost | undefined {
    const entry = this.#ports.get(port);
    if (entry === undefined) return undefined;
    const named = portOf(authority ?? '');
    if (named !== undefined && named !== port) {
      if (!entry.listener.hostPortIgnored) return entry.domains.lookup(normalizeAuthority(authority!)) ?? entry.domains.any;
      return this.findVirtualHost(port, stripPort(authority!));
    }
    if (entry.only) return entry.only;
    const host = normalizeAuthority(authority ?? '');
    const hit = entry.domains.lookup(host);
    if (hit) return hit;
    const bare = stripPort(host);
    return (bare === host ? undefined : entry.domains.lookup(bare)) ?? entry.domains.any;
  }
}
