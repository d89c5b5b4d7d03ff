// Test harness: the YAML templates of the tests and benches. A ServiceEntry on loopback with its DestinationRule, and
// the mirroring one built on it: v1 and v2 endpoints, subsets by `version`, a VirtualService routing to v1 and
// mirroring to v2, optionally the ShadowgateConfig's `compare` settings. Pure text: no sockets, no files.

/** The parts of a ServiceEntry (STATIC, one port) and its DestinationRule, each part's YAML text as it stands in the file. */
export interface ServiceEntryParts {
  host: string;
  port: number;
  portName: string;
  protocol?: string;
  /** The `endpoints:` items, indented two spaces. */
  endpoints: string;
  /** The DestinationRule's spec after `host:` (subsets, traffic policy), indented two spaces. */
  rule: string;
}

export function serviceEntryYaml(s: ServiceEntryParts): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${s.host}}
spec:
  hosts: [${s.host}]
  ports: [{number: ${s.port}, name: ${s.portName}${s.protocol ? `, protocol: ${s.protocol}` : ''}}]
  resolution: STATIC
  endpoints:
${s.endpoints}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${s.host}}
spec:
  host: ${s.host}
${s.rule}`;
}

export interface MirrorServiceOptions {
  /** The service's name: the ServiceEntry's host and every resource's name. */
  host: string;
  /** The service port (the gateway listens on it). */
  port: number;
  /** The port's name; Istio reads the protocol from its prefix (`http`, `grpc-…`, `http2-…`). Default `http`. */
  portName?: string;
  /** An explicit `protocol` on the port (`HTTP`, `HTTP2`); default none (the name says it). */
  protocol?: string;
  /** The v1 endpoint's port (the primary). */
  primary: number;
  /** The v2 endpoint's port (the candidate). */
  candidate: number;
  /** Labels of both endpoints besides `version` (e.g. `{app: web}` for Istio's destination_app). */
  labels?: Record<string, string>;
  /** A subset's `trafficPolicy.connectionPool` (YAML flow text), by subset name. */
  connectionPool?: Partial<Record<string, string>>;
  /** The route's name (none by default). */
  routeName?: string;
  /** The subsets the route mirrors to: one is written as `mirror:`, several as `mirrors:`, none as no mirror. Default `['v2']`. */
  mirrors?: readonly string[];
  /** The route's `mirrorPercentage` (absent by default: Istio mirrors all). */
  mirrorPercent?: number;
  /** More fields of the route (retries, headers), each line indented four spaces as it stands in the file. */
  routeExtra?: string;
  /** A ShadowgateConfig with these lines under `spec.compare`, each indented four spaces as it stands in the file. */
  compare?: string;
}

const flow = (labels: Record<string, string>) =>
  `{${Object.entries(labels)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ')}}`;

/**
 * The mirroring service's YAML. Endpoints and subsets are one flow-style line each, the single mirror one `mirror:`
 * line: compare-runs.test.ts edits those lines to add a v3, so keep their shape.
 */
export function mirrorServiceYaml(o: MirrorServiceOptions): string {
  const portName = o.portName ?? 'http';
  const versions: [string, number][] = [
    ['v1', o.primary],
    ['v2', o.candidate],
  ];
  const endpoints = versions
    .map(([v, port]) => `  - {address: 127.0.0.1, ports: {${portName}: ${port}}, labels: ${flow({ ...o.labels, version: v })}}`)
    .join('\n');
  const subsets = versions
    .map(([v]) => {
      const pool = o.connectionPool?.[v];
      return `{name: ${v}, labels: {version: ${v}}${pool ? `, trafficPolicy: {connectionPool: ${pool}}` : ''}}`;
    })
    .join(', ');
  const mirrors = o.mirrors ?? ['v2'];
  let route = `  - ${o.routeName ? `name: ${o.routeName}\n    ` : ''}route: [{destination: {host: ${o.host}, subset: v1}}]\n`;
  if (mirrors.length === 1) route += `    mirror: {host: ${o.host}, subset: ${mirrors[0]}}\n`;
  else if (mirrors.length > 1) route += `    mirrors:\n${mirrors.map((m) => `    - {destination: {host: ${o.host}, subset: ${m}}}\n`).join('')}`;
  if (o.mirrorPercent !== undefined) route += `    mirrorPercentage: {value: ${o.mirrorPercent}}\n`;
  route += o.routeExtra ?? '';
  const compare =
    o.compare === undefined
      ? ''
      : `---
apiVersion: shadowgate.dev/v1alpha1
kind: ShadowgateConfig
metadata: {name: shadowgate}
spec:
  compare:
${o.compare}`;
  const service = serviceEntryYaml({ host: o.host, port: o.port, portName, protocol: o.protocol, endpoints, rule: `  subsets: [${subsets}]\n` });
  return `${service}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${o.host}}
spec:
  hosts: [${o.host}]
  http:
${route}${compare}`;
}
