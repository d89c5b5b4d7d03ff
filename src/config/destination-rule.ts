// Reads a DestinationRule: subsets by labels and traffic policies, with Istio's subset-overrides-top-level rule.
import { Fields, type Schema } from './fields.js';
import { resolveHost } from './hosts.js';
import type { ClientTls, ConnectionPoolSettings, ConsistentHash, LbPolicy, OutlierDetectionSettings, TrafficPolicy } from './model.js';
import type { RawResource } from './parse.js';
import type { ResourceContext } from './problems.js';

const DESTINATION_RULE: Schema = {
  name: 'DestinationRule',
  fields: ['host', 'trafficPolicy', 'subsets'],
  unsupported: ['workloadSelector'],
  ignored: { exportTo: 'every resource is visible to Shadowgate' },
};
const TRAFFIC_POLICY: Schema = {
  name: 'TrafficPolicy',
  fields: ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls', 'portLevelSettings'],
  unsupported: ['tunnel', 'proxyProtocol', 'retryBudget'],
};
const PORT_POLICY: Schema = { name: 'PortTrafficPolicy', fields: ['port', 'loadBalancer', 'connectionPool', 'outlierDetection', 'tls'] };
const PORT_SELECTOR: Schema = { name: 'PortSelector', fields: ['number'] };
const SUBSET: Schema = { name: 'Subset', fields: ['name', 'labels', 'trafficPolicy'] };
const LOAD_BALANCER: Schema = {
  name: 'LoadBalancerSettings',
  fields: ['simple', 'consistentHash'],
  unsupported: ['localityLbSetting', 'warmupDurationSecs', 'warmup'],
};
const CONSISTENT_HASH: Schema = {
  name: 'ConsistentHashLB',
  fields: ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'],
  ignored: {
    ringHash: 'Shadowgate uses one consistent-hash algorithm',
    maglev: 'Shadowgate uses one consistent-hash algorithm',
    minimumRingSize: 'Shadowgate uses one consistent-hash algorithm',
  },
};
const HTTP_COOKIE: Schema = { name: 'HTTPCookie', fields: ['name', 'path', 'ttl'], unsupported: ['attributes'] };
const CONNECTION_POOL: Schema = { name: 'ConnectionPoolSettings', fields: ['tcp', 'http'] };
const TCP_SETTINGS: Schema = {
  name: 'TCPSettings',
  fields: ['maxConnections', 'connectTimeout', 'idleTimeout'],
  unsupported: ['tcpKeepalive', 'maxConnectionDuration'],
};
const HTTP_SETTINGS: Schema = {
  name: 'HTTPSettings',
  fields: ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'idleTimeout', 'h2UpgradePolicy', 'maxConcurrentStreams'],
  unsupported: ['useClientProtocol'],
};
const OUTLIER_DETECTION: Schema = {
  name: 'OutlierDetection',
  fields: ['consecutive5xxErrors', 'consecutiveGatewayErrors', 'consecutiveErrors', 'interval', 'baseEjectionTime', 'maxEjectionPercent', 'minHealthPercent'],
  unsupported: ['splitExternalLocalOriginErrors', 'consecutiveLocalOriginFailures'],
};
const TLS: Schema = {
  name: 'ClientTLSSettings',
  fields: ['mode', 'clientCertificate', 'privateKey', 'caCertificates', 'credentialName', 'subjectAltNames', 'sni', 'insecureSkipVerify'],
  unsupported: ['caCrl'],
};

const LB_NAMES: Record<string, LbPolicy> = {
  UNSPECIFIED: 'LEAST_REQUEST',
  LEAST_REQUEST: 'LEAST_REQUEST',
  LEAST_CONN: 'LEAST_REQUEST',
  ROUND_ROBIN: 'ROUND_ROBIN',
  RANDOM: 'RANDOM',
  PASSTHROUGH: 'PASSTHROUGH',
};

/** Each top-level field of a TrafficPolicy, kept apart so a subset can replace them one by one. */
export interface PolicyParts {
  loadBalancer?: { policy: LbPolicy; consistentHash?: ConsistentHash };
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetectionSettings;
  /** `DISABLE` is kept: a subset or port may turn off what the level above set. */
  tls?: ClientTls | 'DISABLE';
  /** portLevelSettings by port number: override the fields they set, for that port only. */
  ports?: Map<number, PolicyParts>;
}

export interface SubsetSpec {
  name: string;
  labels: Record<string, string>;
  policy: PolicyParts;
}

export interface DestinationRuleSpec {
  ref: string;
  namespace: string;
  host: string;
  policy: PolicyParts;
  subsets: SubsetSpec[];
  ctx: ResourceContext;
  res: RawResource;
}

function readLoadBalancer(f: Fields): PolicyParts['loadBalancer'] {
  const simple = f.string('simple');
  const ch = f.object('consistentHash', CONSISTENT_HASH);
  if (simple !== undefined && ch) f.ctx.error('lb-conflict', f.path, 'set either simple or consistentHash, not both');
  if (ch) {
    const hash: ConsistentHash = {};
    const header = ch.string('httpHeaderName');
    const query = ch.string('httpQueryParameterName');
    const sourceIp = ch.bool('useSourceIp');
    const cookie = ch.object('httpCookie', HTTP_COOKIE);
    if (header !== undefined) hash.httpHeaderName = header.toLowerCase();
    if (query !== undefined) hash.httpQueryParameterName = query;
    if (sourceIp) hash.useSourceIp = true;
    if (cookie) {
      const name = cookie.string('name');
      if (!name) cookie.ctx.error('missing-field', cookie.at('name'), 'httpCookie.name is required');
      else {
        hash.httpCookie = { name };
        const path = cookie.string('path');
        const ttl = cookie.durationMs('ttl');
        if (path !== undefined) hash.httpCookie.path = path;
        if (ttl !== undefined) hash.httpCookie.ttlMs = ttl;
      }
    }
    const keys = Object.keys(hash);
    if (keys.length !== 1)
      ch.ctx.error('lb-conflict', ch.path, 'consistentHash needs exactly one of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName');
    return { policy: 'CONSISTENT_HASH', consistentHash: hash };
  }
  const policy = simple === undefined ? 'LEAST_REQUEST' : LB_NAMES[simple];
  if (!policy) {
    f.ctx.error('invalid-enum', f.at('simple'), `"${simple}" is not a load balancer; use one of ${Object.keys(LB_NAMES).join(', ')}`);
    return undefined;
  }
  if (simple === 'LEAST_CONN') f.ctx.warn('deprecated-field', f.at('simple'), 'LEAST_CONN is deprecated; it means LEAST_REQUEST');
  return { policy };
}

function readConnectionPool(f: Fields): ConnectionPoolSettings {
  const out: ConnectionPoolSettings = {};
  const tcp = f.object('tcp', TCP_SETTINGS);
  const http = f.object('http', HTTP_SETTINGS);
  const set = <K extends Exclude<keyof ConnectionPoolSettings, 'h2UpgradePolicy'>>(k: K, v: number | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('maxConnections', tcp?.int('maxConnections', 1));
  set('connectTimeoutMs', tcp?.durationMs('connectTimeout'));
  set('idleTimeoutMs', http?.durationMs('idleTimeout') ?? tcp?.durationMs('idleTimeout'));
  set('maxPendingRequests', http?.int('http1MaxPendingRequests', 1));
  set('maxRequests', http?.int('http2MaxRequests', 1));
  set('maxRequestsPerConnection', http?.int('maxRequestsPerConnection', 0));
  set('maxRetries', http?.int('maxRetries', 0));
  set('maxConcurrentStreams', http?.int('maxConcurrentStreams', 1));
  const upgrade = http?.string('h2UpgradePolicy');
  if (upgrade === 'DEFAULT' || upgrade === 'DO_NOT_UPGRADE' || upgrade === 'UPGRADE') out.h2UpgradePolicy = upgrade;
  else if (upgrade !== undefined && http)
    http.ctx.error('invalid-enum', http.at('h2UpgradePolicy'), `"${upgrade}" is not an h2UpgradePolicy; use DEFAULT, DO_NOT_UPGRADE or UPGRADE`);
  return out;
}

function readOutlier(f: Fields): OutlierDetectionSettings {
  const od: OutlierDetectionSettings = {
    // Istio's defaults (networking/v1alpha3/destination_rule.proto).
    intervalMs: f.durationMs('interval') ?? 10_000,
    baseEjectionTimeMs: f.durationMs('baseEjectionTime') ?? 30_000,
    maxEjectionPercent: f.int('maxEjectionPercent', 0, 100) ?? 10,
    minHealthPercent: f.int('minHealthPercent', 0, 100) ?? 0,
  };
  const c5 = f.int('consecutive5xxErrors', 0) ?? f.int('consecutiveErrors', 0);
  if (f.has('consecutiveErrors'))
    f.ctx.warn('deprecated-field', f.at('consecutiveErrors'), 'consecutiveErrors is deprecated; use consecutiveGatewayErrors or consecutive5xxErrors');
  const cg = f.int('consecutiveGatewayErrors', 0);
  // Istio: consecutive5xxErrors defaults to 5 only when no error counter is set at all; 0 disables it.
  if (c5 !== undefined) {
    if (c5 > 0) od.consecutive5xxErrors = c5;
  } else if (cg === undefined) od.consecutive5xxErrors = 5;
  if (cg !== undefined && cg > 0) od.consecutiveGatewayErrors = cg;
  return od;
}

/**
 * Istio's ClientTLSSettings (networking/v1alpha3/destination_rule.proto); files and Secrets are read by the upstream
 * module. `namespace` is the DestinationRule's: where a bare `credentialName` is looked up (see README, TLS origination).
 */
function readTls(tls: Fields, namespace: string): ClientTls | 'DISABLE' | undefined {
  const mode = tls.string('mode') ?? 'DISABLE';
  const ca = tls.string('caCertificates');
  const cert = tls.string('clientCertificate');
  const key = tls.string('privateKey');
  const sni = tls.string('sni');
  const sans = tls.strings('subjectAltNames');
  const skip = tls.bool('insecureSkipVerify') ?? false;
  const credential = tls.string('credentialName');
  if (mode === 'DISABLE') return 'DISABLE';
  if (mode === 'ISTIO_MUTUAL') {
    tls.ctx.warn('not-supported', tls.at('mode'), 'ISTIO_MUTUAL needs the mesh identity Shadowgate does not have; use MUTUAL with files. Plain HTTP is used');
    return 'DISABLE';
  }
  if (mode !== 'SIMPLE' && mode !== 'MUTUAL') {
    tls.ctx.error('invalid-enum', tls.at('mode'), `"${mode}" is not a TLS mode; use DISABLE, SIMPLE or MUTUAL`);
    return undefined;
  }
  // Istio's validation: a Secret or files, never both (the Secret carries the client pair and the CA).
  if (credential && (cert || key || ca)) {
    tls.ctx.error('conflicting-fields', tls.at('credentialName'), 'credentialName and clientCertificate/privateKey/caCertificates exclude each other');
    return undefined;
  }
  // Istio's validation: MUTUAL needs both a client certificate and its key (or a Secret holding them).
  if (mode === 'MUTUAL' && !credential && (!cert || !key)) {
    tls.ctx.error('missing-field', tls.at(cert ? 'privateKey' : 'clientCertificate'), 'MUTUAL needs clientCertificate and privateKey');
    return undefined;
  }
  if ((cert === undefined) !== (key === undefined)) {
    tls.ctx.error('missing-field', tls.at(cert ? 'privateKey' : 'clientCertificate'), 'clientCertificate and privateKey go together');
    return undefined;
  }
  const out: ClientTls = { mode, subjectAltNames: sans, insecureSkipVerify: skip };
  if (ca) out.caCertificates = ca;
  if (cert) out.clientCertificate = cert;
  if (key) out.privateKey = key;
  if (sni) out.sni = sni;
  if (credential) out.credentialName = credential.includes('/') ? credential : `${namespace}/${credential}`;
  return out;
}

function readPolicy(f: Fields | undefined, namespace: string): PolicyParts {
  const parts: PolicyParts = {};
  if (!f) return parts;
  for (const p of f.objects('portLevelSettings', PORT_POLICY)) {
    const number = p.object('port', PORT_SELECTOR)?.int('number', 1, 65535);
    if (number === undefined) {
      p.ctx.error('missing-field', p.at('port'), 'portLevelSettings needs port.number');
      continue;
    }
    parts.ports ??= new Map();
    parts.ports.set(number, readPolicy(p, namespace));
  }
  const lb = f.object('loadBalancer', LOAD_BALANCER);
  if (lb) {
    const v = readLoadBalancer(lb);
    if (v) parts.loadBalancer = v;
  }
  const cp = f.object('connectionPool', CONNECTION_POOL);
  if (cp) parts.connectionPool = readConnectionPool(cp);
  const od = f.object('outlierDetection', OUTLIER_DETECTION);
  if (od) parts.outlierDetection = readOutlier(od);
  const tls = f.object('tls', TLS);
  if (tls) {
    const t = readTls(tls, namespace);
    if (t) parts.tls = t;
  }
  return parts;
}

/**
 * Istio: a subset's traffic policy replaces each top-level field (loadBalancer, connectionPool, ...) wholesale,
 * and a portLevelSettings entry for the cluster's port replaces them at its level (pilot's MergeTrafficPolicy:
 * top, top's port, subset, subset's port; the last that sets a field wins).
 */
export function mergePolicy(top: PolicyParts, subset: PolicyParts | undefined, port?: number): TrafficPolicy {
  const layers = [top, port !== undefined ? top.ports?.get(port) : undefined, subset, port !== undefined ? subset?.ports?.get(port) : undefined];
  const last = <K extends keyof PolicyParts>(k: K): PolicyParts[K] => layers.reduce<PolicyParts[K]>((v, l) => l?.[k] ?? v, undefined);
  const lb = last('loadBalancer');
  const policy: TrafficPolicy = {
    loadBalancer: lb?.policy ?? 'LEAST_REQUEST',
    connectionPool: last('connectionPool') ?? {},
  };
  if (lb?.consistentHash) policy.consistentHash = lb.consistentHash;
  const od = last('outlierDetection');
  if (od) policy.outlierDetection = od;
  const tls = last('tls');
  if (tls && tls !== 'DISABLE') policy.tls = tls;
  return policy;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function readDestinationRule(res: RawResource, ctx: ResourceContext): DestinationRuleSpec {
  const spec = new Fields(ctx, (res.object.spec as Record<string, unknown>) ?? {}, ['spec'], DESTINATION_RULE);
  const host = spec.string('host');
  if (!host) ctx.error('missing-field', spec.at('host'), 'a DestinationRule needs a host');
  const subsets: SubsetSpec[] = [];
  const seen = new Set<string>();
  for (const s of spec.objects('subsets', SUBSET)) {
    const name = s.string('name');
    if (!name) {
      ctx.error('missing-field', s.at('name'), 'a subset needs a name');
      continue;
    }
    if (seen.has(name)) ctx.error('duplicate-subset', s.at('name'), `subset "${name}" is defined twice`);
    seen.add(name);
    const labels = s.stringMap('labels');
    for (const [k, v] of Object.entries(labels)) {
      if (!LABEL_VALUE.test(v) || v.length > 63) ctx.error('invalid-label', [...s.at('labels'), k], `"${v}" is not a valid label value`);
    }
    subsets.push({ name, labels, policy: readPolicy(s.object('trafficPolicy', TRAFFIC_POLICY), res.namespace) });
  }
  return {
    ref: `DestinationRule ${res.namespace}/${res.name}`,
    namespace: res.namespace,
    host: resolveHost(host ?? '', res.namespace),
    policy: readPolicy(spec.object('trafficPolicy', TRAFFIC_POLICY), res.namespace),
    subsets,
    ctx,
    res,
  };
}
