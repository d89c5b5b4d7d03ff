// Flagger drives Shadowgate (issue 13): the objects Flagger's Istio router and Service controller write for a
// Canary (pkg/router/istio.go, kubernetes_default.go) served by the API-server double, through a mirrored
// rollout's phases — initialised, mirror pre-stage (`mirror` + `mirrorPercentage`, canary weight 0), 10% and
// 50% weights, promotion (the primary Deployment rolled to the new version), finalised — with clients sending
// requests all along and not one failing.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { Gateway } from '../src/gateway/index.js';
import { MemoryAccessLog } from '../src/telemetry/index.js';
import { scrape, select, total } from './harness/exposition.js';
import { client, freePort, send } from './harness/gateway.js';
import { FakeKubeApiServer, type KObject } from './harness/kube-apiserver.js';
import { waitFor } from './harness/wait.js';

after(() => client.close());

const NS = 'test';

/** A pod's container on its own loopback address; every pod listens on the same port, as pods do. */
async function pod(address: string, port: number, version: string) {
  const seen: Array<{ mirrored: boolean }> = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ mirrored: req.headers['x-shadowgate-mirror'] === 'true' });
      res.end(`podinfo ${version}\n`);
    });
  });
  server.listen(port, address);
  await once(server, 'listening');
  return {
    address,
    version,
    seen,
    port: (server.address() as AddressInfo).port,
    /** A terminating pod: finishes what it serves, then exits (keep-alive connections closed when idle). */
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      await closed;
    },
  };
}
type Pod = Awaited<ReturnType<typeof pod>>;

/** A pod of a Deployment: generated name, ReplicaSet owner, pod-template-hash, as the ReplicaSet controller makes it. */
function podObject(deployment: string, hash: string, suffix: string, app: string): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${deployment}-${hash}-${suffix}`,
      generateName: `${deployment}-${hash}-`,
      namespace: NS,
      labels: { app, 'pod-template-hash': hash },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${deployment}-${hash}`, uid: `rs-${hash}`, controller: true, blockOwnerDeletion: true },
      ],
    },
  };
}

interface SliceEndpoint {
  pod: Pod;
  name: string;
  terminating?: boolean;
}

/** The EndpointSlice the EndpointSlice controller keeps for a Service. */
function slice(service: string, port: number, endpoints: SliceEndpoint[]): KObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${service}-abc12`, namespace: NS, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: endpoints.map((e) => ({
      addresses: [e.pod.address],
      conditions: { ready: !e.terminating, serving: true, terminating: e.terminating ?? false },
      targetRef: { kind: 'Pod', name: e.name, namespace: NS },
    })),
  };
}

/** Flagger's Services: the apex `podinfo` and `podinfo-primary` select the primary pods, `podinfo-canary` the canary's. */
function service(name: string, app: string, port: number): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NS, labels: { app: name } },
    spec: { type: 'ClusterIP', selector: { app }, ports: [{ name: 'http', port, targetPort: 'http', protocol: 'TCP' }] },
  };
}

/**
 * Flagger reconciles the apex Service `podinfo` (its selector points at the primary pods), so a takeover of it
 * would be undone: clients call `podinfo-gateway`, a Service of the user's, taken over by Shadowgate. Its
 * backends (used only when no VirtualService names the host) are a headless Service of their own: a Service
 * named as backends is no destination of its own, and the VirtualService routes to `podinfo-primary` by name.
 */
function gatewayServices(port: number): KObject[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'podinfo-gateway', namespace: NS, annotations: { 'shadowgate.dev/backends': 'podinfo-gateway-backends' } },
      spec: { type: 'ClusterIP', selector: { 'app.kubernetes.io/name': 'shadowgate' }, ports: [{ name: 'http', port, targetPort: port, protocol: 'TCP' }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'podinfo-gateway-backends', namespace: NS },
      spec: { clusterIP: 'None', selector: { app: 'podinfo-primary' }, ports: [{ name: 'http', port, targetPort: 'http', protocol: 'TCP' }] },
    },
  ];
}

/** The primary pods are endpoints of three Services: the apex, `-primary` and the gateway's backends. */
function primarySlices(podPort: number, endpoints: SliceEndpoint[]): KObject[] {
  return ['podinfo', 'podinfo-primary', 'podinfo-gateway-backends'].map((s) => slice(s, podPort, endpoints));
}
const shadowgatePod: KObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'shadowgate-0', namespace: NS, labels: { 'app.kubernetes.io/name': 'shadowgate' } },
};

/** Flagger's DestinationRules: one per host, the Canary's trafficPolicy (none here). */
function destinationRule(host: string): KObject {
  return { apiVersion: 'networking.istio.io/v1beta1', kind: 'DestinationRule', metadata: { name: host, namespace: NS }, spec: { host } };
}

/** Flagger's VirtualService for the apex host, as SetRoutes writes it. */
function virtualService(primaryWeight: number, canaryWeight: number, mirror: boolean): KObject {
  const route: Record<string, unknown> = {
    route: [
      { destination: { host: 'podinfo-primary' }, weight: primaryWeight },
      { destination: { host: 'podinfo-canary' }, weight: canaryWeight },
    ],
  };
  if (mirror) Object.assign(route, { mirror: { host: 'podinfo-canary' }, mirrorPercentage: { value: 100 } });
  return {
    apiVersion: 'networking.istio.io/v1beta1',
    kind: 'VirtualService',
    metadata: { name: 'podinfo', namespace: NS },
    // The Canary's `service.hosts: [podinfo-gateway]` comes first, then the apex host Flagger appends.
    spec: { hosts: ['podinfo-gateway', 'podinfo'], gateways: ['mesh'], http: [route] },
  };
}

/** Re-checks `check` (answers counted by the load, the served snapshot) at each turn of the event loop until it holds. */
async function until(what: string, check: () => boolean): Promise<void> {
  await waitFor(check, Boolean, { what });
}

describe('Flagger with provider: istio, on Shadowgate', () => {
  it("mirror pre-stage, 10% → 50%, promotion, finalised: routed as Istio would, zero failed requests, the canary in Flagger's metrics", {
    timeout: 60_000,
  }, async () => {
    const api = await FakeKubeApiServer.start({ bookmarkIntervalMs: 200 });
    const primaryV1 = await pod('127.0.0.2', 0, 'v1');
    const podPort = primaryV1.port;
    const canaryV2 = await pod('127.0.0.3', podPort, 'v2');
    const primaryV2 = await pod('127.0.0.4', podPort, 'v2');
    const port = await freePort();
    const oldPrimary = { pod: primaryV1, name: 'podinfo-primary-6b7c8d-aaaaa' };
    const canary = { pod: canaryV2, name: 'podinfo-5f4e3d-bbbbb' };
    const newPrimary = { pod: primaryV2, name: 'podinfo-primary-5f4e3d-ccccc' };

    // Initialized: the primary Deployment runs v1, the canary is scaled to zero, all traffic to the primary.
    for (const o of [
      ...gatewayServices(port),
      shadowgatePod,
      service('podinfo', 'podinfo-primary', port),
      service('podinfo-primary', 'podinfo-primary', port),
      service('podinfo-canary', 'podinfo', port),
      podObject('podinfo-primary', '6b7c8d', 'aaaaa', 'podinfo-primary'),
      ...primarySlices(podPort, [oldPrimary]),
      slice('podinfo-canary', podPort, []),
      destinationRule('podinfo-primary'),
      destinationRule('podinfo-canary'),
      virtualService(100, 0, false),
    ])
      api.apply(o);
    const gw = await Gateway.start({
      files: [],
      bind: '127.0.0.1',
      admin: '127.0.0.1:0',
      accessLog: new MemoryAccessLog(),
      watch: false,
      log: () => {},
      kubernetes: { namespace: NS, kubeconfig: api.kubeConfig() },
    });

    const answers = new Map<string, number>();
    const failures: string[] = [];
    let stop = false;
    let sent = 0;
    const load = Promise.all(
      Array.from({ length: 2 }, async () => {
        while (!stop) {
          const a = await send(port, `/api/info?i=${sent}`, { headers: { host: 'podinfo-gateway' } }).catch((e: Error) => ({ status: 0, body: e.message }));
          sent++;
          if (a.status === 200) answers.set(a.body.trim(), (answers.get(a.body.trim()) ?? 0) + 1);
          else failures.push(`${a.status} ${a.body}`);
          // Pacing only (two loops would otherwise leave the watch little of the event loop); nothing waits on it.
          await new Promise((r) => setTimeout(r, 2));
        }
      }),
    );
    const phase = async (what: string, apply: () => void, settled: () => boolean) => {
      apply();
      await until(what, settled);
      answers.clear();
    };
    /** Waits for `n` more answers and returns who answered them. */
    const observe = async (n: number) => {
      const from = [...answers.values()].reduce((a, b) => a + b, 0);
      await until(`${n} answers`, () => [...answers.values()].reduce((a, b) => a + b, 0) >= from + n);
      return new Map(answers);
    };
    /** The apex route as served: the canary's weight (absent when dropped at 0) and whether it mirrors. */
    const served = () => {
      const route = gw.snapshot.listeners
        .flatMap((l) => l.virtualHosts)
        .find((v) => v.host === `podinfo-gateway.${NS}.svc.cluster.local`)
        ?.routes.find((r) => r.source === `VirtualService ${NS}/podinfo`);
      const dests = route?.action.kind === 'route' ? route.action.destinations : [];
      return { canary: dests.find((d) => d.host.startsWith('podinfo-canary.'))?.weight ?? 0, mirrors: route?.mirrors.length ?? 0 };
    };
    const clusterOf = (host: string) => Object.values(gw.snapshot.clusters).find((c) => c.host === `${host}.${NS}.svc.cluster.local`);

    try {
      assert.equal(gw.isReady(), true);
      assert.deepEqual([...(await observe(20)).keys()], ['podinfo v1'], 'initialised: the primary answers');

      // New revision: Flagger scales the canary up, then starts the mirroring pre-stage.
      await phase(
        'the canary has endpoints',
        () => {
          api.apply(podObject('podinfo', '5f4e3d', 'bbbbb', 'podinfo'));
          api.apply(slice('podinfo-canary', podPort, [canary]));
        },
        () => clusterOf('podinfo-canary')?.endpoints.length === 1,
      );
      assert.equal(canaryV2.seen.length, 0, 'weight 0 and no mirror: the canary gets nothing');
      const mirrorFrom = canaryV2.seen.length;
      await phase(
        'the mirror is served',
        () => api.apply(virtualService(100, 0, true)),
        () => served().mirrors === 1 && canaryV2.seen.length > mirrorFrom,
      );
      assert.deepEqual([...(await observe(40)).keys()], ['podinfo v1'], 'mirror pre-stage: every answer still from the primary');
      assert.ok(
        canaryV2.seen.slice(mirrorFrom).every((r) => r.mirrored),
        'the canary receives copies only',
      );
      // What Flagger's request-success-rate check reads during the pre-stage: the canary's own inbound requests.
      const samples = await scrape(gw.adminAddress);
      const dest = { reporter: 'destination', destination_workload_namespace: NS };
      assert.ok(
        total(samples, 'istio_requests_total', { ...dest, destination_workload: 'podinfo', response_code: '200' }) > 0,
        'the canary Deployment in reporter="destination"',
      );
      assert.ok(total(samples, 'istio_requests_total', { ...dest, destination_workload: 'podinfo-primary' }) > 0, 'the primary named after its Deployment');
      assert.equal(
        select(samples, 'istio_requests_total', { reporter: 'source', destination_workload: 'podinfo' }).length,
        0,
        'mirrored copies are never primary samples',
      );

      // Progressive traffic shifting: the mirror stops, 10%, then 50% to the canary.
      await phase(
        '10% to the canary',
        () => api.apply(virtualService(90, 10, false)),
        () => served().canary === 10 && served().mirrors === 0,
      );
      const at10 = await observe(100);
      assert.ok((at10.get('podinfo v2') ?? 0) > 0 && (at10.get('podinfo v1') ?? 0) > (at10.get('podinfo v2') ?? 0), `10%: ${JSON.stringify([...at10])}`);
      await phase(
        '50% to the canary',
        () => api.apply(virtualService(50, 50, false)),
        () => served().canary === 50,
      );
      const at50 = await observe(100);
      assert.ok((at50.get('podinfo v2') ?? 0) > 20 && (at50.get('podinfo v1') ?? 0) > 20, `50%: ${JSON.stringify([...at50])}`);

      // Promotion: the canary's template copied to the primary Deployment, which rolls: a new pod, ready; the
      // old one terminating (serving, not ready), then gone.
      await phase(
        'the new primary pod serves',
        () => {
          api.apply(podObject('podinfo-primary', '5f4e3d', 'ccccc', 'podinfo-primary'));
          for (const o of primarySlices(podPort, [oldPrimary, newPrimary])) api.apply(o);
        },
        () => primaryV2.seen.length > 0,
      );
      await phase(
        'the old primary pod leaves',
        () => {
          for (const o of primarySlices(podPort, [{ ...oldPrimary, terminating: true }, newPrimary])) api.apply(o);
        },
        () => clusterOf('podinfo-primary')?.endpoints.length === 1,
      );
      // Finalising: all traffic to the primary, then the canary scaled to zero.
      await phase(
        'all traffic to the primary',
        () => api.apply(virtualService(100, 0, false)),
        () => served().canary === 0,
      );
      await observe(20);
      const canaryFrom = canaryV2.seen.length;
      await phase(
        'the canary scaled to zero',
        () => {
          api.apply(slice('podinfo-canary', podPort, []));
          api.delete('Pod', NS, canary.name);
        },
        () => clusterOf('podinfo-canary')?.endpoints.length === 0,
      );
      for (const o of primarySlices(podPort, [newPrimary])) api.apply(o);
      api.delete('Pod', NS, oldPrimary.name);
      // Terminating pods exit once the gateway has let them go (their in-flight requests finish first).
      await primaryV1.close();
      await canaryV2.close();
      const promoted = await observe(60);
      assert.deepEqual([...promoted.keys()], ['podinfo v2'], `promoted: the new primary answers everything (${JSON.stringify([...promoted])})`);
      assert.ok(canaryV2.seen.length - canaryFrom <= 2, 'nothing reaches the canary once routed away');

      const after = await scrape(gw.adminAddress);
      assert.ok(total(after, 'istio_requests_total', { ...dest, destination_workload: 'podinfo-primary', destination_version: 'unknown' }) > 0);
      stop = true;
      await load;
      assert.ok(sent > 300, `sent ${sent}`);
      assert.deepEqual(failures, [], 'no failed request through the whole rollout');
    } finally {
      stop = true;
      await load;
      await gw.shutdown();
      await Promise.all([primaryV1.close().catch(() => {}), canaryV2.close().catch(() => {}), primaryV2.close().catch(() => {})]);
      await api.close();
    }
  });
});
