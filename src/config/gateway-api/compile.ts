import type { Listener, PassthroughRoute, Route, ServerTls, VirtualHost } from '../model.js';
import { formatPath } from '../problems.js';
import { type Attachment, attach, type LiveListener, type MeshBinding, type Outcome } from './attach.js';
import { checkRefs, type Registry, resolveRule } from './backends.js';
import { covers, mostSpecific, specificity } from './hostnames.js';
import { resolveKindConflicts } from './kind-conflicts.js';
import { passthroughRoutes } from './passthrough-routes.js';
import { compareEntries, type Entry } from './precedence.js';
import { buildRoute, type ResolvedRule } from './routes.js';
import { BUILTIN_CLASS, CONTROLLER_NAME, GATEWAY_API_GROUP } from './schemas.js';
import { type Condition, condition, gatewayConditions, parentStatus, reasonCode, SUPPORTED_FEATURES } from './status.js';
import {
  type GatewayApiResources,
  type GatewaySpec,
  type ListenerSpec,
  type ListenerTlsSpec,
  type ParentRefSpec,
  ROUTE_KINDS,
  type RouteKind,
  type RouteSpec,
  type RuleSpec,
} from './types.js';

export interface GatewayApiResult {
  /** Listeners of Shadowgate's Gateways (ports no ServiceEntry listens on). */
  listeners: Listener[];
  /** GAMMA: the routes of a Service host's port when HTTPRoutes attach to it; undefined otherwise. */
  meshRoutes(host: string, port: number): Route[] | undefined;
  /** Status by `Kind/namespace/name`. */
  statuses: Map<string, Record<string, unknown>>;
  /**
   * By `Gateway/namespace/name`: per listener name, the Secrets (`ns/name`) its certificateRefs name and the grants
   * allow. Whether they exist and hold a usable certificate is checked when the status is written (status.ts
   * withCertificateChecks): building the config reads no Secret.
   */
  certificateRefs: Map<string, Record<string, string[]>>;
  /** By `Gateway/namespace/name`: each listener's port, for the addresses its status gives (status.ts withAddresses). */
  listenerPorts: Map<string, Record<string, number>>;
}

/** `controllerName`: the GatewayClass controller Shadowgate answers to (`serve --gateway-controller-name`). */
export function compileGatewayApi(res: GatewayApiResources, registry: Registry, controllerName: string = CONTROLLER_NAME): GatewayApiResult {
  const statuses = new Map<string, Record<string, unknown>>();
  const certificateRefs = new Map<string, Record<string, string[]>>();
  const listenerPorts = new Map<string, Record<string, number>>();
  const classes = new Map(res.classes.map((c) => [c.name, c]));
  for (const c of res.classes) {
    if (c.controllerName !== controllerName) {
      c.ctx.report(
        'info',
        'not-our-class',
        ['spec', 'controllerName'],
        `controllerName is not ${controllerName}: Gateways of this class are left to their controller`,
      );
      continue;
    }
    statuses.set(`GatewayClass/${c.namespace}/${c.name}`, {
      conditions: [condition('Accepted', true, 'Accepted', 'handled by Shadowgate', c.generation)],
      supportedFeatures: SUPPORTED_FEATURES.map((name) => ({ name })),
    });
  }
  const ours = (g: GatewaySpec) => {
    const c = classes.get(g.className);
    return c ? c.controllerName === controllerName : g.className === BUILTIN_CLASS;
  };

  // --- Gateways and their listeners
  const gateways = new Map<string, { gw: GatewaySpec; listeners: LiveListener[] }>();
  const foreign = new Set<string>();
  const hostnamesByPort = new Map<number, Set<string>>();
  const protocolByPort = new Map<number, string>();
  for (const gw of res.gateways) {
    if (!ours(gw)) {
      foreign.add(`${gw.namespace}/${gw.name}`);
      gw.ctx.report(
        'info',
        'not-our-gateway',
        ['spec', 'gatewayClassName'],
        `class ${gw.className} is not handled by Shadowgate (${controllerName}); this Gateway is ignored`,
      );
      continue;
    }
    const secrets: Record<string, string[]> = {};
    const listeners = gw.listeners.map((l): LiveListener => {
      const at = ['spec', 'listeners', l.index];
      const conds: Condition[] = [];
      // A Gateway that is not accepted (invalid parameters) serves no listener and claims no port or hostname.
      let live = gw.invalidParameters === undefined;
      const { kinds, invalidKinds } = routeKinds(l);
      // HTTPS listeners terminate TLS for HTTP; TLS ones in Terminate mode for TLSRoutes' TCP (GEP-2643
      // TLSRouteModeTerminate), with the same certificate checks.
      const terminates = (l.protocol === 'HTTPS' || l.protocol === 'TLS') && l.tls?.mode === 'Terminate';
      const passesThrough = l.protocol === 'TLS' && l.tls?.mode === 'Passthrough';
      // certificateRefs: Secrets only, across namespaces with a ReferenceGrant (GEP-709), as the spec's reasons say.
      let certRefs: { ok: boolean; reason: string; message: string } = { ok: true, reason: 'ResolvedRefs', message: 'refs resolved' };
      if (terminates) {
        l.tls!.certificateRefs.forEach((ref, i) => {
          if (!certRefs.ok) return;
          const where = [...l.tls!.path, 'certificateRefs', i];
          if (ref.group !== '' || ref.kind !== 'Secret') {
            certRefs = { ok: false, reason: 'InvalidCertificateRef', message: `certificateRefs[${i}] is a ${ref.kind}, not a core Secret` };
            gw.ctx.reference('warning', 'invalid-kind', where, certRefs.message);
          } else if (ref.namespace !== gw.namespace && !secretGranted(res, gw.namespace, ref.namespace, ref.name)) {
            certRefs = { ok: false, reason: 'RefNotPermitted', message: `no ReferenceGrant in ${ref.namespace} lets this Gateway read Secret ${ref.name}` };
            gw.ctx.reference('warning', 'ref-not-permitted', where, certRefs.message);
          }
        });
        // Certificate files (tls.options) are served instead of the Secrets: only then are the Secrets not read.
        if (certRefs.ok && !l.tls!.certificateFile) secrets[l.name] = l.tls!.certificateRefs.map((r) => `${r.namespace}/${r.name}`);
      }
      if (l.protocol !== 'HTTP' && !terminates && !passesThrough) {
        live = false;
        const msg = `protocol ${l.protocol} is not supported`;
        gw.ctx.reference('warning', 'unsupported-protocol', [...at, 'protocol'], msg);
        conds.push(condition('Accepted', false, 'UnsupportedProtocol', msg, gw.generation));
      } else if (!certRefs.ok) {
        live = false;
        conds.push(condition('Accepted', true, 'Accepted', 'listener accepted', gw.generation));
      } else if (registry.listenPorts.has(l.port)) {
        live = false;
        const msg = `port ${l.port} is a ServiceEntry's listener port`;
        gw.ctx.reference('warning', 'port-unavailable', [...at, 'port'], msg);
        conds.push(condition('Accepted', false, 'PortUnavailable', msg, gw.generation));
      } else conds.push(condition('Accepted', true, 'Accepted', 'listener accepted', gw.generation));
      // Two HTTP listeners on one port with the same hostname: the later conflicts (first in file order wins).
      const key = l.hostname ?? '';
      const taken = hostnamesByPort.get(l.port) ?? new Set<string>();
      hostnamesByPort.set(l.port, taken);
      // A port serves plain HTTP or TLS: an HTTP listener and an HTTPS or TLS one on it conflict (the first one keeps
      // it). HTTPS listeners and TLS ones, terminated or passed through, share a port, each connection going by its
      // SNI as on Istio's filter chains: the spec leaves HTTPS beside TLS to the implementation, and TLS listeners of
      // both modes on one port are GEP-2643's TLSRouteModeMixed.
      const portProtocol = protocolByPort.get(l.port);
      if (live && portProtocol !== undefined && (portProtocol === 'HTTP') !== (l.protocol === 'HTTP')) {
        live = false;
        const msg = `port ${l.port} already serves ${portProtocol}`;
        gw.ctx.reference('warning', 'port-unavailable', [...at, 'protocol'], msg);
        conds.push(condition('Conflicted', true, 'ProtocolConflict', msg, gw.generation));
      } else if (live) protocolByPort.set(l.port, l.protocol);
      const conflicted = live && taken.has(key);
      if (live && !conflicted) taken.add(key);
      if (conflicted) {
        live = false;
        gw.ctx.reference('warning', 'hostname-conflict', [...at, 'hostname'], `another listener on port ${l.port} has the same hostname`);
      }
      if (!conds.some((c) => c.type === 'Conflicted'))
        conds.push(
          condition(
            'Conflicted',
            conflicted,
            conflicted ? 'HostnameConflict' : 'NoConflicts',
            conflicted ? 'same port and hostname as another listener' : 'no conflicts',
            gw.generation,
          ),
        );
      conds.push(
        condition(
          'ResolvedRefs',
          invalidKinds.length === 0 && certRefs.ok,
          invalidKinds.length > 0 ? 'InvalidRouteKinds' : certRefs.reason,
          invalidKinds.length > 0 ? `allowedRoutes.kinds names route kinds Shadowgate does not serve: ${invalidKinds.join(', ')}` : certRefs.message,
          gw.generation,
        ),
      );
      conds.push(condition('Programmed', live, live ? 'Programmed' : 'Invalid', live ? 'serving' : 'not served', gw.generation));
      return { gateway: gw, spec: l, live, kinds, attached: 0, conditions: conds };
    });
    gateways.set(`${gw.namespace}/${gw.name}`, { gw, listeners });
    if (Object.keys(secrets).length > 0) certificateRefs.set(`Gateway/${gw.namespace}/${gw.name}`, secrets);
    listenerPorts.set(`Gateway/${gw.namespace}/${gw.name}`, Object.fromEntries(gw.listeners.map((l) => [l.name, l.port])));
  }

  // --- Routes: attach to parents; of an HTTPRoute and a GRPCRoute sharing a listener's hostname, the older stays
  const bound: Array<{ route: RouteSpec; ref: ParentRefSpec; outcome: Outcome; resolvedRefs: ReturnType<typeof checkRefs> }> = [];
  for (const route of res.routes) {
    const resolvedRefs = checkRefs(route, registry, res);
    for (const ref of route.parentRefs) {
      const outcome = attach(route, ref, gateways, registry, foreign);
      // undefined: another controller's Gateway, not ours to write
      if (outcome !== undefined) bound.push({ route, ref, outcome, resolvedRefs });
    }
  }
  const losers = resolveKindConflicts(
    bound.flatMap((b) => b.outcome.attachments ?? []),
    bound.flatMap((b) => b.outcome.mesh ?? []),
  );
  const attachments: Attachment[] = [];
  const mesh: MeshBinding[] = [];
  const parentsOf = new Map<RouteSpec, Record<string, unknown>[]>(res.routes.map((r) => [r, []]));
  for (const { route, ref, outcome, resolvedRefs } of bound) {
    let accepted = outcome.ok ? { ok: true, reason: 'Accepted', message: 'attached' } : outcome;
    if (outcome.ok) {
      const kept = outcome.attachments.filter((a) => !losers.has(a));
      const keptMesh = outcome.mesh.filter((m) => !losers.has(m));
      for (const lost of [...outcome.attachments, ...outcome.mesh].filter((x) => losers.has(x))) {
        const winner = losers.get(lost)!;
        const where = 'listener' in lost ? `listener ${lost.listener.spec.name} of Gateway ${ref.namespace}/${ref.name}` : lost.host;
        route.ctx.reference(
          'warning',
          'route-kind-conflict',
          ref.path,
          `${winner.ref}, older, shares hostnames with this route on ${where}: an HTTPRoute and a GRPCRoute cannot both serve them, so it is not attached there`,
        );
      }
      for (const a of kept) a.listener.attached++;
      attachments.push(...kept);
      mesh.push(...keptMesh);
      if (kept.length === 0 && keptMesh.length === 0) {
        const winner = losers.get([...outcome.attachments, ...outcome.mesh][0]!)!;
        accepted = {
          ok: false,
          reason: 'NotAllowedByListeners',
          message: `${winner.ref} (older) already serves these hostnames: an HTTPRoute and a GRPCRoute cannot share them`,
        };
      }
    } else route.ctx.reference('warning', reasonCode(outcome.reason), ref.path, outcome.message);
    parentsOf
      .get(route)!
      .push(
        parentStatus(ref, controllerName, [
          condition('Accepted', accepted.ok, accepted.reason, accepted.message, route.generation),
          condition('ResolvedRefs', resolvedRefs.ok, resolvedRefs.reason, resolvedRefs.message, route.generation),
        ]),
      );
  }
  for (const [route, parents] of parentsOf) statuses.set(`${route.kind}/${route.namespace}/${route.name}`, { parents });

  for (const { gw, listeners } of gateways.values()) {
    statuses.set(`Gateway/${gw.namespace}/${gw.name}`, {
      conditions:
        gw.invalidParameters === undefined
          ? gatewayConditions(
              listeners.map((l) => ({ accepted: l.conditions.some((c) => c.type === 'Accepted' && c.status === 'True'), programmed: l.live })),
              gw.generation,
            )
          : [
              condition('Accepted', false, 'InvalidParameters', gw.invalidParameters, gw.generation),
              condition('Programmed', false, 'Invalid', 'the Gateway is not accepted', gw.generation),
            ],
      listeners: listeners.map((l) => ({
        name: l.spec.name,
        // HTTPS listeners that terminate TLS take routes as HTTP ones do (the conformance suite expects them listed); TLS
        // ones take TLSRoutes in either mode; a listener of a protocol not served takes none.
        supportedKinds: servesRoutes(l.spec) ? [...l.kinds].map((kind) => ({ group: GATEWAY_API_GROUP, kind })) : [],
        attachedRoutes: l.attached,
        conditions: l.conditions,
      })),
    });
  }

  // --- Compile: routes per rule and match, most specific first
  const resolvedCache = new Map<string, ResolvedRule>();
  const resolved = (route: RouteSpec, rule: RuleSpec, port: number): ResolvedRule => {
    const key = `${route.ref}|${rule.index}|${port}`;
    let r = resolvedCache.get(key);
    if (!r) {
      r = resolveRule(route, rule, port, registry, res);
      resolvedCache.set(key, r);
    }
    return r;
  };
  const compile = (entries: Entry[], port: number, https = false): Route[] =>
    entries.sort(compareEntries).map((e) => buildRoute(e, resolved(e.route, e.rule, port), port, https));
  const entriesOf = (route: RouteSpec, host: [number, number]): Entry[] =>
    route.rules.flatMap((rule): Entry[] =>
      rule.matches.length === 0 ? [{ route, rule, match: undefined, host }] : rule.matches.map((match) => ({ route, rule, match, host })),
    );

  const listeners: Listener[] = [];
  const byPort = new Map<number, Attachment[]>();
  const listenerHosts = new Map<number, Set<string>>();
  // TLSRoutes go to their port's passthrough routes (Passthrough listeners) or tunnel routes (Terminate ones);
  // HTTPRoutes and GRPCRoutes to its virtual hosts.
  const passthroughRoutesByPort = new Map<number, Attachment[]>();
  const tunnelRoutesByPort = new Map<number, Attachment[]>();
  for (const a of attachments) {
    const to = a.route.kind !== 'TLSRoute' ? byPort : a.listener.spec.tls?.mode === 'Terminate' ? tunnelRoutesByPort : passthroughRoutesByPort;
    to.set(a.port, [...(to.get(a.port) ?? []), a]);
  }
  const tlsByPort = new Map<number, ServerTls[]>();
  const passthroughListeners = new Map<number, LiveListener[]>();
  const tunnelListeners = new Map<number, LiveListener[]>();
  const portHosts = new Map<number, Set<string>>();
  for (const { listeners: ls } of gateways.values()) {
    for (const l of ls) {
      if (!l.live) continue;
      portHosts.set(l.spec.port, (portHosts.get(l.spec.port) ?? new Set()).add(l.spec.hostname ?? '*'));
      if (l.spec.protocol === 'TLS') {
        const to = l.spec.tls?.mode === 'Terminate' ? tunnelListeners : passthroughListeners;
        to.set(l.spec.port, [...(to.get(l.spec.port) ?? []), l]);
        continue;
      }
      if (l.spec.tls) tlsByPort.set(l.spec.port, [...(tlsByPort.get(l.spec.port) ?? []), listenerTls(l.gateway, l.spec.name, l.spec.hostname, l.spec.tls)]);
      if (!byPort.has(l.spec.port)) byPort.set(l.spec.port, []);
      listenerHosts.set(l.spec.port, (listenerHosts.get(l.spec.port) ?? new Set()).add(l.spec.hostname ?? '*'));
    }
  }
  for (const [port, list] of [...byPort].sort((a, b) => a[0] - b[0])) {
    const hosts = listenerHosts.get(port) ?? new Set<string>();
    // Every listener hostname gets a virtual host, even without routes: its requests must not fall to a
    // less specific listener's routes (GEP-1713 listener isolation).
    const patterns = [...new Set([...list.flatMap((a) => a.hostnames), ...hosts])].sort();
    const virtualHosts: VirtualHost[] = patterns.map((pattern) => {
      // Requests for this hostname belong to the most specific listener covering it; only its routes apply.
      const owner = mostSpecific(hosts, pattern);
      // Every such route whose hostname covers this one takes part; the more specific hostname ranks first.
      const best = new Map<RouteSpec, [number, number]>();
      for (const a of list) {
        if (a.listenerHost !== owner) continue;
        for (const h of a.hostnames) {
          if (!covers(h, pattern)) continue;
          const s = specificity(h);
          const prev = best.get(a.route);
          if (!prev || s[0] > prev[0] || (s[0] === prev[0] && s[1] > prev[1])) best.set(a.route, s);
        }
      }
      const entries = [...best].flatMap(([route, s]) => entriesOf(route, s));
      const domains = pattern === '*' ? ['*'] : [pattern, `${pattern}:${port}`];
      return { host: pattern, domains, port, routes: compile(entries, port, tlsByPort.has(port)), fromVirtualService: true };
    });
    // Requests for other hostnames get 404 (a lone virtual host would otherwise take any Host).
    if (!patterns.includes('*')) virtualHosts.push({ host: '*', domains: ['*'], port, routes: [], fromVirtualService: true });
    const tls = tlsByPort.get(port);
    listeners.push(
      tls ? { port, protocol: 'HTTPS', virtualHosts, hostPortIgnored: true, tls } : { port, protocol: 'HTTP', virtualHosts, hostPortIgnored: true },
    );
  }
  // TLS listeners: their port passes TLS through by SNI (Passthrough), or terminates it and tunnels the decrypted bytes
  // (Terminate), beside the port's HTTPS listeners if it has any; the same SNI rules pick the route in both modes.
  for (const port of new Set([...passthroughListeners.keys(), ...tunnelListeners.keys()])) {
    let listener = listeners.find((l) => l.port === port);
    if (!listener) {
      listener = { port, protocol: 'TLS', virtualHosts: [], hostPortIgnored: true, strictHost: true };
      listeners.push(listener);
    }
    const passing = passthroughListeners.get(port);
    if (passing) {
      const passthrough: PassthroughRoute[] = passthroughRoutes(port, passthroughRoutesByPort.get(port) ?? [], passing, portHosts.get(port)!, registry, res);
      listener.passthrough = passthrough;
    }
    const terminating = tunnelListeners.get(port);
    if (terminating) {
      listener.tunnel = passthroughRoutes(port, tunnelRoutesByPort.get(port) ?? [], terminating, portHosts.get(port)!, registry, res);
      const servers = terminating.map((l) => ({ ...listenerTls(l.gateway, l.spec.name, l.spec.hostname, l.spec.tls!), tunnel: true }));
      listener.tls = [...(listener.tls ?? []), ...servers];
    }
  }
  listeners.sort((a, b) => a.port - b.port);

  const meshCache = new Map<string, Route[] | undefined>();
  const meshRoutes = (host: string, port: number): Route[] | undefined => {
    const key = `${host}:${port}`;
    if (meshCache.has(key)) return meshCache.get(key);
    const routes = [...new Set(mesh.filter((m) => m.host === host && (m.port === undefined || m.port === port)).map((m) => m.route))];
    const out =
      routes.length === 0
        ? undefined
        : compile(
            routes.flatMap((r) => entriesOf(r, [0, 0])),
            port,
          );
    meshCache.set(key, out);
    return out;
  };
  return { listeners, meshRoutes, statuses, certificateRefs, listenerPorts };
}

/** Listeners Shadowgate serves routes on: HTTP, HTTPS terminated, TLS terminated or passed through. */
function servesRoutes(l: ListenerSpec): boolean {
  return l.protocol === 'HTTP' || (l.protocol === 'HTTPS' && l.tls?.mode === 'Terminate') || (l.protocol === 'TLS' && l.tls !== undefined);
}

/**
 * The route kinds compatible with a listener's protocol ("A RouteGroupKind MUST correspond to kinds of Routes that are
 * compatible with the application protocol specified in the Listener's Protocol field"): HTTPRoute and GRPCRoute on
 * HTTP and HTTPS, TLSRoute on TLS.
 */
const kindsOf = (protocol: string): readonly RouteKind[] =>
  protocol === 'TLS' ? ['TLSRoute'] : protocol === 'HTTP' || protocol === 'HTTPS' ? ['HTTPRoute', 'GRPCRoute'] : [];

/**
 * The route kinds a listener admits: `allowedRoutes.kinds` among those its protocol takes, or all of those when it
 * lists none; `invalidKinds` are the listed ones it cannot serve (ResolvedRefs InvalidRouteKinds).
 */
function routeKinds(l: ListenerSpec): { kinds: ReadonlySet<RouteKind>; invalidKinds: string[] } {
  const compatible = kindsOf(l.protocol);
  if (!l.kinds) return { kinds: new Set(compatible), invalidKinds: [] };
  const kinds = new Set<RouteKind>();
  const invalidKinds: string[] = [];
  for (const k of l.kinds) {
    const known = k.group === GATEWAY_API_GROUP && (compatible as readonly string[]).includes(k.kind);
    if (known) kinds.add(k.kind as RouteKind);
    else invalidKinds.push(k.group === GATEWAY_API_GROUP ? k.kind : `${k.group}/${k.kind}`);
  }
  // supportedKinds in the CRD's order, whatever the listener's.
  return { kinds: new Set(ROUTE_KINDS.filter((k) => kinds.has(k))), invalidKinds };
}

/** A ReferenceGrant in the Secret's namespace lets Gateways of `from` read it (all Secrets there, or this one by name). */
function secretGranted(res: GatewayApiResources, from: string, namespace: string, name: string): boolean {
  return res.grants.some(
    (g) =>
      g.namespace === namespace &&
      g.from.some((f) => f.group === GATEWAY_API_GROUP && f.kind === 'Gateway' && f.namespace === from) &&
      g.to.some((t) => t.group === '' && t.kind === 'Secret' && (t.name === undefined || t.name === name)),
  );
}

/**
 * An HTTPS listener, or a TLS one in Terminate mode, terminated as an Istio Gateway server is (src/tls/): SNI by its
 * hostname, its first certificate.
 */
function listenerTls(gw: GatewaySpec, listener: string, hostname: string | undefined, t: ListenerTlsSpec): ServerTls {
  const out: ServerTls = {
    mode: 'SIMPLE',
    hosts: [hostname ?? '*'],
    cipherSuites: [],
    source: { resource: gw.ref, gateway: `${gw.namespace}/${gw.name}`, server: listener, path: formatPath(t.path) },
  };
  if (t.certificateFile && t.privateKeyFile) {
    out.serverCertificate = t.certificateFile;
    out.privateKey = t.privateKeyFile;
  } else if (t.certificateRefs[0]) out.credentialName = `${t.certificateRefs[0].namespace}/${t.certificateRefs[0].name}`;
  if (gw.ctx.file !== undefined) out.source.file = gw.ctx.file;
  const line = gw.ctx.locate(t.path)?.line;
  if (line !== undefined) out.source.line = line;
  return out;
}
