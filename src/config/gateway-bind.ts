// Istio Gateways served: their servers become listeners, and VirtualServices bind to them by `spec.gateways`, their
// hosts intersected with each server's, as Istio's gateway route builder decides (pilot/pkg/networking/core/gateway.go).
import type { GatewaySpec, ServerSpec } from './gateway.js';
import type { Listener, PassthroughRoute, Route, ServerTls, VirtualHost } from './model.js';
import { formatPath } from './problems.js';
import { DEFAULT_RETRIES, type TlsRouteSpec, type VirtualServiceSpec } from './virtual-service.js';

export const MESH = 'mesh';

export interface GatewayBinding {
  /** One per port of the served servers (the mesh's own binding is snapshot.ts's: no `gateways`, or `mesh` among them). */
  listeners: Listener[];
}

/** `gw` → `<vs namespace>/gw`; `ns/gw` as is; the older `gw.ns(.svc.cluster.local)` form → `ns/gw`. */
export function gatewayKey(ref: string, namespace: string): string {
  if (ref.includes('/')) return ref;
  const dot = ref.indexOf('.');
  if (dot === -1) return `${namespace}/${ref}`;
  const [name, ns] = ref.split('.');
  return `${ns}/${name}`;
}

/** Istio's host intersection: the more specific of two names when one covers the other, else none. */
export function intersectHost(server: string, vs: string): string | undefined {
  if (covers(server, vs)) return vs;
  if (covers(vs, server)) return server;
  return undefined;
}

function covers(pattern: string, host: string): boolean {
  if (pattern === '*' || pattern === host) return true;
  if (!pattern.startsWith('*.')) return false;
  const suffix = pattern.slice(1);
  return host.length > suffix.length && host.endsWith(suffix);
}

/** Server modes Shadowgate terminates; the others (PASSTHROUGH, AUTO_PASSTHROUGH, ISTIO_MUTUAL) are not served. */
const TERMINATED = new Set(['SIMPLE', 'MUTUAL', 'OPTIONAL_MUTUAL']);
const PLAIN = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);

const NO_HEADERS = () => ({ request: { set: {}, add: {}, remove: [] }, response: { set: {}, add: {}, remove: [] } });

/** Envoy's `require_tls: ALL` on a plain server with `httpsRedirect`: every request answers 301 to its https URL. */
function redirectRoute(gw: GatewaySpec, server: ServerSpec): Route {
  return {
    name: `${gw.name}.${server.label}.https-redirect`,
    source: gw.ref,
    index: server.index,
    matches: [],
    action: { kind: 'redirect', redirect: { scheme: 'https', redirectCode: 301 } },
    mirrors: [],
    retries: DEFAULT_RETRIES,
    headers: NO_HEADERS(),
  };
}

interface PortPlan {
  port: number;
  protocol: string;
  /** Some server terminates TLS (HTTPS SIMPLE/MUTUAL/OPTIONAL_MUTUAL). */
  terminates: boolean;
  /**
   * Some server passes TLS through by SNI (PASSTHROUGH). Both may share a port, as in Istio, where each server is a
   * filter chain matched by SNI; plain HTTP never shares a port with either.
   */
  passthrough: boolean;
  bind?: string;
  servers: Array<{ gw: GatewaySpec; server: ServerSpec; passthrough: boolean }>;
}

export function bindGateways(
  gateways: readonly GatewaySpec[],
  virtualServices: readonly VirtualServiceSpec[],
  /** Ports that ServiceEntries (or Gateway API listeners) already listen on. */
  takenPorts: ReadonlySet<number>,
  buildRoutes: (vs: VirtualServiceSpec, port: number) => Route[],
  /** A `tls:` route's destinations as clusters (the snapshot resolves them as it does http routes'). */
  tlsDestinations: (vs: VirtualServiceSpec, route: TlsRouteSpec, port: number) => PassthroughRoute['destinations'],
): GatewayBinding {
  const byKey = new Map<string, GatewaySpec>();
  for (const gw of gateways) if (!gw.ctx.failed) byKey.set(`${gw.namespace}/${gw.name}`, gw);

  // --- which gateways each VirtualService binds to
  const bound = new Map<GatewaySpec, VirtualServiceSpec[]>();
  for (const vs of virtualServices) {
    vs.gateways.forEach((ref, i) => {
      if (ref === MESH) return;
      const gw = byKey.get(gatewayKey(ref, vs.namespace));
      if (!gw) {
        vs.ctx.reference(
          'warning',
          'unknown-gateway',
          ['spec', 'gateways', i],
          `no Gateway ${gatewayKey(ref, vs.namespace)} is loaded: these routes get no traffic there`,
        );
        return;
      }
      const list = bound.get(gw) ?? [];
      if (!list.includes(vs)) list.push(vs);
      bound.set(gw, list);
    });
  }

  // --- servers by port: every Gateway is merged, as on the one workload their selectors pick (Shadowgate is it)
  const plans = new Map<number, PortPlan>();
  for (const gw of byKey.values()) {
    for (const server of gw.servers) {
      const at = [...server.path, 'port'];
      const mode = server.tls?.mode;
      const terminates = server.protocol === 'HTTPS' && mode !== undefined && TERMINATED.has(mode);
      // Istio passes TLS through on TLS and HTTPS servers in PASSTHROUGH mode (a TLS server without tls too).
      const passthrough = (server.protocol === 'TLS' || server.protocol === 'HTTPS') && (mode === 'PASSTHROUGH' || (server.protocol === 'TLS' && !mode));
      if (!terminates && !passthrough && !PLAIN.has(server.protocol)) {
        const why =
          server.protocol === 'TLS' || mode === 'AUTO_PASSTHROUGH'
            ? `TLS ${mode ?? 'PASSTHROUGH'} is not supported (PASSTHROUGH is)`
            : mode === 'ISTIO_MUTUAL'
              ? 'ISTIO_MUTUAL needs the mesh identities Shadowgate does not have'
              : `protocol ${server.protocol} is not served (HTTP, HTTP2, GRPC, GRPC-WEB and HTTPS are)`;
        gw.ctx.reference(
          'warning',
          'not-supported',
          mode && !PLAIN.has(server.protocol) ? [...server.path, 'tls', 'mode'] : at,
          `${why}: this server is not served`,
        );
        continue;
      }
      if (takenPorts.has(server.port)) {
        gw.ctx.reference(
          'warning',
          'port-unavailable',
          at,
          `port ${server.port} is already a ServiceEntry's or a Gateway API listener's: this server is not served`,
        );
        continue;
      }
      const plan = plans.get(server.port);
      if (!plan) {
        const p: PortPlan = { port: server.port, protocol: server.protocol, terminates, passthrough, servers: [{ gw, server, passthrough }] };
        if (server.bind) p.bind = server.bind;
        plans.set(server.port, p);
        continue;
      }
      const planTls = plan.terminates || plan.passthrough;
      if (planTls !== (terminates || passthrough)) {
        const serves = planTls ? 'TLS' : 'plain HTTP';
        gw.ctx.reference(
          'warning',
          'port-unavailable',
          at,
          `port ${server.port} already serves ${serves} for ${plan.servers[0]!.gw.ref}: one port cannot mix plain HTTP and TLS; this server is not served`,
        );
        continue;
      }
      if ((server.bind ?? '') !== (plan.bind ?? '')) {
        gw.ctx.reference(
          'warning',
          'port-unavailable',
          [...server.path, 'bind'],
          `port ${server.port} is already bound to ${plan.bind ?? 'the --bind address'}: this server is not served`,
        );
        continue;
      }
      plan.terminates ||= terminates;
      plan.passthrough ||= passthrough;
      plan.servers.push({ gw, server, passthrough });
    }
  }

  // --- each port: virtual hosts from the bound VirtualServices, TLS settings per server
  const listeners: Listener[] = [];
  for (const plan of [...plans.values()].sort((a, b) => a.port - b.port)) {
    const routes = plan.passthrough ? passthroughRoutes(plan, bound, tlsDestinations) : undefined;
    if (routes && !plan.terminates) {
      const listener: Listener = { port: plan.port, protocol: 'TLS', virtualHosts: [], hostPortIgnored: true, strictHost: true, passthrough: routes };
      if (plan.bind) listener.bind = plan.bind;
      listeners.push(listener);
      continue;
    }
    const vhosts = new Map<string, VirtualHost>();
    const sniSeen = new Set<string>();
    const tls: ServerTls[] = [];
    for (const { gw, server, passthrough } of plan.servers) {
      // A PASSTHROUGH server beside terminated ones: its connections never reach HTTP (passthroughRoutes has it).
      if (passthrough) continue;
      const redirect = !plan.terminates && server.tls?.httpsRedirect === true;
      const covered = new Set<string>();
      for (const vs of bound.get(gw) ?? []) {
        const names = new Set<string>();
        for (const sh of server.hosts) {
          if (sh.namespace === '~' || (sh.namespace !== '*' && sh.namespace !== vs.namespace)) continue;
          for (const h of vs.hosts) {
            const name = intersectHost(sh.host, h);
            if (name !== undefined) names.add(name);
          }
        }
        if (names.size === 0) continue;
        const routes = redirect ? [redirectRoute(gw, server)] : buildRoutes(vs, plan.port);
        for (const name of names) {
          covered.add(name);
          const vh = vhosts.get(name);
          // Istio merges the routes of every VirtualService bound to the same gateway host, in order.
          if (vh) {
            if (!redirect) vh.routes.push(...routes);
          } else vhosts.set(name, { host: name, domains: [name], port: plan.port, routes: [...routes], fromVirtualService: true });
        }
      }
      if (redirect) {
        // A redirecting server answers its hosts even without a VirtualService: the redirect is the server's.
        for (const sh of server.hosts) {
          if (covered.has(sh.host) || vhosts.has(sh.host)) continue;
          vhosts.set(sh.host, { host: sh.host, domains: [sh.host], port: plan.port, routes: [redirectRoute(gw, server)], fromVirtualService: false });
        }
      }
      if (plan.terminates && server.tls) {
        const hosts: string[] = [];
        server.hosts.forEach((sh, i) => {
          if (sniSeen.has(sh.host)) {
            gw.ctx.reference(
              'warning',
              'hostname-conflict',
              [...server.path, 'hosts', i],
              `another server on port ${plan.port} already answers SNI ${sh.host}; it keeps it`,
            );
            return;
          }
          // The same name in a tls route: a tie, which the route takes (proxy/passthrough.ts), as Istio keeps one chain.
          const passed = routes?.find((r) => r.sniHosts.includes(sh.host));
          if (passed) {
            gw.ctx.reference(
              'warning',
              'hostname-conflict',
              [...server.path, 'hosts', i],
              `SNI ${sh.host} on port ${plan.port} is also a PASSTHROUGH route's (${passed.source}): it is passed through, not terminated`,
            );
          }
          sniSeen.add(sh.host);
          hosts.push(sh.host);
        });
        const t = server.tls;
        const entry: ServerTls = {
          mode: t.mode as ServerTls['mode'],
          hosts,
          cipherSuites: t.cipherSuites,
          source: { resource: gw.ref, gateway: `${gw.namespace}/${gw.name}`, server: server.label, path: formatPath([...server.path, 'tls']) },
        };
        for (const f of ['serverCertificate', 'privateKey', 'caCertificates', 'minProtocolVersion', 'maxProtocolVersion'] as const) {
          if (t[f] !== undefined) (entry as unknown as Record<string, unknown>)[f] = t[f];
        }
        // Istio: a credentialName without a namespace is the Gateway's namespace.
        if (t.credentialName) entry.credentialName = t.credentialName.includes('/') ? t.credentialName : `${gw.namespace}/${t.credentialName}`;
        if (gw.res.file !== undefined) entry.source.file = gw.res.file;
        const line = gw.res.locate([...server.path, 'tls'])?.line;
        if (line !== undefined) entry.source.line = line;
        tls.push(entry);
      }
    }
    const listener: Listener = {
      port: plan.port,
      protocol: plan.terminates ? 'HTTPS' : plan.protocol,
      virtualHosts: [...vhosts.values()],
      hostPortIgnored: true,
      strictHost: true,
    };
    if (plan.terminates) listener.tls = tls;
    // Terminated and passed-through servers on one port: each connection goes by its SNI (proxy/passthrough.ts).
    if (routes) listener.passthrough = routes;
    if (plan.bind) listener.bind = plan.bind;
    listeners.push(listener);
  }

  // --- a VirtualService bound to gateways whose servers take none of its hosts (tls-only ones: by their sniHosts)
  for (const [gw, list] of bound) {
    for (const vs of list) {
      const any = gw.servers.some((s) =>
        s.hosts.some((sh) => (sh.namespace === '*' || sh.namespace === vs.namespace) && vs.hosts.some((h) => intersectHost(sh.host, h) !== undefined)),
      );
      if (!any) {
        vs.ctx.reference(
          'warning',
          'no-gateway-hosts',
          ['spec', 'hosts'],
          `no server of ${gw.ref} takes any of ${vs.hosts.join(', ')} (from this namespace): no traffic reaches these routes there`,
        );
      }
    }
  }

  return { listeners };
}

/**
 * A port's PASSTHROUGH servers: each bound VirtualService's `tls:` routes, in order, with the SNI names its servers
 * take (the intersection of a match's sniHosts with the server's hosts, as Istio builds the filter chain match). A
 * match's `port` must be the server's, its `gateways` (when set) must name the server's Gateway.
 */
function passthroughRoutes(
  plan: PortPlan,
  bound: ReadonlyMap<GatewaySpec, VirtualServiceSpec[]>,
  tlsDestinations: (vs: VirtualServiceSpec, route: TlsRouteSpec, port: number) => PassthroughRoute['destinations'],
): PassthroughRoute[] {
  const routes: PassthroughRoute[] = [];
  for (const { gw, server, passthrough } of plan.servers) {
    if (!passthrough) continue;
    for (const vs of bound.get(gw) ?? []) {
      for (const route of vs.tls) {
        const names = new Set<string>();
        for (const m of route.matches) {
          if (m.port !== undefined && m.port !== plan.port) continue;
          if (m.gateways.length > 0 && !m.gateways.some((g) => gatewayKey(g, vs.namespace) === `${gw.namespace}/${gw.name}`)) continue;
          for (const sh of server.hosts) {
            if (sh.namespace === '~' || (sh.namespace !== '*' && sh.namespace !== vs.namespace)) continue;
            for (const sni of m.sniHosts) {
              const name = intersectHost(sh.host, sni);
              if (name !== undefined) names.add(name);
            }
          }
        }
        if (names.size > 0) routes.push({ sniHosts: [...names], destinations: tlsDestinations(vs, route, plan.port), source: `${vs.ref} tls[${route.index}]` });
      }
    }
  }
  return routes;
}
