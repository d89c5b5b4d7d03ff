// Reads ServiceEntry and WorkloadEntry: outside Kubernetes these say which services exist and where their versions run.
import { isIP } from 'node:net';
import { Fields, type Schema } from './fields.js';
import { resolveHost } from './hosts.js';
import { fqdnProblem, isDns1123Label, labelProblem, subnetProblem, UNIX_PREFIX, unixAddressProblem, wildcardDomainProblem } from './names.js';
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

/**
 * A workload (a ServiceEntry endpoint or a WorkloadEntry) with Istio's validateWorkloadEntry rules: an address (an IP;
 * with resolution DNS also a host name; or a `unix://` socket, which Shadowgate cannot dial and leaves out with a
 * warning), ports by DNS-label name (those of the ServiceEntry, when `servicePorts` is given), valid labels.
 */
function readWorkload(f: Fields, source: string, resolution: string, servicePorts?: ReadonlySet<string>): WorkloadSpec | undefined {
  const address = f.string('address');
  const portMap = f.stringMap('ports');
  const ports: Record<string, number> = {};
  for (const [name, value] of Object.entries(portMap)) {
    const at = [...f.at('ports'), name];
    const n = Number(value);
    if (!isDns1123Label(name)) f.ctx.error('invalid-name', at, `port name "${name}" is not a DNS-1123 label`);
    else if (servicePorts && !servicePorts.has(name)) f.ctx.error('invalid-value', at, `port "${name}" is not a port of this ServiceEntry`);
    else if (Number.isInteger(n) && n >= 1 && n <= 65535) ports[name] = n;
    else f.ctx.error('out-of-range', at, `port must be from 1 to 65535, not ${value}`);
  }
  const labels = f.stringMap('labels');
  for (const [k, v] of Object.entries(labels)) {
    const bad = labelProblem(k, v);
    if (bad) f.ctx.error('invalid-label', [...f.at('labels'), k], bad);
  }
  const weight = f.int('weight', 0, 2 ** 32 - 1) || 1;
  if (!address) {
    // Istio accepts a WorkloadEntry without an address when it names a network (reached through that network's
    // gateway); Shadowgate has one network, so such an entry has nothing to dial.
    if (f.has('network'))
      f.ctx.warn(
        'missing-field',
        f.at('address'),
        'no address: this workload is reached through its network gateway, which Shadowgate does not have; it is left out',
      );
    else f.ctx.error('missing-field', f.at('address'), 'a workload needs an address');
    return undefined;
  }
  if (address.startsWith(UNIX_PREFIX)) {
    if (resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') {
      f.ctx.error('invalid-address', f.at('address'), `"${address}": a unix socket cannot be resolved by DNS (use resolution: STATIC)`);
      return undefined;
    }
    const bad = unixAddressProblem(address.slice(UNIX_PREFIX.length));
    if (bad) f.ctx.error('invalid-address', f.at('address'), bad);
    if (Object.keys(portMap).length > 0) f.ctx.error('invalid-value', f.at('ports'), `a unix socket endpoint (${address}) has no ports`);
    if (!bad) f.ctx.warn('not-supported', f.at('address'), `unix socket endpoints are not supported yet: ${address} is left out`);
    return undefined;
  }
  if (!isIP(address)) {
    if (resolution === 'STATIC') {
      f.ctx.error('invalid-address', f.at('address'), `"${address}" is not an IP address; resolution STATIC needs IPs (use resolution: DNS for names)`);
    } else {
      const bad = fqdnProblem(address);
      if (bad) f.ctx.error('invalid-address', f.at('address'), `"${address}" is neither an IP address nor a host name: ${bad}`);
    }
  }
  return { address, ports, labels, weight, source };
}

function annotation(res: RawResource, name: string): string | undefined {
  const meta = res.object.metadata as { annotations?: Record<string, unknown> } | undefined;
  const v = meta?.annotations?.[name];
  return typeof v === 'string' ? v : undefined;
}

/** Istio's protocol.Parse(...).IsHTTP() / IsTLS(): ports a name-based (Host or SNI) choice between hosts works on. */
const HOST_AWARE_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY', 'HTTPS', 'TLS']);

export function readServiceEntry(res: RawResource, ctx: ResourceContext): ServiceEntrySpec {
  const spec = new Fields(ctx, (res.object.spec as Record<string, unknown>) ?? {}, ['spec'], SERVICE_ENTRY);
  const ref = `ServiceEntry ${res.namespace}/${res.name}`;
  const hosts = spec.strings('hosts');
  if (hosts.length === 0) ctx.error('missing-field', spec.at('hosts'), 'a ServiceEntry needs at least one host');
  hosts.forEach((h, i) => {
    const bad = h === '*' ? 'a ServiceEntry host cannot be "*"' : wildcardDomainProblem(h);
    if (bad) ctx.error('invalid-hostname', [...spec.at('hosts'), i], bad);
  });
  const resolutionText = spec.string('resolution') ?? 'NONE';
  let resolution: ServiceEntrySpec['resolution'] = 'NONE';
  const dynamic = resolutionText === 'DYNAMIC_DNS';
  if (resolutionText === 'STATIC' || resolutionText === 'DNS' || resolutionText === 'DNS_ROUND_ROBIN' || resolutionText === 'NONE') {
    resolution = resolutionText;
  } else if (!dynamic)
    ctx.error('invalid-enum', spec.at('resolution'), `"${resolutionText}" is not a resolution; use STATIC, DNS, DNS_ROUND_ROBIN, DYNAMIC_DNS or NONE`);
  if (dynamic)
    ctx.warn('not-supported', spec.at('resolution'), 'resolution DYNAMIC_DNS (a dynamic forward proxy) is not supported yet; this entry has no endpoints');
  else if (resolution === 'NONE')
    ctx.warn(
      'not-supported',
      spec.at('resolution'),
      "resolution NONE (pass-through to the original destination) is not supported; the entry's endpoints are used as if STATIC",
    );

  const addresses = spec.strings('addresses');
  addresses.forEach((a, i) => {
    const bad = subnetProblem(a);
    if (bad) ctx.error('invalid-address', [...spec.at('addresses'), i], bad);
  });
  // Istio: a CIDR says "traffic to these IPs"; only NONE and STATIC entries take traffic by destination IP.
  if (addresses.some((a) => a.includes('/')) && resolution !== 'NONE' && resolution !== 'STATIC')
    ctx.error('invalid-value', spec.at('addresses'), `CIDR addresses are allowed only with resolution NONE or STATIC, not ${resolutionText}`);

  const listen = annotation(res, 'shadowgate.dev/listen') !== 'false';
  const listedPortsOnly = annotation(res, 'shadowgate.dev/endpoint-ports') === 'listed';
  const generated = annotation(res, 'shadowgate.dev/generated-from') !== undefined;
  const ports: ServicePortSpec[] = [];
  const names = new Set<string>();
  const numbers = new Set<number>();
  const rawProtocols: Array<string | undefined> = [];
  for (const p of spec.objects('ports', SERVICE_PORT)) {
    const number = p.int('number', 1, 65535);
    const name = p.string('name') ?? '';
    rawProtocols.push(p.string('protocol')?.toUpperCase());
    if (number === undefined) {
      if (!p.has('number')) ctx.error('missing-field', p.at('number'), 'a port needs a number');
      continue;
    }
    // Istio's ValidatePortName (entries made of Kubernetes Services keep the Service's port names, which may be empty).
    if (!generated && !isDns1123Label(name))
      ctx.error('invalid-name', p.at('name'), name === '' ? 'a port needs a name' : `port name "${name}" is not a DNS-1123 label`);
    if (names.has(name)) ctx.error('duplicate-port', p.at('name'), `port name "${name}" is used twice`);
    if (numbers.has(number)) ctx.error('duplicate-port', p.at('number'), `port ${number} is listed twice`);
    names.add(name);
    numbers.add(number);
    // Istio infers the protocol from the port name prefix (http-, grpc-...) when it is not set.
    const inferred = name.split('-')[0]!.toUpperCase();
    const protocol = (p.string('protocol') ?? (PROTOCOLS.has(inferred) ? inferred : 'HTTP')).toUpperCase();
    if (!PROTOCOLS.has(protocol)) ctx.error('invalid-enum', p.at('protocol'), `"${protocol}" is not a protocol Istio knows`);
    // A destination only (no listener) may be TLS or TCP: an Istio Gateway PASSTHROUGH server or a TLSRoute sends
    // connections to it (a TLSRoute on a Terminate listener, decrypted).
    else if (!HTTP_PROTOCOLS.has(protocol) && (listen || (protocol !== 'TLS' && protocol !== 'TCP')))
      ctx.warn('not-supported', p.at('protocol'), `protocol ${protocol} is not supported yet: port ${number} gets no listener`);
    const port: ServicePortSpec = { number, name, protocol };
    const target = p.int('targetPort', 1, 65535);
    if (target !== undefined) port.targetPort = target;
    ports.push(port);
  }
  // Istio accepts an entry without ports; it defines no service port, so nothing is served or routed for it.
  if (ports.length === 0) ctx.warn('missing-field', spec.at('ports'), 'this ServiceEntry has no ports: nothing is served or routed for it');
  // Istio: with several hosts, only HTTP and TLS ports can tell them apart (by Host or SNI).
  if (resolution !== 'NONE' && !dynamic && hosts.length > 1 && rawProtocols.some((p) => p === undefined || !HOST_AWARE_PROTOCOLS.has(p)))
    ctx.error('invalid-value', spec.at('ports'), "several hosts need HTTP or TLS ports (set each port's protocol): plain TCP cannot tell the hosts apart");

  const servicePorts = new Set(names);
  const endpointItems = spec.objects('endpoints', WORKLOAD_ENTRY);
  const endpoints: WorkloadSpec[] = [];
  endpointItems.forEach((e) => {
    const w = readWorkload(e, ref, resolution, resolution === 'NONE' || dynamic ? undefined : servicePorts);
    const address = e.string('address') ?? '';
    if (address.startsWith(UNIX_PREFIX) && ports.length !== 1 && resolution === 'STATIC')
      ctx.error('invalid-value', e.path, 'a unix socket endpoint needs exactly one service port');
    if (w) endpoints.push(w);
  });
  if (endpointItems.length > 0 && (resolution === 'NONE' || dynamic))
    ctx.error('invalid-value', spec.at('endpoints'), `resolution ${resolutionText} takes no endpoints`);
  if (resolution === 'DNS_ROUND_ROBIN' && endpointItems.length > 1)
    ctx.error('too-many', spec.at('endpoints'), 'resolution DNS_ROUND_ROBIN takes at most one endpoint');
  // Istio: without endpoints DNS resolves the hosts themselves, so they must be names, not wildcards.
  if ((resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && endpointItems.length === 0) {
    const i = hosts.findIndex((h) => fqdnProblem(h) !== undefined);
    if (i !== -1)
      ctx.error(
        'invalid-hostname',
        [...spec.at('hosts'), i],
        `"${hosts[i]}": resolution ${resolution} without endpoints resolves the hosts, so they cannot be wildcards`,
      );
  }
  if (dynamic) {
    hosts.forEach((h, i) => {
      if (!h.startsWith('*')) ctx.error('invalid-hostname', [...spec.at('hosts'), i], 'resolution DYNAMIC_DNS needs wildcard hosts');
    });
    if (addresses.length > 0) ctx.error('invalid-value', spec.at('addresses'), 'resolution DYNAMIC_DNS takes no addresses');
  }

  const selector = spec.object('workloadSelector', WORKLOAD_SELECTOR);
  if (selector && spec.has('endpoints')) ctx.error('endpoints-and-selector', selector.path, 'use either endpoints or workloadSelector, not both');
  const entry: ServiceEntrySpec = {
    ref,
    namespace: res.namespace,
    hosts: hosts.map((h) => resolveHost(h, res.namespace)),
    addresses,
    ports,
    resolution,
    endpoints,
    listen,
    listedPortsOnly,
    ctx,
    res,
  };
  if (selector) {
    const labels = selector.stringMap('labels');
    for (const [k, v] of Object.entries(labels)) {
      const at = [...selector.at('labels'), k];
      // Istio's ValidateAlphaWorkloadSelector, then the label rules.
      if (v.includes('*')) ctx.error('invalid-label', at, 'a wildcard is not supported in a selector');
      else {
        const bad = labelProblem(k, v);
        if (bad) ctx.error('invalid-label', at, bad);
      }
    }
    entry.workloadSelector = labels;
  }
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
  // Not tied to one ServiceEntry: an IP, a host name or a unix socket (Istio's allowFQDNAddresses).
  const w = readWorkload(spec, `WorkloadEntry ${res.namespace}/${res.name}`, 'ANY');
  return w && { ...w, namespace: res.namespace };
}
