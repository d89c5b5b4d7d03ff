// The gateway fed by the Kubernetes API (an API server double) over real sockets: the article's nginx Service
// taken over, pods as upstreams on loopback addresses, a VirtualService switched from route-only to mirror,
// and zero failed client requests across a dropped watch and a relist. Issue 8.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { Gateway } from '../src/gateway/index.js';
import { MemoryAccessLog } from '../src/telemetry/index.js';
import { client, freePort, seededRandom, send } from './harness/gateway.js';
import { FakeKubeApiServer, type KObject } from './harness/kube-apiserver.js';

after(() => client.close());

const NS = 'default';

/** A pod's container: a server on its own loopback address. `reached(n)` resolves once it has answered n requests. */
async function podServer(address: string, port: number, version: string) {
  const seen: Array<{ url: string; mirrored: boolean; at: number }> = [];
  const waiters = new Set<{ n: number; resolve: () => void }>();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ url: req.url ?? '', mirrored: req.headers['x-shadowgate-mirror'] === 'true', at: Date.now() });
      res.end(`This is version ${version}\n`);
      for (const w of waiters) if (seen.length >= w.n) w.resolve();
    });
  });
  server.listen(port, address);
  await once(server, 'listening');
  const own = (server.address() as AddressInfo).port;
  return {
    seen,
    port: own,
    reached(n: number, ms = 5_000): Promise<void> {
      if (seen.length >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const w = {
          n,
          resolve: () => {
            clearTimeout(timer);
            waiters.delete(w);
            resolve();
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`v${version} :${own}: ${seen.length} requests, not ${n}, within ${ms} ms`));
        }, ms);
        waiters.add(w);
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function objects(servicePort: number, podPort: number, mirror: boolean): KObject[] {
  const route: Record<string, unknown> = { route: [{ destination: { host: 'nginx', subset: 'v1' }, weight: 100 }] };
  if (mirror) Object.assign(route, { mirror: { host: 'nginx', subset: 'v2' }, mirror_percent: 100 });
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'nginx', namespace: NS, annotations: { 'shadowgate.dev/backends': 'nginx-backends' } },
      spec: { clusterIP: '10.96.0.10', selector: { 'app.kubernetes.io/name': 'shadowgate' }, ports: [{ name: 'http', port: servicePort, targetPort: servicePort, protocol: 'TCP' }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'nginx-backends', namespace: NS },
      spec: { clusterIP: 'None', selector: { app: 'nginx' }, ports: [{ name: 'http', port: servicePort, targetPort: podPort, protocol: 'TCP' }] },
    },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'nginx-v1-abc', namespace: NS, labels: { app: 'nginx', version: 'v1' } } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'nginx-v2-def', namespace: NS, labels: { app: 'nginx', version: 'v2' } } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'nginx-backends-x1', namespace: NS, labels: { 'kubernetes.io/service-name': 'nginx-backends' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: podPort, protocol: 'TCP' }],
      endpoints: [
        { addresses: ['127.0.0.2'], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', name: 'nginx-v1-abc', namespace: NS } },
        { addresses: ['127.0.0.3'], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', name: 'nginx-v2-def', namespace: NS } },
      ],
    },
    {
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'DestinationRule',
      metadata: { name: 'nginx', namespace: NS },
      spec: { host: 'nginx', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] },
    },
    { apiVersion: 'networking.istio.io/v1alpha3', kind: 'VirtualService', metadata: { name: 'nginx', namespace: NS }, spec: { hosts: ['nginx'], http: [route] } },
  ];
}

async function until(what: string, check: () => boolean, ms = 1_000): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - started;
}

describe('serve --kubernetes', () => {
  it("the article in a cluster: route to v1, then mirror to v2 within a second, no failed request across a dropped watch and a relist", async () => {
    const api = await FakeKubeApiServer.start({ bookmarkIntervalMs: 200 });
    const v1 = await podServer('127.0.0.2', 0, '1');
    const v2 = await podServer('127.0.0.3', v1.port, '2');
    const servicePort = await freePort();
    for (const o of objects(servicePort, v1.port, false)) api.apply(o);
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
        const a = await send(servicePort, '/', { headers: { host: 'nginx' } }).catch((e: Error) => ({ status: 0, body: e.message }));
        sent++;
        if (a.status !== 200) failures.push(`${a.status} ${a.body}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    try {
      assert.equal(gw.isReady(), true);
      await until('traffic flows', () => v1.seen.length >= 20);
      assert.equal(v2.seen.length, 0, 'route-only: v2 gets nothing');

      // kubectl apply the mirroring VirtualService: it reaches routing within a second.
      const switched = Date.now();
      api.apply(objects(servicePort, v1.port, true).find((o) => o.kind === 'VirtualService')!);
      await until('the mirror reaches v2', () => v2.seen.some((r) => r.mirrored && r.at >= switched));

      // A dropped watch connection, then a compaction that forces a relist: routing keeps working.
      api.dropWatches();
      await new Promise((r) => setTimeout(r, 300));
      api.compact();
      api.dropWatches();
      await new Promise((r) => setTimeout(r, 500));
      // A pod relabelled to v3 leaves the v2 subset: the mirror stops reaching it.
      api.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'nginx-v2-def', namespace: NS, labels: { app: 'nginx', version: 'v3' } } });
      await until(
        'the relabelled pod leaves subset v2',
        () => Object.values(gw.snapshot.clusters).find((c) => c.subset === 'v2')?.endpoints.length === 0,
        5_000,
      );
      const before = v2.seen.length;
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(v2.seen.length - before <= 1, `v2 relabelled away still got ${v2.seen.length - before} mirrors`);
      stop = true;
      await load;
      assert.ok(sent > 100, `sent ${sent}`);
      assert.deepEqual(failures, []);
      // Whether the cut watch resumes below the compaction (410, relist) depends on timing; the 410 → relist
      // path itself is asserted in kubernetes-source.test.ts. Here what matters is zero failed requests.
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

describe('serve --kubernetes: endpoints that share an IP (issue 21)', () => {
  const IP = '127.0.0.2';
  const sliceOf = (name: string, podName: string, port: number, ready = true): KObject => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: NS, labels: { 'kubernetes.io/service-name': 'nginx-backends' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: [{ addresses: [IP], conditions: { ready, serving: ready, terminating: false }, targetRef: { kind: 'Pod', name: podName, namespace: NS } }],
  });

  for (const targetPort of ['numeric', 'named'] as const) {
    it(`v1 and v2 on one IP, different ports, two EndpointSlices: routed and mirrored apart; a third endpoint shares; ready: false drops only it (${targetPort} targetPort)`, async () => {
      const api = await FakeKubeApiServer.start({ bookmarkIntervalMs: 200 });
      const v1a = await podServer(IP, 0, '1');
      const v2 = await podServer(IP, 0, '2');
      const v1b = await podServer(IP, 0, '1');
      const servicePort = await freePort();
      for (const o of objects(servicePort, v1a.port, true)) {
        if (o.kind === 'EndpointSlice') continue;
        if (o.metadata?.name === 'nginx-backends' && targetPort === 'named') {
          (o.spec as { ports: Array<Record<string, unknown>> }).ports[0]!.targetPort = 'http-web';
        }
        api.apply(o);
      }
      api.apply(sliceOf('nginx-backends-a', 'nginx-v1-abc', v1a.port));
      api.apply(sliceOf('nginx-backends-b', 'nginx-v2-def', v2.port));
      const gw = await Gateway.start({
        files: [],
        bind: '127.0.0.1',
        admin: '127.0.0.1:0',
        accessLog: new MemoryAccessLog(),
        watch: false,
        log: () => {},
        random: seededRandom(7),
        kubernetes: { namespace: NS, kubeconfig: api.kubeConfig() },
      });
      const endpointsOf = (subset: string) =>
        (Object.values(gw.snapshot.clusters).find((c) => c.subset === subset)?.endpoints ?? []).map((e) => `${e.address}:${e.port}`).sort();
      const burst = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const a = await send(servicePort, `/r${i}`, { headers: { host: 'nginx' } });
          assert.equal(a.status, 200, a.body);
          assert.equal(a.body, 'This is version 1\n');
        }
      };
      try {
        assert.equal(gw.isReady(), true);
        assert.deepEqual(endpointsOf('v1'), [`${IP}:${v1a.port}`]);
        assert.deepEqual(endpointsOf('v2'), [`${IP}:${v2.port}`]);

        // Routed to v1, every request mirrored to v2 (on the same IP).
        await burst(20);
        await v2.reached(20);
        assert.equal(v1a.seen.length, 20);
        assert.ok(v1a.seen.every((r) => !r.mirrored));
        assert.ok(v2.seen.every((r) => r.mirrored));

        // A third endpoint on the same IP joins subset v1 and gets its share.
        api.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'nginx-v1-ghi', namespace: NS, labels: { app: 'nginx', version: 'v1' } } });
        api.apply(sliceOf('nginx-backends-c', 'nginx-v1-ghi', v1b.port));
        await until('the third endpoint in v1', () => endpointsOf('v1').length === 2, 5_000);
        await burst(40);
        await v2.reached(60);
        assert.equal(v1a.seen.length + v1b.seen.length, 60);
        assert.ok(v1b.seen.length >= 5, `the third endpoint got ${v1b.seen.length} of 40`);
        assert.ok(v1a.seen.length >= 25, `the first endpoint got ${v1a.seen.length - 20} of 40`);

        // ready: false on the first: only it leaves; v1b serves, v2 still gets every copy.
        api.apply(sliceOf('nginx-backends-a', 'nginx-v1-abc', v1a.port, false));
        await until('the not-ready endpoint gone', () => endpointsOf('v1').length === 1, 5_000);
        assert.deepEqual(endpointsOf('v1'), [`${IP}:${v1b.port}`]);
        assert.deepEqual(endpointsOf('v2'), [`${IP}:${v2.port}`]);
        const [a, b] = [v1a.seen.length, v1b.seen.length];
        await burst(20);
        await v2.reached(80);
        assert.equal(v1a.seen.length, a, 'the not-ready endpoint gets nothing');
        assert.equal(v1b.seen.length, b + 20);
      } finally {
        await gw.shutdown();
        await v1a.close();
        await v1b.close();
        await v2.close();
        await api.close();
      }
    });
  }
});
