// Test harness for the Gateway API conformance cases: the suite's three backends and its Gateway, on loopback.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { GatewayOptions } from '../../src/gateway/index.js';
import { freePort, send, startGateway, type TestGateway } from './gateway.js';
import { startUpstream, type TestUpstream } from './upstream.js';

export const NS = 'gateway-conformance-infra';
const FIXTURES = new URL('../../../test/fixtures/gateway-api/', import.meta.url);

/** A conformance test's YAML, as kept in test/fixtures/gateway-api/. */
export function fixture(name: string): string {
  return readFileSync(new URL(`${name}.yaml`, FIXTURES), 'utf8');
}

/**
 * The suite's `infra-backend-v1..v3` Services (port 8080), declared as ServiceEntries that are destinations
 * only (no listener of their own), each answering with `x-upstream: infra-backend-vN`. The gRPC cases' backends
 * change the port's protocol, name and number, and the namespace.
 */
export function backendsYaml(
  backends: ReadonlyArray<{ name: string; port: number }>,
  o: { ns?: string; number?: number; portName?: string; protocol?: string } = {},
): string {
  const { ns = NS, number = 8080, portName = 'http', protocol = 'HTTP' } = o;
  return backends
    .map(
      (b) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${b.name}
  namespace: ${ns}
  annotations: {shadowgate.dev/listen: "false"}
spec:
  hosts: [${b.name}.${ns}.svc.cluster.local]
  ports: [{number: ${number}, name: ${portName}, protocol: ${protocol}}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {${portName}: ${b.port}}}]
`,
    )
    .join('---\n');
}

/** Runs `fn` on a started case whose config loaded without problems but `warnings` (`code path`), then closes it. */
export async function clean<C extends { tg: TestGateway; close(): Promise<void> }>(
  c: C,
  fn: (c: C) => Promise<void>,
  warnings: readonly string[] = [],
): Promise<void> {
  try {
    assert.deepEqual(
      c.tg.gw.snapshot.problems.filter((p) => p.severity !== 'info').map((p) => `${p.code} ${p.path}`),
      warnings,
      'the YAML loads without other problems',
    );
    await fn(c);
  } finally {
    await c.close();
  }
}

/** The suite's `same-namespace` Gateway (conformance/base/manifests.yaml), its port 80 replaced by `port`. */
export function gatewayYaml(port: number, className = 'shadowgate'): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: same-namespace, namespace: ${NS}}
spec:
  gatewayClassName: ${className}
  listeners:
  - name: http
    port: ${port}
    protocol: HTTP
    allowedRoutes:
      namespaces: {from: Same}
`;
}

export interface Conformance {
  port: number;
  tg: TestGateway;
  backends: Record<'v1' | 'v2' | 'v3', TestUpstream>;
  /** Sends a request; the answer's `x-upstream` says which backend served it. */
  get(path: string, init?: { method?: string; headers?: Record<string, string> }): ReturnType<typeof send>;
  close(): Promise<void>;
}

export async function conformance(files: Record<string, string>, opts: Partial<GatewayOptions> = {}): Promise<Conformance> {
  const v1 = await startUpstream('infra-backend-v1');
  const v2 = await startUpstream('infra-backend-v2');
  const v3 = await startUpstream('infra-backend-v3');
  const port = await freePort();
  const tg = await startGateway({ 'backends.yaml': backendsYaml([v1, v2, v3]), 'gateway.yaml': gatewayYaml(port), ...files }, opts);
  return {
    port,
    tg,
    backends: { v1, v2, v3 },
    get: (path, init = {}) => send(port, path, { method: init.method ?? 'GET', headers: { host: 'gateway.example', ...init.headers } }),
    async close() {
      await tg.close();
      await Promise.all([v1.close(), v2.close(), v3.close()]);
    },
  };
}
