// Gateway API from the cluster (an API server double) over real sockets: a Gateway and an HTTPRoute (or a GRPCRoute)
// watched, the route gaining a RequestMirror reaches traffic, no client request fails; the GRPCRoute's status written;
// a TLSRoute watched, passed through by SNI, its status written, a change of backend reaching new connections.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { makeCa, opensslMissing } from './harness/certs.js';
import { client, freePort, send } from './harness/gateway.js';
import { grpc } from './harness/grpc.js';
import { callEcho, ECHO_SERVICE, startEchoBackend } from './harness/grpc-conformance.js';
import { httpsUpstream } from './harness/https-upstream.js';
import { FakeKubeApiServer, type KObject } from './harness/kube-apiserver.js';
import { GATEWAY_API_KINDS, kubeGateway, podServer, serviceWithPod } from './harness/kube-cluster.js';
import { fingerprintOf, tlsGet } from './harness/tls-client.js';

after(() => client.close());

const NS = 'default';

/** A version's pod answers its own address; its Service selects `app: nginx, version`. */
const versionService = (name: string, version: string, podPort: number, address: string) =>
  serviceWithPod(NS, name, { app: 'nginx', version }, address, podPort);

/** The Gateway `edge` of class shadowgate with one listener. */
const edgeGateway = (listener: Record<string, unknown>): KObject => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: { name: 'edge', namespace: NS },
  spec: { gatewayClassName: 'shadowgate', listeners: [listener] },
});

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

describe('serve --kubernetes with the Gateway API', { timeout: 120_000 }, () => {
  it('a Gateway and an HTTPRoute from the cluster serve traffic; adding a RequestMirror reaches v2, no request fails', async (t) => {
    const api = await FakeKubeApiServer.start({ bookmarkIntervalMs: 200, extraKinds: GATEWAY_API_KINDS });
    const v1 = await podServer('127.0.0.2', 0, '127.0.0.2\n');
    const v2 = await podServer('127.0.0.3', v1.port, '127.0.0.3\n');
    const port = await freePort();
    for (const o of [...versionService('nginx-v1', 'v1', v1.port, '127.0.0.2'), ...versionService('nginx-v2', 'v2', v1.port, '127.0.0.3')]) api.apply(o);
    api.apply(edgeGateway({ name: 'http', port, protocol: 'HTTP' }));
    api.apply(httpRoute(false));
    const gw = await kubeGateway(api, NS);
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

function grpcRoute(mirror: boolean, generation: number): KObject {
  const rule: Record<string, unknown> = {
    matches: [{ method: { service: ECHO_SERVICE } }],
    backendRefs: [{ name: 'echo-v1', port: 8000 }],
  };
  if (mirror) rule.filters = [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'echo-v2', port: 8000 } } }];
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'GRPCRoute',
    metadata: { name: 'echo', namespace: NS, generation, creationTimestamp: '2026-11-01T00:00:00Z' },
    spec: { parentRefs: [{ name: 'edge' }], hostnames: ['echo.example.com'], rules: [rule] },
  };
}

describe('serve --kubernetes with a GRPCRoute', { timeout: 120_000 }, () => {
  it('is watched and served over HTTP/2 to Services without appProtocol; its status is written; a RequestMirror added reaches v2', async () => {
    const api = await FakeKubeApiServer.start({ bookmarkIntervalMs: 200, extraKinds: GATEWAY_API_KINDS });
    // Pods on their own loopback addresses; their Services' ports are named "http" (no appProtocol): HTTP/2 is
    // inferred from the route's kind.
    const v1 = await startEchoBackend('echo-v1', '127.0.0.2');
    const v2 = await startEchoBackend('echo-v2', '127.0.0.3');
    for (const o of [
      ...serviceWithPod(NS, 'echo-v1', { app: 'echo', version: 'v1' }, '127.0.0.2', v1.port),
      ...serviceWithPod(NS, 'echo-v2', { app: 'echo', version: 'v2' }, '127.0.0.3', v2.port),
    ])
      api.apply(o);
    const port = await freePort();
    api.apply(edgeGateway({ name: 'http', port, protocol: 'HTTP' }));
    api.apply(grpcRoute(false, 1));
    const gw = await kubeGateway(api, NS);
    type Parent = { controllerName: string; conditions: Array<{ type: string; status: string; observedGeneration: number }> };
    const routeStatus = () => (api.get('GRPCRoute', NS, 'echo')?.status as { parents?: Parent[] } | undefined)?.parents ?? [];
    const listener = () =>
      (api.get('Gateway', NS, 'edge')?.status as { listeners?: Array<{ attachedRoutes: number; supportedKinds: unknown }> } | undefined)?.listeners?.[0];
    try {
      assert.equal(gw.isReady(), true);
      assert.deepEqual(
        gw.snapshot.problems.filter((p) => p.severity !== 'info'),
        [],
      );
      for (let i = 0; i < 5; i++) assert.equal((await callEcho(port, 'Echo', 'echo.example.com')).backend, 'echo-v1');
      assert.equal(v2.calls.length, 0, 'route only: v2 gets nothing');
      // Status written to the GRPCRoute's status subresource, as a controller does, and the listener counts it.
      await api.until(() => routeStatus()[0]?.conditions.every((c) => c.status === 'True'));
      assert.deepEqual(
        routeStatus().map((p) => [p.controllerName, p.conditions.map((c) => `${c.type}=${c.status}@${c.observedGeneration}`)]),
        [['shadowgate.dev/gateway-controller', ['Accepted=True@1', 'ResolvedRefs=True@1']]],
      );
      await api.until(() => listener()?.attachedRoutes === 1);
      assert.ok(api.statusWrites.some((w) => w.kind === 'GRPCRoute' && w.answered === 200));

      api.apply(grpcRoute(true, 2));
      // Calls go on until the new route is served (its status says generation 2); the next call's copy reaches v2.
      const served = () => gw.snapshot.resources.some((r) => r.kind === 'GRPCRoute' && JSON.stringify(r.status).includes('"observedGeneration":2'));
      let calls = 0;
      for (;;) {
        const switched = served();
        const a = await callEcho(port, 'Echo', 'echo.example.com');
        calls++;
        assert.equal(a.code, grpc.status.OK, a.details);
        assert.equal(a.backend, 'echo-v1', 'the caller only ever sees the primary');
        if (switched) break;
      }
      await v2.waitForCalls(1);
      assert.ok(calls > 0);
      assert.equal(v2.calls[0]!.metadata['x-shadowgate-mirror'], 'true');
      await api.until(() => routeStatus()[0]?.conditions.every((c) => c.observedGeneration === 2));
    } finally {
      await gw.shutdown();
      v1.close();
      v2.close();
      await api.close();
    }
  });
});

function tlsRoute(backend: string, generation: number): KObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'TLSRoute',
    metadata: { name: 'secure', namespace: NS, generation, creationTimestamp: '2026-11-01T00:00:00Z' },
    spec: { parentRefs: [{ name: 'edge', sectionName: 'tls' }], hostnames: ['secure.example.com'], rules: [{ backendRefs: [{ name: backend, port: 443 }] }] },
  };
}

describe('serve --kubernetes with a TLSRoute', { timeout: 120_000, skip: opensslMissing() }, () => {
  it('is watched and passed through by SNI to its Service; its status is written; a new backend takes new connections', async () => {
    const certs = makeCa();
    certs.issue('tls-v1', 'tls-v1', ['DNS:secure.example.com']);
    certs.issue('tls-v2', 'tls-v2', ['DNS:secure.example.com']);
    const ca = readFileSync(certs.path('ca.crt'));
    const v1 = await httpsUpstream(certs, 'tls-v1', false);
    const v2 = await httpsUpstream(certs, 'tls-v2', false);
    const api = await FakeKubeApiServer.start({ bookmarkIntervalMs: 200, extraKinds: GATEWAY_API_KINDS });
    for (const o of [
      ...serviceWithPod(NS, 'tls-v1', { app: 'tls', version: 'v1' }, '127.0.0.1', v1.port, 443),
      ...serviceWithPod(NS, 'tls-v2', { app: 'tls', version: 'v2' }, '127.0.0.1', v2.port, 443),
    ])
      api.apply(o);
    const port = await freePort();
    api.apply(edgeGateway({ name: 'tls', port, protocol: 'TLS', hostname: '*.example.com', tls: { mode: 'Passthrough' } }));
    api.apply(tlsRoute('tls-v1', 1));
    const gw = await kubeGateway(api, NS);
    type Parent = { controllerName: string; conditions: Array<{ type: string; status: string; observedGeneration: number }> };
    const routeStatus = () => (api.get('TLSRoute', NS, 'secure')?.status as { parents?: Parent[] } | undefined)?.parents ?? [];
    const listener = () =>
      (api.get('Gateway', NS, 'edge')?.status as { listeners?: Array<{ attachedRoutes: number; supportedKinds: Array<{ kind: string }> }> } | undefined)
        ?.listeners?.[0];
    try {
      assert.equal(gw.isReady(), true);
      assert.deepEqual(
        gw.snapshot.problems.filter((p) => p.severity !== 'info'),
        [],
      );
      const a = await tlsGet(port, 'secure.example.com', ca);
      assert.equal(a.body, 'tls-v1 over TLS', a.error);
      assert.equal(a.fingerprint, fingerprintOf(certs, 'tls-v1'));
      await api.until(() => routeStatus()[0]?.conditions.every((c) => c.status === 'True'));
      assert.deepEqual(
        routeStatus().map((p) => [p.controllerName, p.conditions.map((c) => `${c.type}=${c.status}@${c.observedGeneration}`)]),
        [['shadowgate.dev/gateway-controller', ['Accepted=True@1', 'ResolvedRefs=True@1']]],
      );
      await api.until(() => listener()?.attachedRoutes === 1);
      assert.deepEqual(
        listener()!.supportedKinds.map((k) => k.kind),
        ['TLSRoute'],
      );
      assert.ok(api.statusWrites.some((w) => w.kind === 'TLSRoute' && w.answered === 200));

      api.apply(tlsRoute('tls-v2', 2));
      // Connections go on to v1 until the new route is served (its status says generation 2); the next one reaches v2.
      const served = () => gw.snapshot.resources.some((r) => r.kind === 'TLSRoute' && JSON.stringify(r.status).includes('"observedGeneration":2'));
      for (;;) {
        const switched = served();
        const b = await tlsGet(port, 'secure.example.com', ca);
        assert.equal(b.error, undefined);
        if (switched) {
          assert.equal(b.body, 'tls-v2 over TLS');
          assert.equal(b.fingerprint, fingerprintOf(certs, 'tls-v2'));
          break;
        }
      }
      assert.equal(v2.seen.at(-1)!.sni, 'secure.example.com');
      await api.until(() => routeStatus()[0]?.conditions.every((c) => c.observedGeneration === 2));
    } finally {
      await gw.shutdown();
      await v1.close();
      await v2.close();
      await api.close();
      certs.remove();
    }
  });
});

describe('serve --kubernetes with the Gateway API, not allowed to read it', () => {
  it('a Role without the Gateway API kinds (403) does not hold readiness back: those kinds count as not served', async () => {
    const api = await FakeKubeApiServer.start({ extraKinds: GATEWAY_API_KINDS });
    for (const kind of ['GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'ReferenceGrant']) api.failNext(100_000, 403, { kind });
    const gw = await kubeGateway(api, NS);
    try {
      assert.equal(gw.isReady(), true);
      const kinds = (gw.configDump() as { kubernetes: Array<{ kind: string; served: boolean; synced: boolean }> }).kubernetes;
      for (const kind of ['GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'ReferenceGrant']) {
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
