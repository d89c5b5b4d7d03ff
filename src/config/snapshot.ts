// Builds the immutable snapshot: resources in, listeners/virtual hosts/routes and clusters out. Pure: no I/O, no clock.

import { createHash } from 'node:crypto';
import { type DestinationRuleSpec, mergePolicy, readDestinationRule } from './destination-rule.js';
import { type GatewaySpec, readGateway } from './gateway.js';
import { compileGatewayApi, emptyGatewayApi, GATEWAY_API_GROUP, readGatewayApi } from './gateway-api/index.js';
import { bindGateways, MESH } from './gateway-bind.js';
import { clusterName, hostAliases, hostMatches, resolveHost } from './hosts.js';
import type {
  Cluster,
  ClusterRef,
  Endpoint,
  Listener,
  MirrorTarget,
  Problem,
  ReadDescriptorSet,
  ResourceSummary,
  Route,
  RouteAction,
  Settings,
  Snapshot,
  VirtualHost,
  WeightedDestination,
} from './model.js';
import { DEFAULT_SETTINGS } from './model.js';
import type { RawResource } from './parse.js';
import type { ProblemCode } from './problem-codes.js';
import { makeProblem, type PathSeg, ResourceContext } from './problems.js';
import {
  HTTP_PROTOCOLS,
  readServiceEntry,
  readWorkloadEntry,
  type ServiceEntrySpec,
  type ServicePortSpec,
  type WorkloadEntrySpec,
  type WorkloadSpec,
} from './service-entry.js';
import { readSettings, SETTINGS_API_GROUP, SETTINGS_KIND } from './settings.js';
import { speaksHttp2 } from './upstream-protocol.js';
import { DEFAULT_RETRIES, type DestinationSpec, type HttpRouteSpec, readVirtualService, type VirtualServiceSpec } from './virtual-service.js';

const ISTIO_GROUP = 'networking.istio.io';
const ISTIO_VERSIONS = new Set(['v1alpha3', 'v1beta1', 'v1']);
const ISTIO_KINDS = new Set(['VirtualService', 'DestinationRule', 'ServiceEntry', 'WorkloadEntry', 'Gateway']);

/** One service host as the registry knows it (from a ServiceEntry). */
interface Service {
  host: string;
  namespace: string;
  addresses: string[];
  ports: ServicePortSpec[];
  workloads: WorkloadSpec[];
  resolution: ServiceEntrySpec['resolution'];
  entry: ServiceEntrySpec;
}

function labelsMatch(selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

function endpointsFor(svc: Service, port: ServicePortSpec): Endpoint[] {
  if (svc.workloads.length === 0 && svc.resolution.startsWith('DNS') && !svc.host.endsWith('.svc.cluster.local')) {
    // Istio: a DNS ServiceEntry without endpoints resolves its own host name.
    return [{ address: svc.host, port: port.targetPort ?? port.number, labels: {}, weight: 1, source: svc.entry.ref }];
  }
  // A Kubernetes endpoint is listed per port (its EndpointSlice's): one not listed for this port is not its endpoint.
  const workloads = svc.entry.listedPortsOnly ? svc.workloads.filter((w) => w.ports[port.name] !== undefined) : svc.workloads;
  return workloads.map((w) => ({
    address: w.address,
    port: w.ports[port.name] ?? port.targetPort ?? port.number,
    labels: w.labels,
    weight: w.weight,
    source: w.source,
  }));
}

/** Istio routes with no match, or only a match-all prefix "/", catch every request: later routes never match. */
function catchesAll(route: HttpRouteSpec): boolean {
  if (route.matches.length === 0) return true;
  return route.matches.some(
    (m) =>
      m.headers.length === 0 &&
      m.withoutHeaders.length === 0 &&
      m.queryParams.length === 0 &&
      !m.method &&
      !m.scheme &&
      !m.authority &&
      m.port === undefined &&
      (!m.uri || (m.uri.kind === 'prefix' && m.uri.value === '/') || (m.uri.kind === 'regex' && m.uri.value === '.*')),
  );
}

export interface SnapshotOptions {
  /** The GatewayClass `controllerName` Shadowgate answers to; default CONTROLLER_NAME. */
  gatewayController?: string | undefined;
  /** Reads and checks the gRPC descriptor sets a ShadowgateConfig names (sources/: the files; compare/: the decoding). */
  readDescriptorSet?: ReadDescriptorSet | undefined;
}

/**
 * The cluster a GRPCRoute reaches `host:port` by: the port's own when it already speaks HTTP/2, else an h2c twin of
 * it (same endpoints and policy, its own pools) so that HTTP/1.1 traffic to the port keeps HTTP/1.1. A port of a
 * protocol that cannot carry HTTP/2 (TCP, TLS, HTTPS...) gives its protocol instead.
 */
function grpcCluster(
  clusters: Record<string, Cluster>,
  protocol: string | undefined,
  host: string,
  port: number,
): { cluster: string } | { protocol: string } | undefined {
  if (protocol === undefined) return undefined;
  if (!HTTP_PROTOCOLS.has(protocol)) return { protocol };
  const base = clusterName(port, '', host);
  if (!clusters[base] || clusters[base].http2) return { cluster: base };
  const name = `${base}|h2c`;
  clusters[name] ??= { ...clusters[base], name, http2: true };
  return { cluster: name };
}

export function buildSnapshot(raw: readonly RawResource[], parseProblems: readonly Problem[] = [], options: SnapshotOptions = {}): Snapshot {
  const problems: Problem[] = [...parseProblems];
  const resources: ResourceSummary[] = [];
  const virtualServices: VirtualServiceSpec[] = [];
  const destinationRules: DestinationRuleSpec[] = [];
  const serviceEntries: ServiceEntrySpec[] = [];
  const workloadEntries: WorkloadEntrySpec[] = [];
  const istioGateways: GatewaySpec[] = [];
  let settings: Settings = DEFAULT_SETTINGS;
  let settingsFrom: string | undefined;
  const seen = new Map<string, RawResource>();
  const gatewayApi = emptyGatewayApi();
  const gatewayApiSummaries = new Map<string, ResourceSummary>();

  for (const res of raw) {
    const [group, version] = res.apiVersion.includes('/') ? res.apiVersion.split('/', 2) : ['', res.apiVersion];
    const ref = `${res.kind} ${res.namespace}/${res.name}`;
    const ctx = new ResourceContext(problems, ref, res.file, res.locate);
    const isIstio = group === ISTIO_GROUP;
    const isOurs = group === SETTINGS_API_GROUP && res.kind === SETTINGS_KIND;
    const isGatewayApi = group === GATEWAY_API_GROUP;
    if (!isIstio && !isOurs && !isGatewayApi) {
      problems.push(
        makeProblem(
          'info',
          'skipped-kind',
          `skipped ${res.kind} ${res.name ? `${res.namespace}/${res.name}` : ''} (${res.apiVersion}): not a resource Shadowgate reads`.replace('  ', ' '),
          res.file,
          res.locate([]),
        ),
      );
      continue;
    }
    if (isIstio && !ISTIO_KINDS.has(res.kind)) {
      ctx.warn('not-supported', ['kind'], `${res.kind} is not supported yet and is ignored`);
      continue;
    }
    if (isIstio && !ISTIO_VERSIONS.has(version ?? '')) {
      ctx.error('unknown-version', ['apiVersion'], `${res.apiVersion} is not a version of ${ISTIO_GROUP}; use v1, v1beta1 or v1alpha3`);
      resources.push({ kind: res.kind, namespace: res.namespace, name: res.name, file: res.file, accepted: false });
      continue;
    }
    if (!res.name) {
      ctx.error('missing-field', ['metadata', 'name'], 'metadata.name is required');
      continue;
    }
    const key = `${isGatewayApi ? `${group}:` : ''}${res.kind}/${res.namespace}/${res.name}`;
    const first = seen.get(key);
    if (first) {
      const at = first.locate([]);
      ctx.error('duplicate-resource', ['metadata', 'name'], `${ref} is defined twice; the first (${first.file}${at ? `:${at.line}` : ''}) is used`);
      resources.push({ kind: res.kind, namespace: res.namespace, name: res.name, file: res.file, accepted: false });
      continue;
    }
    seen.set(key, res);
    if (typeof res.object.spec !== 'object' || res.object.spec === null || Array.isArray(res.object.spec)) {
      ctx.error('missing-field', ['spec'], 'spec is required and must be an object');
    } else if (isGatewayApi) {
      if (!readGatewayApi(res, version ?? '', ctx, gatewayApi)) continue;
    } else {
      switch (res.kind) {
        case 'VirtualService': {
          const vs = readVirtualService(res, ctx);
          if (vs && !ctx.failed) virtualServices.push(vs);
          break;
        }
        case 'DestinationRule': {
          const dr = readDestinationRule(res, ctx);
          if (!ctx.failed) destinationRules.push(dr);
          break;
        }
        case 'ServiceEntry': {
          const se = readServiceEntry(res, ctx);
          if (!ctx.failed) serviceEntries.push(se);
          break;
        }
        case 'WorkloadEntry': {
          const we = readWorkloadEntry(res, ctx);
          if (we && !ctx.failed) workloadEntries.push(we);
          break;
        }
        case 'Gateway': {
          const gw = readGateway(res, ctx);
          if (!ctx.failed) istioGateways.push(gw);
          break;
        }
        case SETTINGS_KIND: {
          const s = readSettings(res, ctx, options.readDescriptorSet);
          if (!ctx.failed) {
            if (settingsFrom) ctx.warn('duplicate-settings', [], `only one ${SETTINGS_KIND} is used; ${settingsFrom} came first`);
            else {
              settings = s;
              settingsFrom = ref;
            }
          }
          break;
        }
      }
    }
    const summary: ResourceSummary = { kind: res.kind, namespace: res.namespace, name: res.name, file: res.file, accepted: !ctx.failed };
    if (isGatewayApi) gatewayApiSummaries.set(`${res.kind}/${res.namespace}/${res.name}`, summary);
    resources.push(summary);
  }

  // --- the service registry: ServiceEntry hosts and their workloads
  const services = new Map<string, Service>();
  for (const se of serviceEntries) {
    const workloads = se.workloadSelector
      ? workloadEntries.filter((w) => w.namespace === se.namespace && labelsMatch(se.workloadSelector!, w.labels))
      : se.endpoints;
    se.hosts.forEach((host, i) => {
      const other = services.get(host);
      if (other) {
        se.ctx.warn('duplicate-host', ['spec', 'hosts', i], `host ${host} is also defined by ${other.entry.ref}, which is used`);
        return;
      }
      services.set(host, { host, namespace: se.namespace, addresses: se.addresses, ports: se.ports, workloads, resolution: se.resolution, entry: se });
    });
    if (se.workloadSelector && workloads.length === 0) {
      se.ctx.warn('no-endpoints', ['spec', 'workloadSelector'], 'workloadSelector selects no WorkloadEntry in this namespace');
    }
  }

  // --- DestinationRules by host (the first one wins, as Istio picks the oldest)
  const rules = new Map<string, DestinationRuleSpec>();
  for (const dr of destinationRules) {
    const other = rules.get(dr.host);
    if (other) {
      dr.ctx.warn('duplicate-destination-rule', ['spec', 'host'], `${other.ref} also configures ${dr.host} and is used`);
      continue;
    }
    rules.set(dr.host, dr);
    if (!services.has(dr.host)) {
      dr.ctx.reference('warning', 'unknown-host', ['spec', 'host'], `no ServiceEntry defines host ${dr.host}`);
    }
  }

  // --- clusters: every service port, plain and per subset
  const clusters: Record<string, Cluster> = {};
  for (const svc of [...services.values()].sort((a, b) => a.host.localeCompare(b.host))) {
    const dr = rules.get(svc.host);
    for (const port of svc.ports) {
      const all = endpointsFor(svc, port);
      const plain = clusterName(port.number, '', svc.host);
      const plainPolicy = mergePolicy(dr?.policy ?? {}, undefined, port.number);
      clusters[plain] = { name: plain, host: svc.host, port: port.number, subset: '', namespace: svc.namespace, policy: plainPolicy, endpoints: all };
      if (speaksHttp2(port.protocol, plainPolicy.connectionPool)) clusters[plain].http2 = true;
      for (const subset of dr?.subsets ?? []) {
        const name = clusterName(port.number, subset.name, svc.host);
        const endpoints = all.filter((e) => labelsMatch(subset.labels, e.labels));
        const policy = mergePolicy(dr!.policy, subset.policy, port.number);
        clusters[name] = { name, host: svc.host, port: port.number, subset: subset.name, namespace: svc.namespace, policy, endpoints };
        if (speaksHttp2(port.protocol, policy.connectionPool)) clusters[name].http2 = true;
      }
    }
    for (const [i, subset] of (dr?.subsets ?? []).entries()) {
      const ports = svc.ports;
      if (ports.length > 0 && ports.every((p) => !endpointsFor(svc, p).some((e) => labelsMatch(subset.labels, e.labels)))) {
        dr!.ctx.reference(
          'warning',
          'empty-subset',
          ['spec', 'subsets', i, 'labels'],
          `subset "${subset.name}" selects no endpoint of ${svc.host}: requests to it get 503`,
        );
      }
    }
  }

  // --- routes: each VirtualService claims hosts; the first claim wins
  const vsByHost = new Map<string, VirtualServiceSpec>();
  // Istio: a VirtualService without `gateways` is the mesh's; with them, only where `mesh` is among them.
  const onMesh = (vs: VirtualServiceSpec) => vs.gateways.length === 0 || vs.gateways.includes(MESH);
  for (const vs of virtualServices) {
    let claimed = !onMesh(vs);
    if (onMesh(vs))
      vs.hosts.forEach((pattern, i) => {
        // Exact hosts are a map lookup; only wildcards scan the registry.
        const hosts = pattern.includes('*') ? [...services.keys()].filter((h) => hostMatches(pattern, h)) : services.has(pattern) ? [pattern] : [];
        for (const host of hosts) {
          claimed = true;
          const other = vsByHost.get(host);
          if (other && other !== vs) {
            vs.ctx.reference(
              'warning',
              'conflicting-virtual-service',
              ['spec', 'hosts', i],
              `${other.ref} already routes ${host}; this VirtualService is not used for it`,
            );
            continue;
          }
          vsByHost.set(host, vs);
        }
      });
    if (!claimed)
      vs.ctx.reference('warning', 'unknown-host', ['spec', 'hosts'], `no ServiceEntry defines any of ${vs.hosts.join(', ')}: these routes get no traffic`);
    for (let i = 1; i < vs.http.length; i++) {
      const earlier = vs.http.slice(0, i).find(catchesAll);
      if (earlier) {
        vs.ctx.reference(
          'warning',
          'unreachable-route',
          vs.http[i]!.path,
          `this route can never match: http[${earlier.index}] before it matches every request`,
        );
      }
    }
  }

  const reported = new Set<string>();
  const resolveRef = (
    vs: VirtualServiceSpec,
    d: { host: string; subset: string; port?: number; path: PathSeg[] },
    listenerPort: number,
    role: 'route' | 'mirror',
  ): ClusterRef => {
    const host = resolveHost(d.host, vs.namespace);
    const svc = services.get(host);
    const port = d.port ?? (svc?.ports.length === 1 ? svc.ports[0]!.number : listenerPort);
    const ref = { cluster: clusterName(port, d.subset, host), host, subset: d.subset, port };
    const once = (code: ProblemCode, msg: string) => {
      const key = `${vs.ref}|${d.path.join('.')}|${code}`;
      if (reported.has(key)) return;
      reported.add(key);
      vs.ctx.reference('error', code, d.path, msg);
    };
    // A primary destination without a cluster answers 503 NC; a mirror's copy is given up (counted as no_endpoint).
    const fate = role === 'route' ? 'requests get 503 (NC)' : 'every copy is lost (counted as abandoned, no_endpoint); the primary is unaffected';
    if (!svc) once('unknown-host', `no ServiceEntry defines host ${host}: ${fate}`);
    else if (!svc.ports.some((p) => p.number === port)) once('unknown-port', `${host} has no port ${port}`);
    else if (d.subset && !rules.get(host)?.subsets.some((s) => s.name === d.subset)) {
      once('unknown-subset', `no DestinationRule defines subset "${d.subset}" for ${host}: ${fate}`);
    }
    return ref;
  };

  const buildRoutes = (vs: VirtualServiceSpec, port: number): Route[] => {
    const routes: Route[] = [];
    for (const spec of vs.http) {
      const matches = spec.matches.filter((m) => m.port === undefined || m.port === port);
      if (spec.matches.length > 0 && matches.length === 0) continue;
      let action: RouteAction;
      if (spec.redirect) action = { kind: 'redirect', redirect: spec.redirect };
      else if (spec.directResponse) action = { kind: 'directResponse', response: spec.directResponse };
      else {
        const destinations: WeightedDestination[] = spec.destinations.map((d: DestinationSpec) => ({
          ...resolveRef(vs, d, port, 'route'),
          weight: d.weight,
          headers: d.headers,
        }));
        action = { kind: 'route', destinations };
      }
      const mirrors: MirrorTarget[] =
        action.kind === 'route' ? spec.mirrors.map((m) => ({ ...resolveRef(vs, m, port, 'mirror'), percentage: m.percentage })) : [];
      const route: Route = {
        name: spec.name ?? `${vs.name}.${spec.index}`,
        source: vs.ref,
        index: spec.index,
        matches,
        action,
        mirrors,
        retries: spec.retries,
        headers: spec.headers,
      };
      if (spec.rewrite) route.rewrite = spec.rewrite;
      if (spec.timeoutMs !== undefined) route.timeoutMs = spec.timeoutMs;
      if (spec.fault) route.fault = spec.fault;
      if (spec.cors) route.cors = spec.cors;
      routes.push(route);
    }
    return routes;
  };

  // --- Gateway API: HTTPRoutes on Shadowgate's Gateways, and on services (GAMMA), over the same registry
  const listenPorts = new Set<number>();
  for (const svc of services.values()) if (svc.entry.listen) for (const p of svc.ports) if (HTTP_PROTOCOLS.has(p.protocol)) listenPorts.add(p.number);
  const gatewayApiResult = compileGatewayApi(
    gatewayApi,
    {
      ports: (host) => services.get(host)?.ports.map((p) => p.number),
      portNamed: (host, name) => services.get(host)?.ports.find((p) => p.name === name)?.number,
      entryHosts: (ns, name) => serviceEntries.find((se) => se.ref === `ServiceEntry ${ns}/${name}`)?.hosts,
      listenPorts,
      grpcCluster: (host, port) => grpcCluster(clusters, services.get(host)?.ports.find((p) => p.number === port)?.protocol, host, port),
    },
    options.gatewayController,
  );
  for (const [key, status] of gatewayApiResult.statuses) {
    const summary = gatewayApiSummaries.get(key);
    if (summary) summary.status = status;
  }
  for (const [key, refs] of gatewayApiResult.certificateRefs) {
    const summary = gatewayApiSummaries.get(key);
    if (summary) summary.certificateRefs = refs;
  }
  for (const [key, ports] of gatewayApiResult.listenerPorts) {
    const summary = gatewayApiSummaries.get(key);
    if (summary) summary.listenerPorts = ports;
  }

  const listeners = new Map<number, Listener>();
  const domainsTaken = new Map<number, Set<string>>();
  for (const svc of [...services.values()].sort((a, b) => a.host.localeCompare(b.host))) {
    if (!svc.entry.listen) continue;
    for (const port of svc.ports) {
      if (!HTTP_PROTOCOLS.has(port.protocol)) continue;
      let listener = listeners.get(port.number);
      let taken = domainsTaken.get(port.number);
      if (!listener || !taken) {
        listener = { port: port.number, protocol: port.protocol, virtualHosts: [] };
        listeners.set(port.number, listener);
        taken = new Set();
        domainsTaken.set(port.number, taken);
      }
      const names = [...hostAliases(svc.host), ...svc.addresses];
      // A name another service on this port already answers to stays with that service.
      const domains = names.flatMap((n) => [n, `${n}:${port.number}`]).filter((d) => !taken.has(d));
      for (const d of domains) taken.add(d);
      const vs = vsByHost.get(svc.host);
      const mesh = gatewayApiResult.meshRoutes(svc.host, port.number);
      if (vs && mesh) {
        vs.ctx.reference(
          'warning',
          'conflicting-http-route',
          ['spec', 'hosts'],
          `HTTPRoutes also bind to ${svc.host}; this VirtualService routes it and they are not used`,
        );
      }
      const routes: Route[] = vs
        ? buildRoutes(vs, port.number)
        : (mesh ?? [
            {
              // No VirtualService: every endpoint of the service is eligible, as in Istio's default route.
              name: 'default',
              source: svc.entry.ref,
              index: 0,
              matches: [],
              action: {
                kind: 'route',
                destinations: [
                  {
                    cluster: clusterName(port.number, '', svc.host),
                    host: svc.host,
                    subset: '',
                    port: port.number,
                    weight: 100,
                    headers: { request: { set: {}, add: {}, remove: [] }, response: { set: {}, add: {}, remove: [] } },
                  },
                ],
              },
              mirrors: [],
              retries: DEFAULT_RETRIES,
              headers: { request: { set: {}, add: {}, remove: [] }, response: { set: {}, add: {}, remove: [] } },
            },
          ]);
      const vhost: VirtualHost = { host: svc.host, domains, port: port.number, routes, fromVirtualService: Boolean(vs ?? mesh) };
      listener.virtualHosts.push(vhost);
    }
  }
  for (const l of gatewayApiResult.listeners) listeners.set(l.port, l);

  // --- Istio Gateways: their servers on ports nothing else listens on, with the VirtualServices bound to them
  const bound = bindGateways(istioGateways, virtualServices, new Set(listeners.keys()), buildRoutes, (vs, route, port) =>
    route.route.map((d) => ({ ...resolveRef(vs, d.destination, port, 'route'), weight: d.weight })),
  );
  for (const l of bound.listeners) listeners.set(l.port, l);

  const content = {
    listeners: [...listeners.values()].sort((a, b) => a.port - b.port),
    clusters,
    settings,
  };
  const hash = createHash('sha256').update(JSON.stringify(content)).digest('hex');
  return deepFreeze({ hash, ...content, resources, problems });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
