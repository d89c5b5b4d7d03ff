// Reads an Istio Gateway (networking.istio.io) with Istio's validation rules: servers, their hosts and TLS settings.
// Binding VirtualServices to its servers is gateway-bind.ts.
import { isIP } from 'node:net';
import { Fields, type Schema } from './fields.js';
import type { TlsVersion } from './model.js';
import { isDns1123Label, UNIX_PREFIX, unixAddressProblem, wildcardDomainProblem } from './names.js';
import type { RawResource } from './parse.js';
import type { PathSeg, ResourceContext } from './problems.js';

const GATEWAY: Schema = { name: 'Gateway', fields: ['selector', 'servers'] };
const SERVER: Schema = { name: 'Server', fields: ['port', 'hosts', 'tls', 'bind', 'name'], unsupported: ['defaultEndpoint'] };
const PORT: Schema = { name: 'Port', fields: ['number', 'protocol', 'name', 'targetPort'] };
const SERVER_TLS: Schema = {
  name: 'ServerTLSSettings',
  fields: [
    'httpsRedirect',
    'mode',
    'serverCertificate',
    'privateKey',
    'caCertificates',
    'credentialName',
    'minProtocolVersion',
    'maxProtocolVersion',
    'cipherSuites',
  ],
  unsupported: ['caCrl', 'credentialNames', 'tlsCertificates', 'subjectAltNames', 'verifyCertificateSpki', 'verifyCertificateHash'],
};

/** Server protocols as Istio names them; Shadowgate serves the HTTP family, plain or over TLS. */
const PROTOCOLS = new Set(['HTTP', 'HTTPS', 'HTTP2', 'GRPC', 'GRPC-WEB', 'TCP', 'TLS', 'MONGO', 'REDIS', 'MYSQL']);
const SERVED_PROTOCOLS = new Set(['HTTP', 'HTTPS', 'HTTP2', 'GRPC', 'GRPC-WEB']);
const MODES = new Set(['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL']);
const VERSIONS: Record<string, TlsVersion | undefined> = {
  TLS_AUTO: undefined,
  TLSV1_0: 'TLSv1',
  TLSV1_1: 'TLSv1.1',
  TLSV1_2: 'TLSv1.2',
  TLSV1_3: 'TLSv1.3',
};
const VERSION_RANK: Record<TlsVersion, number> = { TLSv1: 0, 'TLSv1.1': 1, 'TLSv1.2': 2, 'TLSv1.3': 3 };

/** A server host `namespace/dnsName`: which VirtualServices' namespaces may bind (`*` all, `.` the Gateway's own, `~` none). */
export interface ServerHost {
  namespace: string;
  host: string;
}

export interface ServerTlsSpec {
  mode: 'SIMPLE' | 'MUTUAL' | 'OPTIONAL_MUTUAL' | 'PASSTHROUGH' | 'AUTO_PASSTHROUGH' | 'ISTIO_MUTUAL' | undefined;
  httpsRedirect: boolean;
  serverCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  credentialName?: string;
  minProtocolVersion?: TlsVersion;
  maxProtocolVersion?: TlsVersion;
  cipherSuites: string[];
}

export interface ServerSpec {
  index: number;
  path: PathSeg[];
  /** `name`, else `servers[i]`. */
  label: string;
  port: number;
  protocol: string;
  hosts: ServerHost[];
  bind?: string;
  tls?: ServerTlsSpec;
}

export interface GatewaySpec {
  ref: string;
  namespace: string;
  name: string;
  servers: ServerSpec[];
  ctx: ResourceContext;
  res: RawResource;
}

/**
 * Istio's ValidateNamespaceSlashWildcardHostname for a Gateway: `[namespace/]host`, the namespace `*`, `.` or a DNS
 * label (`~` is only for Gateways made from the Gateway API); the host `*`, an IP, or a DNS name with a dot whose first
 * label may be `*` (never a partial wildcard such as `*bar.com`).
 */
function readHost(text: string, gatewayNs: string, ctx: ResourceContext, at: PathSeg[]): ServerHost | undefined {
  const slash = text.indexOf('/');
  let ns = slash === -1 ? '*' : text.slice(0, slash);
  const raw = slash === -1 ? text : text.slice(slash + 1);
  const host = raw.toLowerCase().replace(/\.$/, '');
  if (slash !== -1 && (ns === '' || raw === '')) {
    ctx.error('invalid-hostname', at, `"${text}": the namespace and the host around "/" cannot be empty (use "*/", "./" or a namespace)`);
    return undefined;
  }
  if (ns !== '*' && ns !== '.' && !isDns1123Label(ns)) {
    ctx.error('invalid-hostname', at, `"${text}": "${ns}" is not a namespace ("*", "." or a namespace name)`);
    return undefined;
  }
  if (ns === '.') ns = gatewayNs;
  const problem =
    raw !== '*' && !raw.includes('.')
      ? 'short names are not allowed: write the full host name'
      : raw.includes('*') && raw !== '*' && !raw.startsWith('*.')
        ? 'partial wildcards are not allowed (write "*.domain")'
        : isIP(raw)
          ? undefined
          : wildcardDomainProblem(raw);
  if (problem) {
    ctx.error('invalid-hostname', at, `"${text}" is not a server host: ${problem}`);
    return undefined;
  }
  return { namespace: ns, host };
}

function readTls(t: Fields, ctx: ResourceContext, protocol: string): ServerTlsSpec {
  const out: ServerTlsSpec = { mode: undefined, httpsRedirect: t.bool('httpsRedirect') ?? false, cipherSuites: t.strings('cipherSuites') };
  const mode = t.string('mode');
  if (mode !== undefined) {
    if (!MODES.has(mode)) ctx.error('invalid-enum', t.at('mode'), `mode must be one of ${[...MODES].join(', ')}, not "${mode}"`);
    else out.mode = mode as ServerTlsSpec['mode'];
  } else if (t.has('serverCertificate') || t.has('credentialName') || protocol === 'HTTPS' || protocol === 'TLS') out.mode = 'SIMPLE';
  for (const f of ['serverCertificate', 'privateKey', 'caCertificates', 'credentialName'] as const) {
    const v = t.string(f);
    if (v !== undefined && v !== '') out[f] = v;
  }
  for (const f of ['minProtocolVersion', 'maxProtocolVersion'] as const) {
    const v = t.string(f);
    if (v === undefined) continue;
    if (!(v in VERSIONS)) ctx.error('invalid-enum', t.at(f), `${f} must be one of ${Object.keys(VERSIONS).join(', ')}, not "${v}"`);
    else if (VERSIONS[v]) out[f] = VERSIONS[v];
  }
  if (out.minProtocolVersion && out.maxProtocolVersion && VERSION_RANK[out.minProtocolVersion] > VERSION_RANK[out.maxProtocolVersion]) {
    ctx.error('invalid-value', t.at('minProtocolVersion'), 'minProtocolVersion is above maxProtocolVersion');
  }
  // Istio: ISTIO_MUTUAL uses the mesh's own certificates, so it takes none.
  if (out.mode === 'ISTIO_MUTUAL') {
    const given = (['serverCertificate', 'privateKey', 'caCertificates', 'credentialName'] as const).filter((f) => out[f]);
    if (given.length > 0) ctx.error('conflicting-fields', t.at(given[0]!), `ISTIO_MUTUAL takes no ${given.join(', ')}: it uses the mesh's certificates`);
  }
  // Istio: a file pair or a credentialName, never both; MUTUAL needs a CA to verify clients against.
  const terminates = out.mode === 'SIMPLE' || out.mode === 'MUTUAL' || out.mode === 'OPTIONAL_MUTUAL';
  if (terminates) {
    if (out.credentialName && (out.serverCertificate || out.privateKey)) {
      ctx.error('conflicting-fields', t.at('credentialName'), 'credentialName and serverCertificate/privateKey exclude each other');
    } else if (!out.credentialName) {
      if (!out.serverCertificate) ctx.error('missing-field', t.at('serverCertificate'), `${out.mode} TLS needs serverCertificate (or credentialName)`);
      if (!out.privateKey) ctx.error('missing-field', t.at('privateKey'), `${out.mode} TLS needs privateKey (or credentialName)`);
      if (out.mode !== 'SIMPLE' && !out.caCertificates) {
        ctx.error('missing-field', t.at('caCertificates'), `${out.mode} TLS needs caCertificates to verify client certificates`);
      }
    }
  }
  return out;
}

export function readGateway(res: RawResource, ctx: ResourceContext): GatewaySpec {
  const spec = new Fields(ctx, (res.object.spec as Record<string, unknown>) ?? {}, ['spec'], GATEWAY);
  // Istio: a Gateway's name is a DNS label (VirtualServices name it as namespace/name).
  if (!isDns1123Label(res.name)) ctx.error('invalid-name', ['metadata', 'name'], `Gateway name "${res.name}" is not a DNS-1123 label (no dots)`);
  spec.stringMap('selector');
  const servers: ServerSpec[] = [];
  const items = spec.objects('servers', SERVER);
  if (items.length === 0) ctx.error('missing-field', spec.at('servers'), 'a Gateway needs at least one server');
  const names = new Set<string>();
  const portNames = new Set<string>();
  items.forEach((s, index) => {
    const port = s.object('port', PORT);
    const bind = s.string('bind');
    const unix = bind?.startsWith(UNIX_PREFIX) ?? false;
    if (!port) ctx.error('missing-field', s.at('port'), 'a server needs a port (number, name, protocol)');
    // Istio: port 0 only with a unix socket bind; a unix bind only with port 0.
    const number = port?.int('number', unix ? 0 : 1, 65535);
    if (port && !port.has('number') && !unix) ctx.error('missing-field', port.at('number'), 'a server needs port.number');
    const protocol = (port?.string('protocol') ?? '').toUpperCase();
    if (port && !port.has('protocol')) ctx.error('missing-field', port.at('protocol'), 'a server port needs a protocol (HTTP, HTTPS, ...)');
    else if (port && !PROTOCOLS.has(protocol)) ctx.error('invalid-protocol', port.at('protocol'), `"${protocol}" is not a Gateway server protocol`);
    // Istio: every server's port has a name, unique in the Gateway.
    const portName = port?.string('name');
    if (port && !portName) ctx.error('missing-field', port.at('name'), 'a server port needs a name');
    else if (port && portName !== undefined) {
      if (portNames.has(portName)) ctx.error('duplicate-listener', port.at('name'), `port name "${portName}" is used by another server`);
      portNames.add(portName);
    }
    if (port?.has('targetPort')) ctx.error('invalid-value', port.at('targetPort'), 'targetPort has no effect on a Gateway server: remove it');
    const hostTexts = s.strings('hosts');
    if (hostTexts.length === 0) ctx.error('missing-field', s.at('hosts'), 'a server needs at least one host');
    const hosts = hostTexts.flatMap((h, i) => readHost(h, res.namespace, ctx, [...s.at('hosts'), i]) ?? []);
    const name = s.string('name');
    if (name !== undefined) {
      if (names.has(name)) ctx.error('duplicate-listener', s.at('name'), `server name "${name}" is used twice`);
      names.add(name);
    }
    if (unix) {
      const bad = unixAddressProblem(bind!.slice(UNIX_PREFIX.length));
      if (bad) ctx.error('invalid-address', s.at('bind'), bad);
      else if (number) ctx.error('invalid-value', s.at('bind'), `a unix socket bind needs port.number 0, not ${number}`);
      else ctx.warn('not-supported', s.at('bind'), 'unix socket binds are not supported yet: this server is not served');
    } else if (bind !== undefined && isIP(bind) === 0) ctx.error('invalid-address', s.at('bind'), `bind must be an IP address, not "${bind}"`);
    const t = s.object('tls', SERVER_TLS);
    const tls = t ? readTls(t, ctx, protocol) : undefined;
    if ((protocol === 'HTTPS' || protocol === 'TLS') && !tls?.mode) {
      ctx.error('missing-field', s.at('tls'), `a ${protocol} server needs tls settings (mode, and a certificate)`);
    }
    if (SERVED_PROTOCOLS.has(protocol) && protocol !== 'HTTPS' && tls?.mode) {
      // Istio: "server cannot have TLS settings for plain text HTTP ports" (httpsRedirect alone is fine).
      ctx.error('invalid-value', [...s.at('tls'), 'mode'], `TLS settings on a plain-text ${protocol} server: use protocol HTTPS to terminate TLS`);
    } else if (t && PROTOCOLS.has(protocol) && !SERVED_PROTOCOLS.has(protocol) && protocol !== 'TLS') {
      ctx.error('invalid-value', s.at('tls'), `a ${protocol} server cannot have TLS settings`);
    }
    // Istio warns: httpsRedirect only makes sense on a plain HTTP server.
    if (tls?.httpsRedirect && (protocol === 'HTTPS' || protocol === 'TLS' || !SERVED_PROTOCOLS.has(protocol)))
      ctx.warn('invalid-value', [...s.at('tls'), 'httpsRedirect'], `httpsRedirect has no effect on a ${protocol} server`);
    if (unix) return;
    const server: ServerSpec = { index, path: [...s.path], label: name ?? `servers[${index}]`, port: number ?? 0, protocol, hosts };
    if (bind) server.bind = bind;
    if (tls) server.tls = tls;
    servers.push(server);
  });
  return { ref: `Gateway ${res.namespace}/${res.name}`, namespace: res.namespace, name: res.name, servers, ctx, res };
}
