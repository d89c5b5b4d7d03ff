// Turns what the cluster holds into the resources the snapshot is built from. Pure: caches in, RawResources and
// problems out, recomputed whole on every change (so a pod whose labels arrive after its endpoint is picked up).
// Istio objects pass through; each Service becomes a ServiceEntry whose endpoints come from its EndpointSlices.
import { isIP } from 'node:net';
import type { Problem } from '../../config/index.js';
import type { RawResource } from '../../config/parse.js';
import type { KubeObject } from './watcher.js';

/** On a Service taken over by Shadowgate: the (headless) Service whose pods are the real backends. */
/** On a ServiceEntry: `"false"` keeps its ports from getting listeners (it stays a destination). */
export const LISTEN_ANNOTATION = 'shadowgate.dev/listen';
export const BACKENDS_ANNOTATION = 'shadowgate.dev/backends';
/**
 * Set to "true" on an endpoint used only because its port had no ready endpoint: it is serving but terminating
 * (kube-proxy's fallback). Primaries may use it; shadows must not (they go to ready endpoints only).
 */
export const SERVING_ONLY_LABEL = 'shadowgate.dev/serving-only';
/** Pods with these labels are Shadowgate's own: never endpoints (a route to them would loop). */
export const DEFAULT_OWN_POD_SELECTOR: Readonly<Record<string, string>> = Object.freeze({ 'app.kubernetes.io/name': 'shadowgate' });
/** Label EndpointSlices carry to name their Service. */
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const SE_API_VERSION = 'networking.istio.io/v1';
const PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTPS', 'TCP', 'TLS', 'MONGO', 'REDIS', 'MYSQL']);
/** Service `appProtocol` values (IANA names and Kubernetes' own) as Istio protocols. */
const APP_PROTOCOLS: Record<string, string> = {
  http: 'HTTP',
  http2: 'HTTP2',
  'kubernetes.io/h2c': 'HTTP2',
  grpc: 'GRPC',
  'grpc-web': 'GRPC-WEB',
  https: 'HTTPS',
  'kubernetes.io/ws': 'HTTP',
  'kubernetes.io/wss': 'HTTPS',
  tcp: 'TCP',
  tls: 'TLS',
  mongo: 'MONGO',
  redis: 'REDIS',
  mysql: 'MYSQL',
};

export interface ClusterObjects {
  /** VirtualService, DestinationRule, ServiceEntry, WorkloadEntry (apiVersion and kind set). */
  istio: readonly KubeObject[];
  services: readonly KubeObject[];
  endpointSlices: readonly KubeObject[];
  /** Metadata is enough: only labels are read. */
  pods: readonly KubeObject[];
}

export interface TranslateOptions {
  /** Pods matching every label here are Shadowgate's own. Default `app.kubernetes.io/name: shadowgate`. */
  ownPodSelector?: Readonly<Record<string, string>>;
  /** Which Services get listeners: only taken-over ones (default), or every Service. */
  listen?: 'taken-over' | 'all';
}

export interface Translation {
  resources: RawResource[];
  /** Warnings about the cluster's setup (`takeover-selector`, `empty-backends`), as config problems are. */
  problems: Problem[];
}

// ---------------------------------------------------------------------------------------------
// Reading raw objects without trusting their shape

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {};
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(obj(v))) if (typeof val === 'string') out[k] = val;
  return out;
}
function meta(o: KubeObject): { name: string; namespace: string; labels: Record<string, string>; annotations: Record<string, string>; created: string } {
  const m = obj(o.metadata);
  return {
    name: str(m.name) ?? '',
    namespace: str(m.namespace) || 'default',
    labels: strMap(m.labels),
    annotations: strMap(m.annotations),
    created: str(m.creationTimestamp) ?? '',
  };
}

function selects(selector: Readonly<Record<string, string>>, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

export function sourceFile(kind: string, namespace: string, name: string): string {
  return `kubernetes://${kind}/${namespace}/${name}`;
}

/** Whether a problem's file names a cluster object (`sourceFile`), not a file on disk. */
export function isClusterSource(file: string | undefined): boolean {
  return file?.startsWith('kubernetes://') ?? false;
}

function raw(object: Obj, kind: string, apiVersion: string, namespace: string, name: string, file = sourceFile(kind, namespace, name)): RawResource {
  return { apiVersion, kind, name, namespace, object, file, base: [], locate: () => undefined };
}

// ---------------------------------------------------------------------------------------------
// Services and their endpoints

interface ServicePort {
  name: string;
  port: number;
  protocol: string;
  appProtocol?: string;
  targetPort?: number | string;
}

function servicePorts(svc: KubeObject): ServicePort[] {
  return arr(obj(svc.spec).ports).flatMap((p) => {
    const o = obj(p);
    if (typeof o.port !== 'number') return [];
    const port: ServicePort = { name: str(o.name) ?? '', port: o.port, protocol: str(o.protocol) ?? 'TCP' };
    const app = str(o.appProtocol);
    if (app) port.appProtocol = app;
    if (typeof o.targetPort === 'number' || typeof o.targetPort === 'string') port.targetPort = o.targetPort;
    return [port];
  });
}

/** Istio's protocol selection: appProtocol, then the port name's prefix; Shadowgate assumes HTTP otherwise. */
function istioProtocol(p: ServicePort): string {
  const app = p.appProtocol ? APP_PROTOCOLS[p.appProtocol.toLowerCase()] : undefined;
  if (app) return app;
  const prefix = p.name.split('-')[0]!.toUpperCase();
  return PROTOCOLS.has(prefix) ? prefix : 'HTTP';
}

interface Candidate {
  address: string;
  port: number;
  /**
   * Which endpoint this is. An IP is not an endpoint: host-network pods on one node share the node's IP, and pods
   * whose named targetPort resolves to different numbers sit in different EndpointSlices. kube-proxy programs
   * each IP:port of a Service port as its own backend; here an endpoint is its address plus its pod (targetRef),
   * or, without a targetRef, its address plus the ports of its slice (a duplicate across slices stays one).
   * https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/#duplicate-endpoints
   */
  identity: string;
  ready: boolean;
  /** Serving while terminating: kube-proxy's fallback when a port has no ready endpoint. */
  servingTerminating: boolean;
  pod?: string;
}

/** Istio's telemetry override of a workload's name, on a Pod (Istio 1.25+). */
const WORKLOAD_NAME_LABEL = 'service.istio.io/workload-name';

/**
 * Istio's workload name of a pod (pkg/kube GetDeployMetaFromPod): for a generated pod, its controller's name,
 * with a ReplicaSet's `-<pod-template-hash>` or a CronJob Job's `-<timestamp>` taken off (the Deployment, the
 * CronJob). Undefined for a pod no controller made (Istio reports the pod's name; telemetry falls back to the
 * pod's app and version labels, which is what a hand-made pod in a test or demo has).
 */
function workloadOf(pod: KubeObject): string | undefined {
  const m = obj(pod.metadata);
  if (!str(m.generateName)) return undefined;
  const owner = arr(m.ownerReferences)
    .map(obj)
    .find((r) => r.controller === true);
  const ownerName = owner && str(owner.name);
  if (!owner || !ownerName) return undefined;
  const hash = strMap(m.labels)['pod-template-hash'];
  if (str(owner.kind) === 'ReplicaSet' && hash && ownerName.endsWith(`-${hash}`)) return ownerName.slice(0, -hash.length - 1);
  if (str(owner.kind) === 'Job') return /^(.+)-\d{8,10}$/.exec(ownerName)?.[1] ?? ownerName;
  return ownerName;
}

/** Endpoints of a Service's port (by the port's name in its EndpointSlices), own pods left out. */
class EndpointIndex {
  private readonly slicesByService = new Map<string, KubeObject[]>();
  private readonly podLabels = new Map<string, Record<string, string>>();

  constructor(
    objects: ClusterObjects,
    private readonly own: Readonly<Record<string, string>>,
  ) {
    for (const slice of objects.endpointSlices) {
      const m = meta(slice);
      const service = m.labels[SERVICE_NAME_LABEL];
      if (!service) continue;
      const key = `${m.namespace}/${service}`;
      const list = this.slicesByService.get(key) ?? [];
      list.push(slice);
      this.slicesByService.set(key, list);
    }
    for (const pod of objects.pods) {
      const m = meta(pod);
      // Telemetry's destination_workload: the pod's Deployment, as Istio's sidecar reports it (issue 13).
      const workload = m.labels[WORKLOAD_NAME_LABEL] ? undefined : workloadOf(pod);
      const labels = workload ? { ...m.labels, [WORKLOAD_NAME_LABEL]: workload } : m.labels;
      this.podLabels.set(`${m.namespace}/${m.name}`, labels);
    }
  }

  pods(): Iterable<[string, Record<string, string>]> {
    return this.podLabels.entries();
  }

  labelsOf(pod: string | undefined): Record<string, string> | undefined {
    return pod === undefined ? undefined : this.podLabels.get(pod);
  }

  isOwn(pod: string | undefined): boolean {
    const labels = this.labelsOf(pod);
    return labels !== undefined && selects(this.own, labels);
  }

  hasSlices(namespace: string, service: string): boolean {
    return (this.slicesByService.get(`${namespace}/${service}`)?.length ?? 0) > 0;
  }

  /** Every endpoint of `service` for the slice port named `portName` (own pods included; callers filter). */
  candidates(namespace: string, service: string, portName: string): Candidate[] {
    const out: Candidate[] = [];
    for (const slice of this.slicesByService.get(`${namespace}/${service}`) ?? []) {
      const type = str(slice.addressType) ?? 'IPv4';
      if (type !== 'IPv4' && type !== 'IPv6') continue;
      const port = arr(slice.ports)
        .map(obj)
        .find((p) => (str(p.name) ?? '') === portName && (str(p.protocol) ?? 'TCP') === 'TCP');
      if (!port || typeof port.port !== 'number') continue;
      const slicePorts = arr(slice.ports)
        .map(obj)
        .map((p) => `${str(p.name) ?? ''}=${typeof p.port === 'number' ? p.port : '?'}/${str(p.protocol) ?? 'TCP'}`)
        .sort()
        .join(',');
      for (const e of arr(slice.endpoints).map(obj)) {
        // Consumers use the first address (the others are reserved by the API).
        const address = str(arr(e.addresses)[0]);
        if (!address || !isIP(address)) continue;
        const c = obj(e.conditions);
        // Unknown (absent) conditions: ready counts as true, serving as ready, terminating as false.
        const ready = c.ready !== false;
        const serving = typeof c.serving === 'boolean' ? c.serving : ready;
        const terminating = c.terminating === true;
        const ref = obj(e.targetRef);
        const refName = str(ref.name);
        const pod = str(ref.kind) === 'Pod' && refName ? `${str(ref.namespace) || namespace}/${refName}` : undefined;
        const identity = refName ? `${address}|${str(ref.kind) ?? ''}/${str(ref.namespace) || namespace}/${refName}` : `${address}|ports:${slicePorts}`;
        const cand: Candidate = { address, port: port.port, identity, ready, servingTerminating: serving && terminating };
        if (pod) cand.pod = pod;
        out.push(cand);
      }
    }
    return out;
  }
}

interface EndpointOut {
  /** `Candidate.identity`: endpoints are keyed by it, never by address alone. */
  identity: string;
  address: string;
  ports: Record<string, number>;
  labels: Record<string, string>;
  /** Included only as a serving-and-terminating fallback on every port it has. */
  servingOnly: boolean;
}

/** The endpoints of one ServiceEntry port: ready ones, or else serving-and-terminating ones (kube-proxy). */
function choose(candidates: Candidate[], index: EndpointIndex): { chosen: Candidate[]; fallback: boolean; ownLeftOut: number } {
  const mine = candidates.filter((c) => !index.isOwn(c.pod));
  const ownLeftOut = candidates.length - mine.length;
  const ready = mine.filter((c) => c.ready);
  if (ready.length > 0) return { chosen: ready, fallback: false, ownLeftOut };
  return { chosen: mine.filter((c) => c.servingTerminating), fallback: true, ownLeftOut };
}

function addEndpoints(into: Map<string, EndpointOut>, portName: string, chosen: Candidate[], fallback: boolean, index: EndpointIndex): void {
  for (const c of chosen) {
    let e = into.get(c.identity);
    if (!e) {
      e = { identity: c.identity, address: c.address, ports: {}, labels: { ...(index.labelsOf(c.pod) ?? {}) }, servingOnly: true };
      into.set(c.identity, e);
    }
    e.ports[portName] ??= c.port;
    if (!fallback) e.servingOnly = false;
  }
}

/** The backends Service's port that a taken-over Service's port maps to: same name, else same number, else the only one. */
function backendPort(p: ServicePort, backends: ServicePort[]): ServicePort | undefined {
  return backends.find((b) => b.name === p.name) ?? backends.find((b) => b.port === p.port) ?? (backends.length === 1 ? backends[0] : undefined);
}

function serviceEntryFor(
  svc: KubeObject,
  services: Map<string, KubeObject>,
  index: EndpointIndex,
  problems: Problem[],
  listenAll: boolean,
): RawResource | undefined {
  const m = meta(svc);
  const spec = obj(svc.spec);
  const ports = servicePorts(svc).filter((p) => p.protocol === 'TCP');
  if (ports.length === 0) return undefined;
  const file = sourceFile('Service', m.namespace, m.name);
  const warn = (code: string, path: string, message: string) =>
    problems.push({ severity: 'warning', code, message, file, resource: `Service ${m.namespace}/${m.name}`, path });
  const host = `${m.name}.${m.namespace}.svc.cluster.local`;
  const sePorts = ports.map((p) => {
    const out: Obj = { number: p.port, name: p.name || `port-${p.port}`, protocol: istioProtocol(p) };
    if (typeof p.targetPort === 'number') out.targetPort = p.targetPort;
    return out;
  });
  const seSpec: Obj = { hosts: [host], ports: sePorts, location: 'MESH_INTERNAL', resolution: 'STATIC' };
  const addresses = [...new Set([str(spec.clusterIP), ...arr(spec.clusterIPs).map(str)])].filter((a): a is string => !!a && isIP(a) !== 0);
  if (addresses.length > 0) seSpec.addresses = addresses;

  if (str(spec.type) === 'ExternalName') {
    const target = str(spec.externalName);
    if (!target) return undefined;
    seSpec.location = 'MESH_EXTERNAL';
    seSpec.resolution = 'DNS';
    seSpec.endpoints = [{ address: target }];
  } else {
    const endpoints = new Map<string, EndpointOut>();
    const backendsName = m.annotations[BACKENDS_ANNOTATION]?.trim();
    if (backendsName !== undefined) {
      // "Take over the Service": Host routing as this Service, endpoints from the backends Service.
      const backends = services.get(`${m.namespace}/${backendsName}`);
      const backendsRef = `Service ${m.namespace}/${backendsName}`;
      checkTakeover(svc, index, warn);
      if (!backendsName || backendsName === m.name) {
        warn(
          'empty-backends',
          `metadata.annotations.${BACKENDS_ANNOTATION}`,
          `${BACKENDS_ANNOTATION} must name another Service (the backends), not "${backendsName}": no endpoints`,
        );
      } else if (!backends) {
        warn(
          'empty-backends',
          `metadata.annotations.${BACKENDS_ANNOTATION}`,
          `${backendsRef}, named by ${BACKENDS_ANNOTATION}, does not exist: requests get 503`,
        );
      } else {
        const bPorts = servicePorts(backends);
        let own = 0;
        let any = 0;
        ports.forEach((p, i) => {
          const bp = backendPort(p, bPorts);
          if (!bp) {
            warn(
              'empty-backends',
              `spec.ports[${i}]`,
              `${backendsRef} has no port matching port ${p.port} (by name "${p.name}", by number, or as its only port): requests to it get 503`,
            );
            return;
          }
          const { chosen, fallback, ownLeftOut } = choose(index.candidates(m.namespace, backendsName, bp.name), index);
          own += ownLeftOut;
          any += chosen.length;
          addEndpoints(endpoints, String(sePorts[i]!.name), chosen, fallback, index);
        });
        if (any === 0) {
          const selector = strMap(obj(backends.spec).selector);
          const why =
            own > 0
              ? `it selects only Shadowgate's own pods (${own}), which are never endpoints`
              : Object.keys(selector).length === 0
                ? 'it has no selector and no EndpointSlice'
                : `it selects nothing serving (selector ${formatLabels(selector)})`;
          warn(
            'empty-backends',
            `metadata.annotations.${BACKENDS_ANNOTATION}`,
            `${backendsRef}, named by ${BACKENDS_ANNOTATION}, has no endpoint: ${why}; requests get 503`,
          );
        }
      }
    } else {
      ports.forEach((p, i) => {
        const { chosen, fallback } = choose(index.candidates(m.namespace, m.name, p.name), index);
        addEndpoints(endpoints, String(sePorts[i]!.name), chosen, fallback, index);
      });
    }
    seSpec.endpoints = [...endpoints.values()]
      // Stable order (address, then identity) whatever order the slices came in: the snapshot's hash depends on it.
      .sort((a, b) => a.address.localeCompare(b.address) || a.identity.localeCompare(b.identity))
      .map((e) => ({ address: e.address, ports: e.ports, labels: e.servingOnly ? { ...e.labels, [SERVING_ONLY_LABEL]: 'true' } : e.labels }));
  }
  const name = `service:${m.name}`;
  const object: Obj = {
    apiVersion: SE_API_VERSION,
    kind: 'ServiceEntry',
    metadata: {
      name,
      namespace: m.namespace,
      annotations: {
        'shadowgate.dev/generated-from': `Service ${m.namespace}/${m.name}`,
        // Each endpoint serves the ports its slices list, not every port of the Service (an ExternalName's one
        // endpoint, its DNS name, serves them all).
        ...(str(spec.type) === 'ExternalName' ? {} : { 'shadowgate.dev/endpoint-ports': 'listed' }),
        // Only taken-over Services get listeners: the gateway stands in their path. Every other Service is a
        // destination (routes and mirrors may name it) but its ports are not the gateway's to bind.
        ...(listenAll || m.annotations[BACKENDS_ANNOTATION] !== undefined ? {} : { [LISTEN_ANNOTATION]: 'false' }),
      },
    },
    spec: seSpec,
  };
  return raw(object, 'ServiceEntry', SE_API_VERSION, m.namespace, name, file);
}

function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** A taken-over Service must send its traffic to Shadowgate's pods, and only to them. */
function checkTakeover(svc: KubeObject, index: EndpointIndex, warn: (code: string, path: string, message: string) => void): void {
  const m = meta(svc);
  const selector = strMap(obj(svc.spec).selector);
  const fix = 'point its selector at the gateway with a JSON-patch replace (a strategic-merge patch merges the two selectors)';
  if (Object.keys(selector).length === 0) {
    warn('takeover-selector', 'spec.selector', `taken over by ${BACKENDS_ANNOTATION} but has no selector, so it does not send traffic to Shadowgate: ${fix}`);
    return;
  }
  let own = 0;
  let others = 0;
  for (const [key, labels] of index.pods()) {
    if (!key.startsWith(`${m.namespace}/`) || !selects(selector, labels)) continue;
    if (index.isOwn(key)) own++;
    else others++;
  }
  if (own === 0) {
    warn(
      'takeover-selector',
      'spec.selector',
      `taken over by ${BACKENDS_ANNOTATION} but its selector (${formatLabels(selector)}) selects no Shadowgate pod: traffic does not go through the gateway; ${fix}`,
    );
  } else if (others > 0) {
    warn(
      'takeover-selector',
      'spec.selector',
      `its selector (${formatLabels(selector)}) also selects ${others} pod(s) that are not Shadowgate's: their share of the traffic bypasses the gateway; ${fix}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------

export function translate(objects: ClusterObjects, opts: TranslateOptions = {}): Translation {
  const own = opts.ownPodSelector ?? DEFAULT_OWN_POD_SELECTOR;
  const problems: Problem[] = [];
  const index = new EndpointIndex(objects, own);
  const byKey = (a: { namespace: string; name: string }, b: { namespace: string; name: string }) =>
    a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);

  const services = new Map<string, KubeObject>();
  for (const svc of objects.services) {
    const m = meta(svc);
    services.set(`${m.namespace}/${m.name}`, svc);
  }
  // A Service named as some Service's backends is reached through that one: no entry (and no listener) of its own.
  const backends = new Set<string>();
  for (const svc of services.values()) {
    const m = meta(svc);
    const name = m.annotations[BACKENDS_ANNOTATION]?.trim();
    if (name && name !== m.name) backends.add(`${m.namespace}/${name}`);
  }
  // Services first: in a cluster they are the registry of record, so their hosts win over a ServiceEntry's.
  const fromServices = [...services.entries()]
    .filter(([key]) => !backends.has(key))
    .map(([, svc]) => svc)
    .map((svc) => serviceEntryFor(svc, services, index, problems, opts.listen === 'all'))
    .filter((r): r is RawResource => r !== undefined)
    .sort(byKey);
  // Istio objects oldest first: when two conflict, Istio uses the oldest, and so does the snapshot (first wins).
  const fromIstio = objects.istio
    .map((o) => ({ o, m: meta(o) }))
    .sort((a, b) => a.m.created.localeCompare(b.m.created) || byKey(a.m, b.m) || String(a.o.kind).localeCompare(String(b.o.kind)))
    .map(({ o, m }) => raw(o, String(o.kind), String(o.apiVersion), m.namespace, m.name));
  return { resources: [...fromServices, ...fromIstio], problems };
}
