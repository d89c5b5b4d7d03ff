// The checked, normalized, frozen model that `config/` produces and every module downstream reads.
// Plain data only (JSON-serializable), so /config_dump can print it and the content hash covers it.

export type Severity = 'error' | 'warning' | 'info';

/** One thing wrong (or worth saying) about the input. Errors disable the resource they concern. */
export interface Problem {
  severity: Severity;
  /** Stable, kebab-case code, e.g. `mirror-and-mirrors`. */
  code: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
  /** `VirtualService default/nginx` */
  resource?: string;
  /** `spec.http[0].route[1].weight` */
  path?: string;
}

// ---------------------------------------------------------------------------------------------
// Matching

/** Istio's StringMatch. `regex` is RE2 syntax with full-string semantics. */
export type StringMatch =
  | { kind: 'exact'; value: string }
  /** `segments`: Gateway API `PathPrefix`, matched by whole path segments (`/abc` takes `/abc/d`, not `/abcd`). */
  | { kind: 'prefix'; value: string; segments?: boolean }
  | { kind: 'regex'; value: string };

/** A header/query condition: a StringMatch, or mere presence (Istio's empty match `{}`). */
export type ValueMatch = StringMatch | { kind: 'present' };

export interface HeaderCondition {
  /** Lower-cased header name (or query parameter name, case kept). */
  name: string;
  match: ValueMatch;
}

/** One HTTPMatchRequest. All set conditions must hold (AND). */
export interface RouteMatch {
  name?: string;
  uri?: StringMatch;
  scheme?: StringMatch;
  method?: StringMatch;
  authority?: StringMatch;
  headers: HeaderCondition[];
  withoutHeaders: HeaderCondition[];
  queryParams: HeaderCondition[];
  /** Applies to `uri` only, as in Istio. */
  ignoreUriCase: boolean;
  /** Listener port this match is restricted to. */
  port?: number;
}

// ---------------------------------------------------------------------------------------------
// Route actions

export interface HeaderOps {
  set: Record<string, string>;
  add: Record<string, string>;
  remove: string[];
}

export interface HeadersPolicy {
  request: HeaderOps;
  response: HeaderOps;
}

/** A destination resolved to its cluster (Istio/Envoy name `outbound|port|subset|host`). */
export interface ClusterRef {
  cluster: string;
  host: string;
  subset: string;
  port: number;
}

export interface WeightedDestination extends ClusterRef {
  /** Relative weight, > 0. A lone destination has weight 100. */
  weight: number;
  headers: HeadersPolicy;
}

export interface MirrorTarget extends ClusterRef {
  /** 0..100, float. Absent in the YAML means 100. */
  percentage: number;
}

export interface Rewrite {
  uri?: string;
  uriRegex?: { match: string; rewrite: string };
  authority?: string;
}

export interface RetryPolicy {
  attempts: number;
  perTryTimeoutMs?: number;
  /** Envoy retry_on tokens and bare status codes, e.g. ['connect-failure', '503']. */
  retryOn: string[];
}

export interface FaultPolicy {
  delay?: { fixedDelayMs: number; percentage: number };
  abort?: { httpStatus: number; percentage: number };
}

export interface Redirect {
  uri?: string;
  authority?: string;
  port?: number;
  scheme?: string;
  redirectCode: number;
}

export interface DirectResponse {
  status: number;
  body?: string;
}

export type RouteAction =
  | { kind: 'route'; destinations: WeightedDestination[] }
  | { kind: 'redirect'; redirect: Redirect }
  | { kind: 'directResponse'; response: DirectResponse };

export interface Route {
  /** `name` of the HTTPRoute, or `<vs-name>.<index>` when absent. */
  name: string;
  /** `VirtualService ns/name` that defined it. */
  source: string;
  /** Index in `spec.http`. */
  index: number;
  /** OR of matches; empty means match everything. */
  matches: RouteMatch[];
  action: RouteAction;
  mirrors: MirrorTarget[];
  rewrite?: Rewrite;
  /** Route timeout; undefined = none (Istio's default for sidecars). */
  timeoutMs?: number;
  retries: RetryPolicy;
  fault?: FaultPolicy;
  headers: HeadersPolicy;
  cors?: CorsPolicy;
}

/**
 * Istio's `corsPolicy`, as Istio hands it to Envoy's CORS filter: the lists joined with commas, `maxAge` in
 * whole seconds. Preflights from an allowed origin are answered by the gateway; answers to allowed origins get
 * the allow headers. With `gatewayApi` set, a Gateway API HTTPRoute `CORS` filter (GEP-1767) instead: see there.
 */
export interface CorsPolicy {
  /** `allowOrigins` (or the deprecated `allowOrigin`, as exact matches). Empty: no origin is allowed (or `gatewayApi`'s). */
  allowOrigins: StringMatch[];
  allowMethods: string;
  allowHeaders: string;
  exposeHeaders: string;
  /** Seconds, as text; undefined: no Access-Control-Max-Age. */
  maxAge?: string;
  /** Undefined: not set (no Access-Control-Allow-Credentials). */
  allowCredentials?: boolean;
  /** `unmatchedPreflights`: FORWARD (Istio's default) sends a preflight from another origin on; IGNORE answers it. */
  forwardUnmatchedPreflights: boolean;
  /** Set for an HTTPRoute `CORS` filter: Gateway API's semantics where they differ from Envoy's. */
  gatewayApi?: GatewayApiCors;
}

/**
 * Where Gateway API's CORS filter differs from Envoy's (the lists, `maxAge` and credentials are read alike):
 * - origins are matched by scheme, host and port (the scheme's default when not written), a host pattern `*.suffix`
 *   taking one or more labels before the suffix, `*` alone any origin;
 * - `allowOrigins: ["*"]` without credentials answers `access-control-allow-origin: *` (Envoy echoes the origin);
 * - every preflight is answered (`forwardUnmatchedPreflights` false); another origin's gets no CORS header at all;
 * - a preflight's answer also carries `access-control-expose-headers`;
 * - a credentialed request (with a `Cookie`) gets no CORS header unless `allowCredentials` is true;
 * - `exposeHeaders: ["*"]` with credentials (where `*` is not a wildcard to browsers) exposes the answer's own headers;
 * - the upstream's own `access-control-allow-origin`, `-allow-credentials` and `-expose-headers` are dropped from
 *   answers to requests with an Origin: the filter alone says them.
 */
export interface GatewayApiCors {
  /** `allowOrigins`; `*`: every origin. */
  origins: CorsOrigin[] | '*';
}

/** A Gateway API CORS origin: lower-case scheme and host (`*`, or `*.` and a suffix), the port (80/443 when unwritten). */
export interface CorsOrigin {
  scheme: 'http' | 'https';
  host: string;
  port: number;
}

// ---------------------------------------------------------------------------------------------
// Listeners and virtual hosts

export interface VirtualHost {
  /** The service's canonical host (FQDN for short names). */
  host: string;
  /** Every Host/:authority value that selects this virtual host, lower-case, with and without port. */
  domains: string[];
  port: number;
  routes: Route[];
  /** True when routes come from a VirtualService; false for the implicit "all endpoints" route. */
  fromVirtualService: boolean;
}

export interface Listener {
  port: number;
  /** Protocol of the ServiceEntry port (HTTP, HTTP2, GRPC, TCP...). */
  protocol: string;
  virtualHosts: VirtualHost[];
  /**
   * Gateway API listeners match the Host's name and ignore its port (the conformance suite expects
   * `very.specific.com:1234` to reach a route on port 80); Istio's domains are `host` and `host:<port>` only.
   */
  hostPortIgnored?: boolean;
  /** Only the domains pick a virtual host (an Istio Gateway's servers): a port's lone virtual host does not take every Host. */
  strictHost?: boolean;
  /** Set: the port terminates TLS, one entry per server (SNI picks among them; src/tls/). Absent: plain HTTP. */
  tls?: ServerTls[];
  /** Address this port binds to instead of `--bind` (an Istio Gateway server's `bind`). */
  bind?: string;
  /**
   * Set: the port passes TLS through untouched (Istio Gateway `tls.mode: PASSTHROUGH`, a Gateway API TLS listener in
   * Passthrough mode), each connection sent by the SNI of its ClientHello to a VirtualService `tls:` route's or a
   * TLSRoute's destinations (src/proxy/passthrough.ts).
   */
  passthrough?: PassthroughRoute[];
  /**
   * Set: TLSRoutes on Gateway API TLS listeners in Terminate mode. A connection whose SNI they take (more specifically
   * than the port's passthrough routes and HTTP servers) is terminated with its `tls` server (one with `tunnel`, no
   * ALPN) and its decrypted bytes go to the destinations as plain TCP (src/proxy/passthrough.ts).
   */
  tunnel?: PassthroughRoute[];
}

/**
 * A `tls:` route bound to a passthrough server, or a TLSRoute on a TLS listener: SNI names (`*.suffix` wildcards as
 * Istio's hosts) and weighted clusters. No destination: the names are held and their connections refused (a Gateway
 * API listener's hostname its routes do not serve).
 */
export interface PassthroughRoute {
  sniHosts: string[];
  destinations: Array<ClusterRef & { weight: number }>;
  /** `VirtualService ns/name tls[i]`, or `TLSRoute ns/name (Gateway ns/name listener l)` */
  source: string;
}

/** The TLS protocol versions Istio names (`TLS_AUTO` leaves Node's default). */
export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

/**
 * TLS termination of one server (Istio `Gateway` `servers[].tls`, or a Gateway API HTTPS listener): file paths as
 * written, read by src/tls/ when the snapshot is applied, and again whenever the files change.
 */
export interface ServerTls {
  /** SIMPLE: server certificate only; MUTUAL: a client certificate signed by `caCertificates` is required; OPTIONAL_MUTUAL: verified when sent. */
  mode: 'SIMPLE' | 'MUTUAL' | 'OPTIONAL_MUTUAL';
  /** SNI names this server answers, lower-case (`*` and `*.suffix` as Istio's hosts). */
  hosts: string[];
  serverCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  /** A Kubernetes Secret `namespace/name` (Istio's `credentialName`), read from the cluster source. */
  credentialName?: string;
  minProtocolVersion?: TlsVersion;
  maxProtocolVersion?: TlsVersion;
  /** OpenSSL cipher names for TLS 1.2 and below (TLS 1.3 suites are not configurable, as in Envoy). */
  cipherSuites: string[];
  /** Where it was written, for one-line errors and metric labels. */
  source: TlsSource;
  /**
   * A Gateway API TLS listener in Terminate mode: its connections are TCP tunnels (the listener's `tunnel` routes), not
   * HTTP, so no ALPN protocol is negotiated for them.
   */
  tunnel?: boolean;
}

export interface TlsSource {
  /** `Gateway ns/name` */
  resource: string;
  /** `ns/name` of the gateway (metric label). */
  gateway: string;
  /** The server's `name`, else `servers[i]` (metric label). */
  server: string;
  /** Field path of the server's `tls`, e.g. `spec.servers[1].tls`. */
  path: string;
  file?: string;
  line?: number;
}

// ---------------------------------------------------------------------------------------------
// Clusters and endpoints

export type LbPolicy = 'LEAST_REQUEST' | 'ROUND_ROBIN' | 'RANDOM' | 'PASSTHROUGH' | 'CONSISTENT_HASH';

export interface ConsistentHash {
  httpHeaderName?: string;
  httpCookie?: { name: string; path?: string; ttlMs?: number };
  useSourceIp?: boolean;
  httpQueryParameterName?: string;
}

export interface ConnectionPoolSettings {
  /** tcp.maxConnections per endpoint pool (Istio: per cluster; we apply it per endpoint). */
  maxConnections?: number;
  connectTimeoutMs?: number;
  /** http.http1MaxPendingRequests */
  maxPendingRequests?: number;
  /** http.http2MaxRequests: max requests in flight to the cluster. */
  maxRequests?: number;
  maxRequestsPerConnection?: number;
  idleTimeoutMs?: number;
  maxRetries?: number;
  /** http.h2UpgradePolicy: UPGRADE sends HTTP/1.1-port traffic to the endpoints as HTTP/2. */
  h2UpgradePolicy?: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE';
  /** http.maxConcurrentStreams: streams per upstream HTTP/2 connection. */
  maxConcurrentStreams?: number;
}

export interface OutlierDetectionSettings {
  consecutive5xxErrors?: number;
  consecutiveGatewayErrors?: number;
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
  minHealthPercent: number;
}

export interface TrafficPolicy {
  loadBalancer: LbPolicy;
  consistentHash?: ConsistentHash;
  connectionPool: ConnectionPoolSettings;
  outlierDetection?: OutlierDetectionSettings;
  /** TLS origination to the endpoints (absent: plain HTTP). */
  tls?: ClientTls;
}

/** Istio's ClientTLSSettings for SIMPLE and MUTUAL: file paths as written (the upstream module reads them). */
export interface ClientTls {
  mode: 'SIMPLE' | 'MUTUAL';
  caCertificates?: string;
  clientCertificate?: string;
  privateKey?: string;
  /**
   * A Kubernetes Secret `namespace/name` holding the client pair and/or the CA (Istio's `credentialName`; a bare name is
   * the DestinationRule's namespace). Read from the cluster source; without one the cluster has no endpoint (503 UH).
   */
  credentialName?: string;
  /** SNI; when empty, the service host (the name the client asked for, as Istio's auto SNI). */
  sni?: string;
  /** The upstream certificate must carry one of these (DNS, IP or URI SAN); empty: the SNI is verified. */
  subjectAltNames: string[];
  /** No verification of the upstream's certificate at all. */
  insecureSkipVerify: boolean;
}

export interface Endpoint {
  /** IP address or DNS name. */
  address: string;
  port: number;
  labels: Record<string, string>;
  weight: number;
  /** `ServiceEntry ns/name` or `WorkloadEntry ns/name`. */
  source: string;
}

export interface Cluster {
  /** `outbound|port|subset|host` */
  name: string;
  host: string;
  port: number;
  subset: string;
  /** Service namespace (for telemetry labels). */
  namespace: string;
  policy: TrafficPolicy;
  endpoints: Endpoint[];
  /** True when the endpoints are spoken to in HTTP/2 cleartext (Istio's protocol selection: upstream-protocol.ts). */
  http2?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Shadowgate's own settings (not Istio's): kind `MirrorPolicy`, apiVersion `shadowgate.dev/v1alpha1`.

export interface MirrorSettings {
  /** Per-shadow timeout; Istio has none, which lets hung mirrors pile up. */
  timeoutMs: number;
  /** Per-request body bytes a shadow may buffer ahead of its upstream. */
  maxBodyBytes: number;
  /** Total shadow body bytes buffered across all shadows in flight. */
  maxTotalBodyBytes: number;
  /** Shadows in flight across the process. */
  maxInFlight: number;
  /** Envoy's classic `-shadow` Host suffix (off by default, as Istio 1.28+). */
  hostSuffix: boolean;
  /** Header set on every shadow request; empty string disables. */
  markerHeader: string;
}

/** Thresholds of the verdict (spec.compare.thresholds); how they are used: compare/analyze.ts. */
export interface Thresholds {
  /** Diffy's relative threshold: (candidate rate − noise rate) / (candidate rate + noise rate) must exceed it. Default 0.2. */
  relative: number;
  /** Diffy's absolute threshold: candidate rate − noise rate must exceed it. Default 0.0003 (0.03%). */
  absolute: number;
  /** A real difference in more than this share of an endpoint's requests fails it. Default 0.01. */
  maxRealDiffRate: number;
  /** The candidate's error rate (5xx, no answer) may exceed the primary's by at most this. Default 0.01. */
  maxErrorRateIncrease: number;
  /** The candidate's p99 latency may exceed the primary's by at most this ratio (0.2 = 20%)... */
  maxP99LatencyIncrease: number;
  /** ...and by at least this many milliseconds before it fails. Default 50. */
  minP99LatencyIncreaseMs: number;
  /** Compared requests an endpoint needs before its p99 latency is judged (a p99 of fewer is its maximum). Default 100. */
  minSample: number;
  /** One-sided confidence of the intervals that decide PASS and FAIL (Wilson; Newcombe for differences). Default 0.95. */
  confidence: number;
}

/**
 * Comparison of mirrored answers (spec.compare): the one settings type, read from ShadowgateConfig here and
 * compiled by compare/rules.ts. The store and the worker get it from there.
 */
export interface CompareSettings {
  enabled: boolean;
  /** Exchanges waiting for comparison; beyond it they are dropped and counted. */
  queueSize: number;
  /** Exchanges compared per second at most (a sample is enough for a verdict); the rest are counted as skipped. */
  maxPerSecond: number;
  /** Body bytes captured per answer; beyond it only size and hash compare. */
  maxBodyBytes: number;
  /** Header names never compared (added to the built-in set: hop-by-hop, date, server, ...). */
  ignoreHeaders: string[];
  /** Folded paths never compared (`body.meta.generatedAt`, `body.items[*].id`); `*` one segment, `**` any depth. */
  ignoreFields: string[];
  /** Endpoint patterns never compared (`GET /health`, `* /internal/*`). */
  ignoreEndpoints: string[];
  /** Header names whose values are never stored (added to the built-in credentials). */
  redactHeaders: string[];
  /** Folded paths (body fields, same language as ignoreFields) whose values are never stored (added to the built-in secrets). */
  redactFields: string[];
  /** JSON arrays (folded paths) whose order carries no meaning: the same elements in another order are equal. */
  unorderedArrays: string[];
  /** Time-like values (RFC 3339, HTTP dates, epoch s/ms) this close are equal ("time-like, within tolerance"). */
  timeToleranceMs: number;
  /** Distinct endpoints per run; beyond it their exchanges go to one `other` endpoint (counted). */
  maxEndpointsPerRun: number;
  /** Distinct fields per endpoint; beyond it their differences go to one `other` field (counted). */
  maxFieldsPerEndpoint: number;
  thresholds: Thresholds;
  /** gRPC messages decoded with descriptor sets (spec.compare.grpc), compared field by field. */
  grpc: GrpcCompareSettings;
}

/** One FileDescriptorSet (`protoc --descriptor_set_out`), read and checked when the config was loaded. */
export interface GrpcDescriptorSet {
  /** The file, resolved against the config file that names it. */
  file: string;
  /** sha256 of the bytes (hex): a changed file is a changed snapshot. */
  sha256: string;
  /** The bytes, base64: the snapshot stays plain data that freezes, hashes and crosses threads. */
  data: string;
}

export interface GrpcCompareSettings {
  descriptorSets: GrpcDescriptorSet[];
  /** Asks the primary for the descriptors of a method no set describes (gRPC server reflection). Default false. */
  reflection: boolean;
}

/**
 * Reads a descriptor set a ShadowgateConfig names and checks that it decodes. Config is pure: the caller
 * (sources/) does the I/O and the decoding (compare/) and hands the result in.
 */
export type ReadDescriptorSet = (file: string) => { bytes: Uint8Array } | { error: string };

export interface Settings {
  mirror: MirrorSettings;
  compare: CompareSettings;
}

export const DEFAULT_COMPARE_SETTINGS: CompareSettings = Object.freeze({
  enabled: true,
  queueSize: 1_000,
  // A verdict needs a sample, not every exchange: 250 a second is 15,000 a minute, and keeps comparison
  // (capture, the worker thread, SQLite) within a tenth of the gateway's throughput on two cores (bench/).
  maxPerSecond: 250,
  maxBodyBytes: 256 * 1024,
  ignoreHeaders: [],
  ignoreFields: [],
  ignoreEndpoints: [],
  redactHeaders: [],
  redactFields: [],
  unorderedArrays: [],
  // Two versions stamp the same moment a few milliseconds (new pods: seconds) apart.
  timeToleranceMs: 5_000,
  maxEndpointsPerRun: 1_000,
  maxFieldsPerEndpoint: 200,
  grpc: Object.freeze({ descriptorSets: [], reflection: false }),
  // Diffy's defaults for noise (20% relative, 0.03% absolute); the rest are Shadowgate's.
  thresholds: Object.freeze({
    relative: 0.2,
    absolute: 0.0003,
    maxRealDiffRate: 0.01,
    maxErrorRateIncrease: 0.01,
    maxP99LatencyIncrease: 0.2,
    minP99LatencyIncreaseMs: 50,
    minSample: 100,
    confidence: 0.95,
  }),
}) as CompareSettings;

export const DEFAULT_SETTINGS: Settings = Object.freeze({
  compare: DEFAULT_COMPARE_SETTINGS,
  mirror: Object.freeze({
    timeoutMs: 5_000,
    maxBodyBytes: 1024 * 1024,
    maxTotalBodyBytes: 64 * 1024 * 1024,
    maxInFlight: 1_000,
    hostSuffix: false,
    markerHeader: 'x-shadowgate-mirror',
  }),
}) as Settings;

// ---------------------------------------------------------------------------------------------
// The snapshot

export interface ResourceSummary {
  kind: string;
  namespace: string;
  name: string;
  file?: string;
  /** False when an error disabled it. */
  accepted: boolean;
  /** Kubernetes-style status a controller would write (Gateway API kinds: conditions with reasons). */
  status?: Record<string, unknown>;
  /**
   * Gateway API Gateways: per listener name, the Secrets (`ns/name`) its certificateRefs name. `status` assumes them
   * usable (building the config reads no Secret); the status writer checks them (gateway-api withCertificateChecks).
   */
  certificateRefs?: Record<string, string[]>;
  /** Gateway API Gateways: each listener's port; the status writer adds the addresses they are bound to (withAddresses). */
  listenerPorts?: Record<string, number>;
}

export interface Snapshot {
  /** sha256 over the normalized content (not over problems or file positions). */
  hash: string;
  listeners: Listener[];
  clusters: Record<string, Cluster>;
  settings: Settings;
  resources: ResourceSummary[];
  problems: Problem[];
}
