// Reads a DestinationRule: subsets by labels and traffic policies, with Istio's subset-overrides-top-level rule.
import { parseDurationNs } from './duration.js';
import { Fields, isPlainObject, type Schema } from './fields.js';
import { resolveHost } from './hosts.js';
import type { ClientTls, ConnectionPoolSettings, ConsistentHash, LbPolicy, OutlierDetectionSettings, TrafficPolicy } from './model.js';
import { isDns1123Label, labelProblem, wildcardDomainProblem } from './names.js';
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
  unsupported: ['localityLbSetting', 'zoneAwareLbSetting', 'warmupDurationSecs', 'warmup'],
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
  unsupported: ['useClientProtocol', 'http2KeepAlive'],
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

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** Istio's checks of LoadBalancerSettings parts Shadowgate does not act on (each warned about as not supported). */
function checkUnusedLbParts(f: Fields, ch: Fields | undefined): void {
  if (f.has('localityLbSetting') && f.has('zoneAwareLbSetting'))
    f.ctx.error('conflicting-fields', f.path, 'set either localityLbSetting or zoneAwareLbSetting, not both');
  const warmup = f.raw('warmup');
  if (isPlainObject(warmup)) {
    const w = f.at('warmup');
    if (warmup.duration === undefined) f.ctx.error('missing-field', [...w, 'duration'], 'warmup.duration is required');
    else if (typeof warmup.duration !== 'string' || (parseDurationNs(warmup.duration) ?? 0) < 1e6)
      f.ctx.error('bad-duration', [...w, 'duration'], `"${String(warmup.duration)}" is not a duration of at least 1ms`);
    const min = warmup.minimumPercent;
    if (min !== undefined && !(typeof min === 'number' && min >= 0 && min <= 100))
      f.ctx.error('percentage-out-of-range', [...w, 'minimumPercent'], `minimumPercent must be from 0 to 100, not ${String(min)}`);
    const aggression = warmup.aggression;
    if (aggression !== undefined && !(typeof aggression === 'number' && aggression > 0))
      f.ctx.error('out-of-range', [...w, 'aggression'], `aggression must be above 0, not ${String(aggression)}`);
  }
  if (!ch) return;
  const maglev = ch.raw('maglev');
  if (isPlainObject(maglev)) {
    const size = maglev.tableSize;
    // Envoy's Maglev table: a prime below 5000011.
    if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0 || size >= 5000011 || !isPrime(size))
      ch.ctx.error('invalid-value', ch.at('maglev'), `maglev.tableSize must be a prime below 5000011, not ${String(size)}`);
  }
  const cookie = ch.raw('httpCookie');
  const attributes = isPlainObject(cookie) ? cookie.attributes : undefined;
  if (Array.isArray(attributes)) {
    const at = [...ch.at('httpCookie'), 'attributes'];
    const seen = new Set<string>();
    for (const a of attributes) {
      const name = isPlainObject(a) && typeof a.name === 'string' ? a.name : '';
      if (name === '') ch.ctx.error('missing-field', at, 'a cookie attribute needs a name');
      else if (seen.has(name)) ch.ctx.error('invalid-value', at, `cookie attribute "${name}" is set twice`);
      seen.add(name);
    }
  }
}

function readLoadBalancer(f: Fields): PolicyParts['loadBalancer'] {
  const simple = f.string('simple');
  const ch = f.object('consistentHash', CONSISTENT_HASH);
  checkUnusedLbParts(f, ch);
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
        // ttl 0 is a session cookie (Istio and Envoy).
        const ttl = cookie.durationMs('ttl', { zero: true });
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

/** Istio's validateConnectionPool: at least one of tcp and http; limits are non-negative, 0 meaning Envoy's default. */
function readConnectionPool(f: Fields): ConnectionPoolSettings {
  const out: ConnectionPoolSettings = {};
  const tcp = f.object('tcp', TCP_SETTINGS);
  const http = f.object('http', HTTP_SETTINGS);
  if (!tcp && !http) f.ctx.error('missing-field', f.path, 'connectionPool needs tcp or http settings');
  const set = <K extends Exclude<keyof ConnectionPoolSettings, 'h2UpgradePolicy'>>(k: K, v: number | undefined, zeroIsUnset = true) => {
    if (v !== undefined && !(zeroIsUnset && v === 0)) out[k] = v;
  };
  set('maxConnections', tcp?.int('maxConnections', 0));
  set('connectTimeoutMs', tcp?.durationMs('connectTimeout'));
  // tcp.idleTimeout "0s" is Istio's "no idle timeout" (its check skips it); Shadowgate then keeps its default.
  set('idleTimeoutMs', http?.durationMs('idleTimeout') ?? tcp?.durationMs('idleTimeout', { zero: true }));
  tcp?.durationMs('maxConnectionDuration');
  set('maxPendingRequests', http?.int('http1MaxPendingRequests', 0));
  set('maxRequests', http?.int('http2MaxRequests', 0));
  set('maxRequestsPerConnection', http?.int('maxRequestsPerConnection', 0), false);
  set('maxRetries', http?.int('maxRetries', 0), false);
  set('maxConcurrentStreams', http?.int('maxConcurrentStreams', 0));
  const upgrade = http?.string('h2UpgradePolicy');
  if (upgrade === 'DEFAULT' || upgrade === 'DO_NOT_UPGRADE' || upgrade === 'UPGRADE') out.h2UpgradePolicy = upgrade;
  else if (upgrade !== undefined && http)
    http.ctx.error('invalid-enum', http.at('h2UpgradePolicy'), `"${upgrade}" is not an h2UpgradePolicy; use DEFAULT, DO_NOT_UPGRADE or UPGRADE`);
  if (http && upgrade === 'UPGRADE' && http.raw('useClientProtocol') === true)
    http.ctx.error('conflicting-fields', http.path, 'useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE');
  // http2KeepAlive is not acted on (a warning says so); Istio requires both of its durations.
  const keepalive = http?.raw('http2KeepAlive');
  if (http && isPlainObject(keepalive)) {
    const at = http.at('http2KeepAlive');
    for (const k of ['interval', 'timeout'] as const) {
      const v = keepalive[k];
      if (v === undefined) http.ctx.error('missing-field', at, `http2KeepAlive.${k} is required`);
      else {
        const ns = typeof v === 'string' ? parseDurationNs(v) : undefined;
        if (ns === undefined || ns < 1e6 || ns % 1e6 !== 0)
          http.ctx.error('bad-duration', [...at, k], `"${String(v)}" is not a duration in whole milliseconds`);
      }
    }
  }
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
  // Istio: local-origin failures are counted apart only with splitExternalLocalOriginErrors.
  const local = f.raw('consecutiveLocalOriginFailures');
  if (typeof local === 'number' && local > 0 && f.raw('splitExternalLocalOriginErrors') !== true)
    f.ctx.error('conflicting-fields', f.path, 'consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors: true');
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
  // Istio's agent.ValidateTLS: skipping verification and naming what to verify against contradict each other.
  if (skip && ((mode === 'SIMPLE' && (ca || credential || tls.has('subjectAltNames'))) || (mode === 'MUTUAL' && (ca || tls.has('subjectAltNames'))))) {
    tls.ctx.error(
      'conflicting-fields',
      tls.at('insecureSkipVerify'),
      `insecureSkipVerify: true cannot go with caCertificates${mode === 'SIMPLE' ? ', credentialName' : ''} or subjectAltNames`,
    );
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

/** Istio's validateTrafficPolicy / validatePortTrafficPolicies: a policy (or a port's) must set something. */
const POLICY_PARTS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls', 'portLevelSettings', 'tunnel', 'proxyProtocol', 'retryBudget'];

function readPolicy(f: Fields | undefined, namespace: string, port = false): PolicyParts {
  const parts: PolicyParts = {};
  if (!f) return parts;
  if (!POLICY_PARTS.some((k) => f.has(k)))
    f.ctx.error(
      'missing-field',
      f.path,
      port
        ? 'a port traffic policy must set at least one of loadBalancer, connectionPool, outlierDetection, tls'
        : 'a traffic policy must set at least one field',
    );
  for (const p of f.objects('portLevelSettings', PORT_POLICY)) {
    const selector = p.object('port', PORT_SELECTOR);
    const number = selector?.int('number', 1, 65535);
    if (number === undefined) {
      if (!selector?.has('number')) p.ctx.error('missing-field', p.at('port'), 'portLevelSettings needs port.number');
      continue;
    }
    parts.ports ??= new Map();
    parts.ports.set(number, readPolicy(p, namespace, true));
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

export function readDestinationRule(res: RawResource, ctx: ResourceContext): DestinationRuleSpec {
  const spec = new Fields(ctx, (res.object.spec as Record<string, unknown>) ?? {}, ['spec'], DESTINATION_RULE);
  const host = spec.string('host');
  if (!host) ctx.error('missing-field', spec.at('host'), 'a DestinationRule needs a host');
  else {
    const bad = wildcardDomainProblem(host);
    if (bad) ctx.error('invalid-hostname', spec.at('host'), bad);
  }
  const subsets: SubsetSpec[] = [];
  const seen = new Set<string>();
  for (const s of spec.objects('subsets', SUBSET)) {
    const name = s.string('name');
    if (!name) {
      ctx.error('missing-field', s.at('name'), 'a subset needs a name');
      continue;
    }
    // Istio's validateSubsetName: the name goes into cluster names, so it is a DNS-1123 label.
    if (!isDns1123Label(name)) ctx.error('invalid-name', s.at('name'), `subset name "${name}" is not a DNS-1123 label (letters, digits, "-")`);
    if (seen.has(name)) ctx.error('duplicate-subset', s.at('name'), `subset "${name}" is defined twice`);
    seen.add(name);
    const labels = s.stringMap('labels');
    for (const [k, v] of Object.entries(labels)) {
      const bad = labelProblem(k, v);
      if (bad) ctx.error('invalid-label', [...s.at('labels'), k], bad);
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
