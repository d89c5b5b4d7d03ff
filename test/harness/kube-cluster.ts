// Test harness for the gateway fed by the API-server double: pods as servers on their own loopback addresses,
// the Service/Pod/EndpointSlice objects that put them behind a Service, the gateway started against the double,
// and its log lines to wait on. Shared by the kubernetes-* and gateway-api-kubernetes tests.
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gateway, type GatewayOptions } from '../../src/gateway/index.js';
import { MemoryAccessLog } from '../../src/telemetry/index.js';
import type { FakeKubeApiServer, KObject } from './kube-apiserver.js';

export interface PodRequest {
  url: string;
  mirrored: boolean;
}

export interface PodServer {
  readonly seen: PodRequest[];
  readonly port: number;
  /** Resolves once `check()` holds, looked at after each request (bounded by the test's own timeout). */
  until(check: () => boolean): Promise<void>;
  /** Resolves once n requests have been answered. */
  reached(n: number): Promise<void>;
  close(): Promise<void>;
}

/** A pod's container: answers `body` (default `This is version N` style text given by the caller) to everything. */
export async function podServer(address: string, port: number, body: string): Promise<PodServer> {
  const seen: PodRequest[] = [];
  const changed = new EventEmitter();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ url: req.url ?? '', mirrored: req.headers['x-shadowgate-mirror'] === 'true' });
      res.end(body);
      changed.emit('request');
    });
  });
  server.listen(port, address);
  await once(server, 'listening');
  const until = async (check: () => boolean) => {
    while (!check()) await once(changed, 'request');
  };
  return {
    seen,
    port: (server.address() as AddressInfo).port,
    until,
    reached: (n) => until(() => seen.length >= n),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A Service selecting `labels`, one Pod with them and one ready endpoint at `address:podPort`. */
export function serviceWithPod(
  ns: string,
  name: string,
  labels: Record<string, string>,
  address: string,
  podPort: number,
  servicePort = 8000,
  extra: { clusterIP?: string } = {},
): KObject[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: ns },
      spec: { clusterIP: extra.clusterIP ?? 'None', selector: labels, ports: [{ name: 'http', port: servicePort, targetPort: podPort, protocol: 'TCP' }] },
    },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: `${name}-pod`, namespace: ns, labels } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-x`, namespace: ns, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: podPort, protocol: 'TCP' }],
      endpoints: [
        {
          addresses: [address],
          conditions: { ready: true, serving: true, terminating: false },
          targetRef: { kind: 'Pod', name: `${name}-pod`, namespace: ns },
        },
      ],
    },
  ];
}

/** The Gateway API kinds as the double serves them when a cluster has the standard channel installed. */
export const GATEWAY_API_KINDS = [
  { group: 'gateway.networking.k8s.io', versions: ['v1'], kind: 'GatewayClass', plural: 'gatewayclasses', clusterScoped: true },
  { group: 'gateway.networking.k8s.io', versions: ['v1'], kind: 'Gateway', plural: 'gateways' },
  { group: 'gateway.networking.k8s.io', versions: ['v1'], kind: 'HTTPRoute', plural: 'httproutes' },
  { group: 'gateway.networking.k8s.io', versions: ['v1'], kind: 'GRPCRoute', plural: 'grpcroutes' },
  { group: 'gateway.networking.k8s.io', versions: ['v1'], kind: 'TLSRoute', plural: 'tlsroutes' },
  { group: 'gateway.networking.k8s.io', versions: ['v1beta1'], kind: 'ReferenceGrant', plural: 'referencegrants' },
];

/** Log lines of a gateway, to wait on: `until(/applied/)` resolves with the first line (from `from` on) that matches. */
export class LogLines {
  readonly lines: string[] = [];
  private readonly changed = new EventEmitter();
  readonly log = (line: string): void => {
    this.lines.push(line);
    this.changed.emit('line');
  };

  /** Resolves once `cond()` holds, looked at again after every line (the gateway logs each applied config). */
  async when(cond: () => boolean): Promise<void> {
    while (!cond()) await once(this.changed, 'line');
  }

  async until(re: RegExp, from = 0): Promise<string> {
    for (;;) {
      const hit = this.lines.slice(from).find((l) => re.test(l));
      if (hit !== undefined) return hit;
      await once(this.changed, 'line');
    }
  }
}

/** The gateway on loopback, fed by the double (and no file), with what a test adds. */
export function kubeGateway(
  api: FakeKubeApiServer,
  ns: string,
  opts: { log?: (line: string) => void; kubernetes?: Partial<NonNullable<GatewayOptions['kubernetes']>> } & Partial<Omit<GatewayOptions, 'kubernetes'>> = {},
): Promise<Gateway> {
  const { kubernetes, ...rest } = opts;
  return Gateway.start({
    files: [],
    bind: '127.0.0.1',
    admin: '127.0.0.1:0',
    accessLog: new MemoryAccessLog(),
    watch: false,
    log: () => {},
    ...rest,
    kubernetes: { namespace: ns, kubeconfig: api.kubeConfig(), ...kubernetes },
  });
}
