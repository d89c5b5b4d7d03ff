// Gateway API from the cluster (an API server double) over real sockets: a Gateway and an HTTPRoute watched,
// the route gaining a RequestMirror reaches traffic, no client request fails.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { Gateway } from '../src/gateway/index.js';
import { MemoryAccessLog } from '../src/telemetry/index.js';
import { client, freePort, send } from './harness/gateway.js';
import { FakeKubeApiServer, type KObject } from './harness/kube-apiserver.js';

after(() => client.close());

const NS = 'default';

async function pod(address: string, port: number) {
  const seen: Array<{ url: string; mirrored: boolean }> = [];
  const waiters: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ url: req.url ?? '', mirrored: req.headers['x-shadowgate-mirror'] === 'true' });
      for (const w of waiters.splice(0)) w();
      res.end(`${address}\n`);
    });
  });
  server.listen(port, address);
  await once(server, 'listening');
  return {
    seen,
    port: (server.address() as AddressInfo).port,
    /** Resolves on the next request that satisfies `check` (event-driven, bounded by the test's timeout). */
    async until(check: () => boolean): Promise<void> {
      while (!check()) await new Promise<void>((r) => waiters.push(r));
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function service(name: string, version: string, podPort: number, address: string): KObject[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: NS },
      spec: { clusterIP: 'None', selector: { app: 'nginx', version }, ports: [{ name: 'http', port: 8000, targetPort: podPort, protocol: 'TCP' }] },
    },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: `${name}-pod`, namespace: NS, labels: { app: 'nginx', version } } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-x`, namespace: NS, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: podPort, protocol: 'TCP' }],
      endpoints: [
        {
          addresses: [address],
          conditions: { ready: true, serving: true, terminating: false },
          targetRef: { kind: 'Pod', name: `${name}-pod`, namespace: NS },
        },
      ],
    },
  ];
}

function httpRoute(mirror: boolean): KObject {
  const rule: Record<string, unknown> = { backendRefs: [{ name: 'nginx-v1', port: 8000 }] };
  if (mirror) rule.filters = [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'nginx-v2', port: 8000 } } }];
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'nginx', namespace: NS, creationTimestamp: '2026-11-01T00:00:00Z' },
    spec: { parentRefs: [{ name: 'edge' }], hostnames: ['nginx.example.com'], rules: [rule] },
  };
}

describe('serve --kubernetes with the Gateway API', () => {
  it('a Gateway and an HTTPRoute from the cluster serve traffic; adding a RequestMirror reaches v2, no request fails', async (t) => {
    const api = await FakeKubeApiServer.start({
      bookmarkIntervalMs: 200,
      extraKinds: [
        { group: 'gateway.networking.k8s.io', versions: ['v1'], kind: 'Gateway', plural: 'gateways' },
        { group: 'gateway.networking.k8s.io', versions: ['v1'], kind: 'HTTPRoute', plural: 'httproutes' },
        { group: 'gateway.networking.k8s.io', versions: ['v1beta1'], kind: 'ReferenceGrant', plural: 'referencegrants' },
      ],
    });
    const v1 = await pod('127.0.0.2', 0);
    const v2 = await pod('127.0.0.3', v1.port);
    const port = await freePort();
    for (const o of [...service('nginx-v1', 'v1', v1.port, '127.0.0.2'), ...service('nginx-v2', 'v2', v1.port, '127.0.0.3')]) api.apply(o);
    api.apply({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'edge', namespace: NS },
      spec: { gatewayClassName: 'shadowgate', listeners: [{ name: 'http', port, protocol: 'HTTP' }] },
    });
    api.apply(httpRoute(false));
    const gw = await Gateway.start({
      files: [],
      bind: '127.0.0.1',
      admin: '127.0.0.1:0',
      accessLog: new MemoryAccessLog(),
      watch: false,
      log: () => {},
      kubernetes: { namespace: NS, kubeconfig: api.kubeConfig() },
    });
    let stop = false;
    const failures: string[] = [];
    let sent = 0;
    const load = (async () => {
      while (!stop) {
        const a = await send(port, '/', { headers: { host: 'nginx.example.com' } }).catch((e: Error) => ({ status: 0, body: e.message }));
        sent++;
        if (a.status !== 200) failures.push(`${a.status} ${a.body}`);
      }
    })();
    try {
      assert.equal(gw.isReady(), true);
      assert.deepEqual(
        gw.snapshot.problems.filter((p) => p.severity !== 'info'),
        [],
      );
      await v1.until(() => v1.seen.length >= 20);
      assert.equal(v2.seen.length, 0, 'route only: v2 gets nothing');
      const route = gw.snapshot.resources.find((r) => r.kind === 'HTTPRoute')!;
      assert.equal(JSON.stringify(route.status).includes('"reason":"Accepted"'), true);

      const switched = performance.now();
      api.apply(httpRoute(true));
      await v2.until(() => v2.seen.some((r) => r.mirrored));
      // Reported, not asserted (no latency assertions): the watch and a 50 ms debounce, typically well under a second.
      t.diagnostic(`the route change reached traffic after ${(performance.now() - switched).toFixed(0)} ms`);
      stop = true;
      await load;
      assert.ok(sent > 20, `sent ${sent}`);
      assert.deepEqual(failures, []);
    } finally {
      stop = true;
      await load;
      await gw.shutdown();
      await v1.close();
      await v2.close();
      await api.close();
    }
  });
});

describe('serve --kubernetes with the Gateway API, not allowed to read it', () => {
  it('a Role without the Gateway API kinds (403) does not hold readiness back: those kinds count as not served', async () => {
    const api = await FakeKubeApiServer.start({
      extraKinds: [
        { group: 'gateway.networking.k8s.io', versions: ['v1'], kind: 'Gateway', plural: 'gateways' },
        { group: 'gateway.networking.k8s.io', versions: ['v1'], kind: 'HTTPRoute', plural: 'httproutes' },
        { group: 'gateway.networking.k8s.io', versions: ['v1beta1'], kind: 'ReferenceGrant', plural: 'referencegrants' },
      ],
    });
    for (const kind of ['Gateway', 'HTTPRoute', 'ReferenceGrant']) api.failNext(100_000, 403, { kind });
    const gw = await Gateway.start({
      files: [],
      bind: '127.0.0.1',
      admin: '127.0.0.1:0',
      accessLog: new MemoryAccessLog(),
      watch: false,
      log: () => {},
      kubernetes: { namespace: NS, kubeconfig: api.kubeConfig() },
    });
    try {
      assert.equal(gw.isReady(), true);
      const kinds = (gw.configDump() as { kubernetes: Array<{ kind: string; served: boolean; synced: boolean }> }).kubernetes;
      for (const kind of ['Gateway', 'HTTPRoute', 'ReferenceGrant']) {
        assert.deepEqual(
          kinds.filter((k) => k.kind === kind).map((k) => [k.served, k.synced]),
          [[false, true]],
          kind,
        );
      }
    } finally {
      await gw.shutdown();
      await api.close();
    }
  });
});
