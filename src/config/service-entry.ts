// Reads ServiceEntry and WorkloadEntry: outside Kubernetes these say which services exist and where their versions run.
import { isIP } from 'node:net';
import { Fields, type Schema } from './fields.js';
import { resolveHost } from './hosts.js';
import type { RawResource } from './parse.js';
import type { ResourceContext } from './problems.js';

const SERVICE_ENTRY: Schema = {
  name: 'ServiceEntry',
  fields: ['hosts', 'addresses', 'ports', 'location', 'resolution', 'endpoints', 'workloadSelector'],
  ignored: {
    exportTo: 'every resource is visible to Shadowgate',
    subjectAltNames: 'Shadowgate verifies upstream names with the DestinationRule tls.subjectAltNames',
  },
};
const SERVICE_PORT: Schema = { name: 'ServicePort', fields: ['number', 'protocol', 'name', 'targetPort'] };
const WORKLOAD_SELECTOR: Schema = { name: 'WorkloadSelector', fields: ['labels'] };
const WORKLOAD_ENTRY: Schema = {
  name: 'WorkloadEntry',
  fields: ['address', 'ports', 'labels', 'weight'],
  ignored: {
    network: 'Shadowgate has one network',
    locality: 'locality load balancing is not supported yet',
    serviceAccount: 'Shadowgate does not use identities',
  },
};

/** Protocols Shadowgate proxies; others are loaded but get no listener. */
export const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);
const PROTOCOLS = new Set([...HTTP_PROTOCOLS, 'HTTPS', 'TCP', 'TLS', 'MONGO', 'REDIS', 'MYSQL', 'UDP']);

export interface ServicePortSpec {
  number: number;
  name: string;
  protocol: string;
  targetPort?: number;
}

export interface WorkloadSpec {
  address: string;
  /** Port by service-port name. */
  ports: Record<string, number>;
  labels: Record<string, string>;
  weight: number;
  source: string;
}

export interface ServiceEntrySpec {
  ref: string;
  namespace: string;
  hosts: string[];
  addresses: string[];
  ports: ServicePortSpec[];
  resolution: 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'NONE';
  endpoints: WorkloadSpec[];
  workloadSelector?: Record<string, string>;
  /** False when annotated `shadowgate.dev/listen: "false"`: a destination only, no listener on its ports. */
  listen: boolean;
  /**
   * Annotated `shadowgate.dev/endpoint-ports: listed` (the entries made of Kubernetes Services): an endpoint serves
   * only the ports its `ports` lists, as an EndpointSlice endpoint serves only its slice's ports. Otherwise Istio's
   * rule: an endpoint without a port's name uses the service port.
   */
  listedPortsOnly: boolean;
  ctx: ResourceContext;
  res: RawResource;
}

function readWorkload(f: Fields, source: string, resolution: string): WorkloadSpec | undefined {
  const address = f.string('address');
  if (!address) {
    f.ctx.error('missing-field', f.at('address'), 'a workload needs an address');
    return undefined;
  }
  if (resolution === 'STATIC' && !isIP(address) && !address.startsWith('unix://')) {
    f.ctx.error('invalid-address', f.at('address'), `"${address}" is not an IP address; resolution STATIC needs IPs (use resolution: DNS for names)`);
  }
  const ports: Record<string, number> = {};
  for (const [name, value] of Object.entries(f.stringMap('ports'))) {
    const n = Number(value);
    if (Number.isInteger(n) && n >= 1 && n <= 65535) ports[name] = n;
    else f.ctx.error('out-of-range', [...f.at('ports'), name], `port must be from 1 to 65535, not ${value}`);
  }
  return { address, ports, labels: f.stringMap('labels'), weight: f.int('weight', 0, 2 ** 32 - 1) || 1, source };
}

function annotation(res: RawResource, name: string): string | undefined {
  const meta = res.object.metadata as { annotations?: Record<string, unknown> } | undefined;
  const v = meta?.annotations?.[name];
  return typeof v === 'string' ? v : undefined;
}

export function readServiceEntry(res: RawResource, ctx: ResourceContext): ServiceEntrySpec {
  const spec = new Fields(ctx, (res.object.spec as Record<string, unknown>) ?? {}, ['spec'], SERVICE_ENTRY);
  const ref = `ServiceEntry ${res.namespace}/${res.name}`;
  const hosts = spec.strings('hosts');
  if (hosts.length === 0) ctx.error('missing-field', spec.at('hosts'), 'a ServiceEntry needs at least one host');
  const resolutionText = spec.string('resolution') ?? 'NONE';
  let resolution: ServiceEntrySpec['resolution'] = 'NONE';
  if (resolutionText === 'STATIC' || resolutionText === 'DNS' || resolutionText === 'DNS_ROUND_ROBIN' || resolutionText === 'NONE') {
    resolution = resolutionText;
  } else ctx.error('invalid-enum', spec.at('resolution'), `"${resolutionText}" is not a resolution; use STATIC, DNS, DNS_ROUND_ROBIN or NONE`);
  if (resolution === 'NONE')
    ctx.warn(
      'not-supported',
      spec.at('resolution'),
      "resolution NONE (pass-through to the original destination) is not supported; the entry's endpoints are used as if STATIC",
    );

  const listen = annotation(res, 'shadowgate.dev/listen') !== 'false';
  const ports: ServicePortSpec[] = [];
  const names = new Set<string>();
  for (const p of spec.objects('ports', SERVICE_PORT)) {
    const number = p.int('number', 1, 65535);
    const name = p.string('name') ?? '';
    if (number === undefined) {
      if (!p.has('number')) ctx.error('missing-field', p.at('number'), 'a port needs a number');
      continue;
    }
    if (names.has(name)) ctx.error('duplicate-port', p.at('name'), `port name "${name}" is used twice`);
    names.add(name);
    // Istio infers the protocol from the port name prefix (http-, grpc-...) when it is not set.
    const inferred = name.split('-')[0]!.toUpperCase();
    const protocol = (p.string('protocol') ?? (PROTOCOLS.has(inferred) ? inferred : 'HTTP')).toUpperCase();
    if (!PROTOCOLS.has(protocol)) ctx.error('invalid-enum', p.at('protocol'), `"${protocol}" is not a protocol Istio knows`);
    // A destination only (no listener) may be TLS: an Istio Gateway PASSTHROUGH server sends connections to it.
    else if (!HTTP_PROTOCOLS.has(protocol) && (listen || protocol !== 'TLS'))
      ctx.warn('not-supported', p.at('protocol'), `protocol ${protocol} is not supported yet: port ${number} gets no listener`);
    const port: ServicePortSpec = { number, name, protocol };
    const target = p.int('targetPort', 1, 65535);
    if (target !== undefined) port.targetPort = target;
    ports.push(port);
  }
  if (ports.length === 0) ctx.error('missing-field', spec.at('ports'), 'a ServiceEntry needs at least one port');

  const endpoints = spec.objects('endpoints', WORKLOAD_ENTRY).flatMap((e) => readWorkload(e, ref, resolution) ?? []);
  const selector = spec.object('workloadSelector', WORKLOAD_SELECTOR);
  if (selector && endpoints.length > 0) ctx.error('endpoints-and-selector', selector.path, 'use either endpoints or workloadSelector, not both');
  const entry: ServiceEntrySpec = {
    ref,
    namespace: res.namespace,
    hosts: hosts.map((h) => resolveHost(h, res.namespace)),
    addresses: spec.strings('addresses'),
    ports,
    resolution,
    endpoints,
    listen,
    listedPortsOnly: annotation(res, 'shadowgate.dev/endpoint-ports') === 'listed',
    ctx,
    res,
  };
  if (selector) entry.workloadSelector = selector.stringMap('labels');
  if (spec.has('location')) {
    const loc = spec.string('location');
    if (loc !== 'MESH_EXTERNAL' && loc !== 'MESH_INTERNAL')
      ctx.error('invalid-enum', spec.at('location'), `"${loc}" is not a location; use MESH_EXTERNAL or MESH_INTERNAL`);
  }
  return entry;
}

export interface WorkloadEntrySpec extends WorkloadSpec {
  namespace: string;
}

export function readWorkloadEntry(res: RawResource, ctx: ResourceContext): WorkloadEntrySpec | undefined {
  const spec = new Fields(ctx, (res.object.spec as Record<string, unknown>) ?? {}, ['spec'], WORKLOAD_ENTRY);
  const w = readWorkload(spec, `WorkloadEntry ${res.namespace}/${res.name}`, 'DNS');
  return w && { ...w, namespace: res.namespace };
}
