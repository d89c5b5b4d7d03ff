// The Kubernetes source against an API server double over real sockets, through the real client library's
// KubeConfig: list then watch, resume, 410 relists, dropped and stalled streams, and what the cluster's objects
// become (ServiceEntries with endpoints, Istio objects as they are) all the way to a built snapshot. Issue 8.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { buildSnapshot } from '../src/config/snapshot.js';
import {
  BACKENDS_ANNOTATION,
  checkKubeConfig,
  Discovery,
  KubeHttp,
  KubernetesSource,
  type KubernetesSourceOptions,
  loadKubeConfig,
  SERVING_ONLY_LABEL,
  translate,
  WATCHED_TYPES,
} from '../src/sources/kubernetes/index.js';
import { type FakeApiServerOptions, FakeKubeApiServer, type KObject } from './harness/kube-apiserver.js';

const NS = 'default';
const FQDN = (name: string) => `${name}.${NS}.svc.cluster.local`;
const clusterOf = (name: string, port: number, subset = '') => `outbound|${port}|${subset}|${FQDN(name)}`;

// ------------------------------------------------------------------ cluster objects

function service(
  name: string,
  opts: {
    port?: number;
    targetPort?: number | string;
    portName?: string;
    selector?: Record<string, string>;
    clusterIP?: string;
    annotations?: Record<string, string>;
  } = {},
): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NS, annotations: opts.annotations ?? {} },
    spec: {
      clusterIP: opts.clusterIP ?? '10.96.0.10',
      selector: opts.selector ?? { app: name },
      ports: [{ name: opts.portName ?? 'http', port: opts.port ?? 8000, targetPort: opts.targetPort ?? 80, protocol: 'TCP' }],
    },
  };
}

function pod(name: string, labels: Record<string, string>): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels },
    spec: { containers: [{ name: 'c', image: 'nginx' }] },
    status: { phase: 'Running' },
  };
}

interface Ep {
  ip: string;
  pod?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

function slice(serviceName: string, endpoints: Ep[], opts: { name?: string; ports?: Array<{ name: string; port: number }> } = {}): KObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: opts.name ?? `${serviceName}-abcde`, namespace: NS, labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    ports: (opts.ports ?? [{ name: 'http', port: 80 }]).map((p) => ({ ...p, protocol: 'TCP' })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
      ...(e.pod ? { targetRef: { kind: 'Pod', name: e.pod, namespace: NS } } : {}),
    })),
  };
}

function destinationRule(): KObject {
  return {
    apiVersion: 'networking.istio.io/v1alpha3',
    kind: 'DestinationRule',
    metadata: { name: 'nginx', namespace: NS },
    spec: {
      host: 'nginx',
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    },
  };
}

function virtualService(mirror: boolean): KObject {
  const route: Record<string, unknown> = { route: [{ destination: { host: 'nginx', subset: 'v1' }, weight: 100 }] };
  if (mirror) {
    route.mirror = { host: 'nginx', subset: 'v2' };
    route.mirror_percent = 100;
  }
  return {
    apiVersion: 'networking.istio.io/v1alpha3',
    kind: 'VirtualService',
    metadata: { name: 'nginx', namespace: NS },
    spec: { hosts: ['nginx'], http: [route] },
  };
}

/** The article: Service nginx:8000 → pods nginx-v1/nginx-v2 on port 80, with labels app: nginx, version: v1|v2. */
function seedArticle(api: FakeKubeApiServer, opts: { rules?: boolean; mirror?: boolean } = {}): void {
  api.apply(service('nginx'));
  api.apply(pod('nginx-v1-aaaaa', { app: 'nginx', version: 'v1' }));
  api.apply(pod('nginx-v2-bbbbb', { app: 'nginx', version: 'v2' }));
  api.apply(
    slice('nginx', [
      { ip: '10.1.0.1', pod: 'nginx-v1-aaaaa' },
      { ip: '10.1.0.2', pod: 'nginx-v2-bbbbb' },
    ]),
  );
  if (opts.rules !== false) {
    api.apply(destinationRule());
    api.apply(virtualService(opts.mirror ?? false));
  }
}

// ------------------------------------------------------------------ harness

/** Fast timings: a bookmark every 100 ms from the double, a stream silent for 3 × 150 ms is stalled. */
const TUNING = {
  timeoutSeconds: 30,
  bookmarkIntervalMs: 150,
  stallFactor: 3,
  backoffInitialMs: 20,
  backoffMaxMs: 200,
  requestTimeoutMs: 2_000,
  rediscoverMs: 200,
};

interface Setup {
  api: FakeKubeApiServer;
  source: KubernetesSource;
  changes: () => number;
  logs: string[];
}

async function setup(
  t: TestContext,
  seed: (api: FakeKubeApiServer) => void,
  opts: Partial<KubernetesSourceOptions> = {},
  apiOpts: FakeApiServerOptions = {},
): Promise<Setup> {
  const api = await FakeKubeApiServer.start({ bookmarkIntervalMs: 100, ...apiOpts });
  seed(api);
  let changes = 0;
  const logs: string[] = [];
  const source = await KubernetesSource.start({
    kubeconfig: api.kubeConfig(),
    onChange: () => {
      changes++;
    },
    log: (l) => logs.push(l),
    tuning: TUNING,
    syncTimeoutMs: 5_000,
    // Snapshot-level assertions here want every Service's listener; the default (taken-over only) has its own test.
    listen: 'all',
    ...opts,
  });
  watched(source, api);
  t.after(async () => {
    await source.close();
    await api.close();
  });
  return { api, source, changes: () => changes, logs };
}

/** Every move of a source or double under test: what `waitUntil` looks again on (no polling). */
const moved = new EventEmitter();
moved.setMaxListeners(0);
function watched(source: KubernetesSource, api?: FakeKubeApiServer): void {
  source.onActivity(() => moved.emit('moved'));
  api?.on('change', () => moved.emit('moved'));
}

/**
 * Resolves once `cond()` holds, looked at again after every move of a source or a double (a watcher's cache,
 * stats or sync state, a delivered change, a request the double saw). `ms` only bounds a broken build, with an
 * error naming what never happened; nothing here measures how fast anything is.
 */
async function waitUntil(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  if (cond()) return;
  await new Promise<void>((resolve, reject) => {
    const look = () => {
      if (!cond()) return;
      done();
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what}: not within ${ms} ms`));
    }, ms);
    const done = () => {
      clearTimeout(timer);
      moved.off('moved', look);
    };
    moved.on('moved', look);
  });
}

interface EntryEndpoint {
  address: string;
  ports: Record<string, number>;
  labels: Record<string, string>;
}

/** Spec of the ServiceEntry made from Service `name`. */
function entryOf(
  source: KubernetesSource,
  name: string,
): { hosts: string[]; addresses?: string[]; ports: Array<Record<string, unknown>>; endpoints: EntryEndpoint[] } | undefined {
  const r = source.resources().find((x) => x.kind === 'ServiceEntry' && x.file === `kubernetes://Service/${NS}/${name}`);
  return r?.object.spec as ReturnType<typeof entryOf>;
}

const addresses = (source: KubernetesSource, name: string) => (entryOf(source, name)?.endpoints ?? []).map((e) => e.address).sort();

function statusOf(source: KubernetesSource, kind: string) {
  const s = source.status().find((x) => x.kind === kind);
  assert.ok(s, kind);
  return s;
}

// ------------------------------------------------------------------ tests

describe('KubernetesSource: list then watch', () => {
  it('lists every kind, then watches each from the listed resource version with bookmarks and a server timeout', async (t) => {
    const { api, source } = await setup(t, (a) => seedArticle(a, { mirror: true }));
    assert.equal(source.synced, true);
    const kinds = ['VirtualService', 'DestinationRule', 'ServiceEntry', 'WorkloadEntry', 'Service', 'EndpointSlice', 'Pod'];
    for (const kind of kinds) assert.equal(api.listRequests(kind).length, 1, `one list of ${kind}`);
    await waitUntil(() => kinds.every((k) => api.watchRequests(k).length >= 1), 'a watch of every kind');
    const listedAt = api.resourceVersion;
    for (const kind of kinds) {
      const w = api.watchRequests(kind)[0]!;
      assert.equal(w.query.get('resourceVersion'), listedAt, `${kind} watched from the list's resource version`);
      assert.equal(w.query.get('allowWatchBookmarks'), 'true');
      const timeout = Number(w.query.get('timeoutSeconds'));
      assert.ok(timeout >= 24 && timeout <= 36, `timeoutSeconds ${timeout} is 30 ± 20%`);
      assert.equal(w.authorization, `Bearer ${api.token}`, 'credentials come from the KubeConfig');
    }
    // Istio kinds are discovered (preferred version v1); pods are asked for as metadata only.
    assert.equal(api.watchRequests('VirtualService')[0]!.path, '/apis/networking.istio.io/v1/virtualservices');
    assert.match(api.listRequests('Pod')[0]!.accept ?? '', /as=PartialObjectMetadataList/);
    assert.equal(api.listRequests('Service')[0]!.path, '/api/v1/services');

    const kinds2 = source.resources().map((r) => `${r.kind} ${r.namespace}/${r.name} ${r.file}`);
    assert.deepEqual(kinds2, [
      'ServiceEntry default/service:nginx kubernetes://Service/default/nginx',
      'DestinationRule default/nginx kubernetes://DestinationRule/default/nginx',
      'VirtualService default/nginx kubernetes://VirtualService/default/nginx',
    ]);
    const vs = source.resources().find((r) => r.kind === 'VirtualService')!;
    assert.equal(vs.apiVersion, 'networking.istio.io/v1');
    assert.equal(vs.locate([]), undefined);
    assert.deepEqual(addresses(source, 'nginx'), ['10.1.0.1', '10.1.0.2']);
    assert.deepEqual(source.problems(), []);
  });

  it('watches one namespace with --namespace', async (t) => {
    const { api, source } = await setup(
      t,
      (a) => {
        seedArticle(a, { rules: false });
        a.apply({ ...service('other'), metadata: { name: 'other', namespace: 'elsewhere' } });
      },
      { namespace: NS },
    );
    assert.equal(api.listRequests('Service')[0]!.path, '/api/v1/namespaces/default/services');
    assert.deepEqual(
      source.resources().map((r) => r.name),
      ['service:nginx'],
    );
  });

  it('is not synced until every watcher has listed once', async (t) => {
    const { api, source, changes } = await setup(
      t,
      (a) => {
        seedArticle(a, { rules: false });
        a.failNext(1_000, 500, { kind: 'Pod' });
      },
      { syncTimeoutMs: 100 },
    );
    assert.equal(source.synced, false, 'the pod list keeps failing');
    await waitUntil(() => statusOf(source, 'Service').synced, 'the Service list');
    assert.equal(statusOf(source, 'Pod').synced, false);
    assert.equal(source.synced, false);
    await waitUntil(() => statusOf(source, 'Pod').stats.errors >= 3, 'retries of the pod list');
    api.clearFailures();
    await waitUntil(() => source.synced, 'synced after the pod list succeeds');
    assert.ok(api.listRequests('Pod').length >= 4, 'retried the failed list');
    await waitUntil(() => changes() > 0, 'onChange when the sync completes');
  });
});

describe('KubernetesSource: changes reach resources() within a second', () => {
  it('pods added, removed and relabelled change the endpoints and their labels; a burst gives one onChange', async (t) => {
    const { api, source, changes } = await setup(t, (a) => seedArticle(a, { rules: false }));
    await waitUntil(() => api.openWatches() === 7, 'every watch open');

    // Added: a third pod and its endpoint.
    api.apply(pod('nginx-v2-ccccc', { app: 'nginx', version: 'v2' }));
    api.apply(
      slice('nginx', [
        { ip: '10.1.0.1', pod: 'nginx-v1-aaaaa' },
        { ip: '10.1.0.2', pod: 'nginx-v2-bbbbb' },
        { ip: '10.1.0.3', pod: 'nginx-v2-ccccc' },
      ]),
    );
    await waitUntil(() => addresses(source, 'nginx').length === 3, 'the added endpoint');

    // Relabelled: v1 → v3.
    api.apply(pod('nginx-v1-aaaaa', { app: 'nginx', version: 'v3' }));
    await waitUntil(() => entryOf(source, 'nginx')?.endpoints.find((e) => e.address === '10.1.0.1')?.labels.version === 'v3', 'the new label');

    // Removed.
    api.apply(slice('nginx', [{ ip: '10.1.0.3', pod: 'nginx-v2-ccccc' }]));
    api.delete('Pod', NS, 'nginx-v1-aaaaa');
    api.delete('Pod', NS, 'nginx-v2-bbbbb');
    await waitUntil(() => addresses(source, 'nginx').join() === '10.1.0.3', 'only the remaining endpoint');

    // Debounced: twenty changes at once give (about) one rebuild, within the window. Once every pod is in and no
    // change waits for its window, no further onChange can come: the count is final.
    await waitUntil(() => !source.changePending, 'the earlier changes delivered');
    const before = changes();
    for (let i = 0; i < 20; i++) api.apply(pod(`burst-${i}`, { app: 'burst' }));
    await waitUntil(() => changes() > before && statusOf(source, 'Pod').objects === 21 && !source.changePending, 'the burst delivered');
    assert.ok(changes() - before <= 2, `${changes() - before} onChange calls for one burst`);
    assert.equal(statusOf(source, 'Pod').objects, 21);
  });

  it('a VirtualService switched from route-only to mirror is seen, and the snapshot mirrors to v2', async (t) => {
    const { api, source } = await setup(t, (a) => seedArticle(a, { mirror: false }));
    const mirrors = () => {
      const snap = buildSnapshot(source.resources());
      return snap.listeners[0]?.virtualHosts[0]?.routes[0]?.mirrors.map((m) => m.cluster) ?? [];
    };
    assert.deepEqual(mirrors(), []);
    api.apply(virtualService(true));
    await waitUntil(() => mirrors().length === 1, 'the mirror');
    assert.deepEqual(mirrors(), [clusterOf('nginx', 8000, 'v2')]);
    api.apply(virtualService(false));
    await waitUntil(() => mirrors().length === 0, 'the mirror removed');
  });
});

describe('KubernetesSource: status-only changes', () => {
  it("a change of an object's status alone (a status write echoed back) is no config change; a spec change is", async (t) => {
    const { api, source, changes } = await setup(t, (a) => seedArticle(a, { mirror: false }));
    await waitUntil(() => !source.changePending, 'the first change delivered');
    const before = changes();
    const events = () => statusOf(source, 'VirtualService').stats.events;
    const seen = events();
    // The same spec with a status, as Istio's status controller (or ours) writes it.
    api.apply({ ...virtualService(false), status: { observedGeneration: 1, validationMessages: [{ type: { code: 'IST0101' } }] } });
    await waitUntil(() => events() > seen, 'the status event');
    // onChange would have started its debounce window synchronously, in the same event's handling.
    assert.equal(source.changePending, false, 'no change pending');
    assert.equal(changes(), before);
    assert.deepEqual(source.resources().find((r) => r.kind === 'VirtualService')?.object.spec, virtualService(false).spec);
    api.apply({ ...virtualService(true), status: { observedGeneration: 2 } });
    await waitUntil(() => changes() > before, 'the spec change delivered');
  });
});

describe('KubernetesSource: robust watching', () => {
  for (const goneAs of ['event', 'status'] as const) {
    it(`relists on 410 Gone (${goneAs === 'event' ? 'an ERROR event with code 410' : 'HTTP 410'}) and sees what changed meanwhile`, async (t) => {
      const { api, source } = await setup(t, (a) => seedArticle(a, { rules: false }), {}, { goneAs });
      await waitUntil(() => api.openWatches('EndpointSlice') === 1, 'the slice watch');
      const listsBefore = api.listRequests('EndpointSlice').length;
      // The connection drops, the slice changes, and history is compacted before the watcher comes back.
      api.dropWatches('EndpointSlice');
      api.apply(slice('nginx', [{ ip: '10.1.0.9' }]));
      api.compact();
      await waitUntil(() => addresses(source, 'nginx').join() === '10.1.0.9', 'the change, through a relist');
      assert.equal(api.listRequests('EndpointSlice').length, listsBefore + 1, 'one relist');
      assert.equal(statusOf(source, 'EndpointSlice').stats.gone, 1);
      // And it watches again from the new list.
      await waitUntil(() => api.openWatches('EndpointSlice') === 1, 'watching again');
      assert.equal(api.watchRequests('EndpointSlice').at(-1)!.query.get('resourceVersion'), api.resourceVersion);
    });
  }

  it('resumes a dropped watch from the last resource version, without relisting', async (t) => {
    const { api, source } = await setup(t, (a) => seedArticle(a, { mirror: false }));
    await waitUntil(() => api.openWatches('VirtualService') === 1, 'the VirtualService watch');
    const lastSeen = statusOf(source, 'VirtualService').resourceVersion!;
    const watchesBefore = api.watchRequests('VirtualService').length;
    api.dropWatches('VirtualService');
    const changed = api.apply(virtualService(true));
    await waitUntil(
      () => source.resources().some((r) => r.kind === 'VirtualService' && 'mirror' in ((r.object.spec as { http: object[] }).http[0] ?? {})),
      'the mirror after the reconnect',
    );
    const resumed = api.watchRequests('VirtualService').slice(watchesBefore);
    assert.ok(resumed.length >= 1, 'a new watch');
    // Bookmarks move the resume point, so it is at least the last version seen before the drop.
    assert.ok(Number(resumed[0]!.query.get('resourceVersion')) >= Number(lastSeen));
    assert.ok(Number(resumed[0]!.query.get('resourceVersion')) < Number(changed.metadata!.resourceVersion));
    assert.equal(api.listRequests('VirtualService').length, 1, 'no relist');
    assert.ok(statusOf(source, 'VirtualService').stats.errors >= 1);
  });

  it('moves its resume point with bookmarks', async (t) => {
    const { api, source } = await setup(t, (a) => seedArticle(a, { rules: false }));
    const before = Number(statusOf(source, 'VirtualService').resourceVersion);
    for (let i = 0; i < 3; i++) api.apply(pod(`p-${i}`, { app: 'x' }));
    await waitUntil(() => Number(statusOf(source, 'VirtualService').resourceVersion) === Number(api.resourceVersion), 'a bookmark');
    assert.ok(Number(statusOf(source, 'VirtualService').resourceVersion) > before);
    assert.ok(statusOf(source, 'VirtualService').stats.bookmarks >= 1);
  });

  it('detects a stalled stream, aborts it and resumes', async (t) => {
    const { api, source } = await setup(t, (a) => seedArticle(a, { rules: false }));
    await waitUntil(() => api.openWatches('Service') === 1, 'the Service watch');
    const watchesBefore = api.watchRequests('Service').length;
    assert.equal(api.stallWatches('Service'), 1);
    api.apply(service('nginx', { clusterIP: '10.96.0.77' }));
    // Stalled after 3 × 150 ms of silence; then resumed from the last version, and the change replayed.
    await waitUntil(() => entryOf(source, 'nginx')?.addresses?.[0] === '10.96.0.77', 'the change after the stall');
    assert.ok(statusOf(source, 'Service').stats.stalls >= 1);
    assert.equal(api.listRequests('Service').length, 1, 'no relist');
    assert.ok(api.watchRequests('Service').length > watchesBefore);
  });

  it('re-watches when the server ends a watch at its timeout', async (t) => {
    const { api } = await setup(t, (a) => seedArticle(a, { rules: false }), { tuning: { ...TUNING, timeoutSeconds: 1 } });
    await waitUntil(() => api.watchRequests('Pod').length >= 2, 'a second watch after the server timeout');
    assert.equal(api.listRequests('Pod').length, 1);
  });

  it('finds the served Istio version, and carries on without Istio CRDs', async (t) => {
    const old = await setup(t, (a) => seedArticle(a, { mirror: true }), {}, { istioVersions: ['v1alpha3'] });
    assert.equal(old.api.listRequests('VirtualService')[0]!.path, '/apis/networking.istio.io/v1alpha3/virtualservices');
    assert.equal(old.source.resources().find((r) => r.kind === 'VirtualService')!.apiVersion, 'networking.istio.io/v1alpha3');

    const none = await setup(t, (a) => seedArticle(a, { rules: false }), {}, { istioVersions: [] });
    assert.equal(none.source.synced, true);
    assert.deepEqual(
      none.source.resources().map((r) => r.kind),
      ['ServiceEntry'],
    );
    assert.deepEqual(
      none.source.problems().map((p) => p.code),
      ['kind-not-served', 'kind-not-served', 'kind-not-served', 'kind-not-served'],
    );
    // The CRDs are installed later: found on the next look.
    none.api.istioVersions = ['v1'];
    none.api.apply(virtualService(false));
    await waitUntil(() => none.source.resources().some((r) => r.kind === 'VirtualService'), 'the VirtualService once Istio is installed');
    await waitUntil(() => none.source.problems().length === 0, 'every Istio kind found');
  });
});

describe('KubernetesSource: endpoints', () => {
  it('falls back to serving-and-terminating endpoints when a port has no ready one, and marks them', async (t) => {
    const { api, source } = await setup(t, (a) => {
      seedArticle(a, { rules: false });
      a.apply(
        slice('nginx', [
          { ip: '10.1.0.1', pod: 'nginx-v1-aaaaa', ready: false, serving: true, terminating: true },
          { ip: '10.1.0.2', ready: false, serving: false, terminating: true },
        ]),
      );
    });
    assert.deepEqual(entryOf(source, 'nginx')?.endpoints, [
      { address: '10.1.0.1', ports: { http: 80 }, labels: { app: 'nginx', version: 'v1', [SERVING_ONLY_LABEL]: 'true' } },
    ]);
    api.apply(
      slice('nginx', [
        { ip: '10.1.0.1', pod: 'nginx-v1-aaaaa', ready: false, serving: true, terminating: true },
        { ip: '10.1.0.3', ready: true },
      ]),
    );
    await waitUntil(() => addresses(source, 'nginx').join() === '10.1.0.3', 'only the ready endpoint');
    assert.deepEqual(entryOf(source, 'nginx')?.endpoints[0]?.labels, {});
  });

  it('picks up pod labels that arrive after the endpoint', async (t) => {
    const { api, source } = await setup(t, (a) => {
      seedArticle(a);
      a.apply(
        slice('nginx', [
          { ip: '10.1.0.1', pod: 'nginx-v1-aaaaa' },
          { ip: '10.1.0.4', pod: 'nginx-v2-late' },
        ]),
      );
    });
    const v2 = () => buildSnapshot(source.resources()).clusters[clusterOf('nginx', 8000, 'v2')]?.endpoints.map((e) => e.address) ?? [];
    assert.deepEqual(v2(), [], 'no labels yet: not in subset v2');
    assert.deepEqual(addresses(source, 'nginx'), ['10.1.0.1', '10.1.0.4'], 'but an endpoint of the service');
    api.apply(pod('nginx-v2-late', { app: 'nginx', version: 'v2' }));
    await waitUntil(() => v2().join() === '10.1.0.4', 'the endpoint in subset v2');
  });

  it('never makes Shadowgate pods endpoints (default or configured selector)', async (t) => {
    const seed = (a: FakeKubeApiServer) => {
      seedArticle(a, { rules: false });
      a.apply(pod('shadowgate-1', { 'app.kubernetes.io/name': 'shadowgate' }));
      a.apply(pod('gw-1', { role: 'gateway' }));
      a.apply(
        slice('nginx', [
          { ip: '10.1.0.1', pod: 'nginx-v1-aaaaa' },
          { ip: '10.9.0.1', pod: 'shadowgate-1' },
          { ip: '10.9.0.2', pod: 'gw-1' },
        ]),
      );
    };
    const byDefault = await setup(t, seed);
    assert.deepEqual(addresses(byDefault.source, 'nginx'), ['10.1.0.1', '10.9.0.2']);
    const configured = await setup(t, seed, { ownPodSelector: { role: 'gateway' } });
    assert.deepEqual(addresses(configured.source, 'nginx'), ['10.1.0.1', '10.9.0.1']);
  });

  it('takes over a Service: its name and address, the backends Service’s endpoints', async (t) => {
    const { api, source } = await setup(t, (a) => {
      a.apply(
        service('nginx', {
          clusterIP: '10.96.0.10',
          targetPort: 8000,
          selector: { 'app.kubernetes.io/name': 'shadowgate' },
          annotations: { [BACKENDS_ANNOTATION]: 'nginx-backends' },
        }),
      );
      a.apply({ ...service('nginx-backends', { clusterIP: 'None', port: 80, targetPort: 80, selector: { app: 'nginx' } }) });
      a.apply(pod('shadowgate-1', { 'app.kubernetes.io/name': 'shadowgate' }));
      a.apply(pod('nginx-v1-aaaaa', { app: 'nginx', version: 'v1' }));
      a.apply(pod('nginx-v2-bbbbb', { app: 'nginx', version: 'v2' }));
      a.apply(slice('nginx', [{ ip: '10.9.0.1', pod: 'shadowgate-1' }], { ports: [{ name: 'http', port: 8000 }] }));
      a.apply(
        slice(
          'nginx-backends',
          [
            { ip: '10.1.0.1', pod: 'nginx-v1-aaaaa' },
            { ip: '10.1.0.2', pod: 'nginx-v2-bbbbb' },
          ],
          { ports: [{ name: 'http', port: 80 }] },
        ),
      );
    });
    const entry = entryOf(source, 'nginx')!;
    assert.deepEqual(entry.hosts, [FQDN('nginx')]);
    assert.deepEqual(entry.addresses, ['10.96.0.10']);
    assert.deepEqual(entry.ports, [{ number: 8000, name: 'http', protocol: 'HTTP', targetPort: 8000 }]);
    assert.deepEqual(entry.endpoints, [
      { address: '10.1.0.1', ports: { http: 80 }, labels: { app: 'nginx', version: 'v1' } },
      { address: '10.1.0.2', ports: { http: 80 }, labels: { app: 'nginx', version: 'v2' } },
    ]);
    assert.deepEqual(source.problems(), []);
    assert.equal(entryOf(source, 'nginx-backends'), undefined, 'the backends Service is reached through nginx only');
    const snap = buildSnapshot(source.resources());
    assert.deepEqual(
      snap.listeners.map((l) => l.port),
      [8000],
    );
    assert.deepEqual(
      snap.clusters[clusterOf('nginx', 8000)]!.endpoints.map((e) => `${e.address}:${e.port}`),
      ['10.1.0.1:80', '10.1.0.2:80'],
    );

    // A strategic-merge patch merged the selectors: the Service selects nothing of the gateway's.
    api.apply(
      service('nginx', {
        clusterIP: '10.96.0.10',
        selector: { 'app.kubernetes.io/name': 'shadowgate', app: 'nginx' },
        annotations: { [BACKENDS_ANNOTATION]: 'nginx-backends' },
      }),
    );
    await waitUntil(() => source.problems().some((p) => p.code === 'takeover-selector'), 'the selector warning');
    const p = source.problems().find((x) => x.code === 'takeover-selector')!;
    assert.equal(p.severity, 'warning');
    assert.equal(p.resource, 'Service default/nginx');
    assert.equal(p.file, 'kubernetes://Service/default/nginx');

    // The backends Service selects nothing.
    api.apply(slice('nginx-backends', [], { ports: [{ name: 'http', port: 80 }] }));
    await waitUntil(() => source.problems().some((x) => x.code === 'empty-backends'), 'the empty-backends warning');
    api.delete('Service', NS, 'nginx-backends');
    await waitUntil(() => source.problems().some((x) => x.code === 'empty-backends' && x.message.includes('does not exist')), 'missing backends');
  });
});

describe('KubernetesSource: translation', () => {
  it('maps Service ports: appProtocol, name prefix, numeric target ports, UDP left out', () => {
    const svc: KObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'multi', namespace: NS },
      spec: {
        clusterIP: '10.96.0.5',
        ports: [
          { name: 'web', port: 80, targetPort: 'web', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
          { name: 'grpc-api', port: 9090, targetPort: 9090, protocol: 'TCP' },
          { name: 'dns', port: 53, protocol: 'UDP' },
          { port: 8080, targetPort: 8081, protocol: 'TCP' },
        ],
      },
    };
    const s = slice('multi', [{ ip: '10.1.0.7' }], {
      ports: [
        { name: 'web', port: 8443 },
        { name: 'grpc-api', port: 9090 },
      ],
    });
    const { resources, problems } = translate({ istio: [], services: [svc], endpointSlices: [s], pods: [] });
    assert.deepEqual(problems, []);
    const spec = resources[0]!.object.spec as Record<string, unknown>;
    assert.deepEqual(spec.ports, [
      { number: 80, name: 'web', protocol: 'HTTP2' },
      { number: 9090, name: 'grpc-api', protocol: 'GRPC', targetPort: 9090 },
      { number: 8080, name: 'port-8080', protocol: 'HTTP', targetPort: 8081 },
    ]);
    assert.deepEqual(spec.endpoints, [{ address: '10.1.0.7', ports: { web: 8443, 'grpc-api': 9090 }, labels: {} }]);
    const snap = buildSnapshot(resources);
    assert.deepEqual(
      snap.problems.filter((p) => p.severity === 'error'),
      [],
    );
    assert.equal(snap.clusters['outbound|80||multi.default.svc.cluster.local']!.endpoints[0]!.port, 8443);
  });
});

describe('KubernetesSource end to end: the article in a cluster, as a snapshot', () => {
  it('builds the listener, clusters, endpoints and mirror route from the cluster alone', async (t) => {
    const { source } = await setup(t, (a) => seedArticle(a, { mirror: true }));
    const snap = buildSnapshot(source.resources(), source.problems());
    // The article's YAML as it is: only the deprecated mirror_percent is worth a word.
    assert.deepEqual(
      snap.problems.filter((p) => p.severity !== 'info').map((p) => `${p.code} ${p.file}`),
      ['deprecated-field kubernetes://VirtualService/default/nginx'],
    );
    assert.deepEqual(
      snap.listeners.map((l) => l.port),
      [8000],
    );
    const vhost = snap.listeners[0]!.virtualHosts[0]!;
    assert.equal(vhost.host, FQDN('nginx'));
    for (const d of ['nginx', 'nginx:8000', 'nginx.default', FQDN('nginx'), '10.96.0.10', '10.96.0.10:8000'])
      assert.ok(vhost.domains.includes(d), `routes Host ${d}`);
    assert.equal(vhost.fromVirtualService, true);
    const route = vhost.routes[0]!;
    assert.equal(route.action.kind, 'route');
    assert.deepEqual(route.action.kind === 'route' ? route.action.destinations.map((d) => d.cluster) : [], [clusterOf('nginx', 8000, 'v1')]);
    assert.deepEqual(
      route.mirrors.map((m) => [m.cluster, m.percentage]),
      [[clusterOf('nginx', 8000, 'v2'), 100]],
    );
    const eps = (subset: string) => snap.clusters[clusterOf('nginx', 8000, subset)]!.endpoints.map((e) => `${e.address}:${e.port} ${e.labels.version}`);
    assert.deepEqual(eps(''), ['10.1.0.1:80 v1', '10.1.0.2:80 v2']);
    assert.deepEqual(eps('v1'), ['10.1.0.1:80 v1']);
    assert.deepEqual(eps('v2'), ['10.1.0.2:80 v2']);
  });
});

describe('which Services get listeners', () => {
  it('by default only taken-over Services: others stay destinations, their ports are not bound', () => {
    const objects = {
      istio: [],
      services: [
        service('nginx', { annotations: { [BACKENDS_ANNOTATION]: 'nginx-backends' }, selector: { 'app.kubernetes.io/name': 'shadowgate' } }),
        service('nginx-backends', { selector: { app: 'nginx' } }),
        service('reviews', { port: 9080 }),
      ],
      endpointSlices: [slice('nginx-backends', [{ ip: '10.1.0.1', pod: 'nginx-v1-aaaaa' }]), slice('reviews', [{ ip: '10.1.0.9' }])],
      pods: [pod('nginx-v1-aaaaa', { app: 'nginx', version: 'v1' })],
    };
    const byDefault = buildSnapshot(translate(objects).resources);
    assert.deepEqual(
      byDefault.listeners.map((l) => [l.port, l.virtualHosts.map((v) => v.host)]),
      [[8000, [FQDN('nginx')]]],
    );
    assert.ok(byDefault.clusters[clusterOf('reviews', 9080)], 'reviews is still a destination');
    const all = buildSnapshot(translate(objects, { listen: 'all' }).resources);
    assert.deepEqual(
      all.listeners.map((l) => l.port),
      [8000, 9080],
    );
  });
});

describe('warnings become Kubernetes Events', () => {
  it('a taken-over Service whose backends select nothing gets one Warning Event, not one per change', async (t) => {
    const { api, source } = await setup(t, (a) => {
      a.apply(service('nginx', { annotations: { [BACKENDS_ANNOTATION]: 'nginx-backends' }, selector: { app: 'nginx' } }));
      a.apply(service('nginx-backends', { selector: { app: 'nothing-here' } }));
    });
    await waitUntil(() => api.events.length >= 2, 'the events');
    const reasons = api.events.map((e) => `${e.reason} ${(e.involvedObject as { name: string }).name} ${e.type}`).sort();
    assert.deepEqual(reasons, ['ShadowgateEmptyBackends nginx Warning', 'ShadowgateTakeoverSelector nginx Warning']);
    // Another change that leaves the same warnings posts nothing new: once it is delivered and its Events round done.
    const delivered = api.requests.length;
    api.apply(pod('unrelated', { app: 'other' }));
    await waitUntil(() => statusOf(source, 'Pod').objects === 1 && !source.changePending, 'the unrelated change delivered');
    await source.eventsPosted();
    assert.ok(api.requests.length >= delivered);
    assert.equal(api.events.length, 2);
    assert.ok(source.problems().some((p) => p.code === 'empty-backends'));
  });
});

describe('KubernetesSource: an endpoint is an address and a port (issue 21)', () => {
  /** v1 and v2 pods on one IP (host network, one node) with different ports, each in its own EndpointSlice. */
  const IP = '10.1.0.5';
  for (const targetPort of [80, 'web'] as const) {
    it(`two subsets on one IP route apart; a third endpoint gets its share; ready: false removes only that one (targetPort ${typeof targetPort === 'number' ? 'numeric' : 'named'})`, async (t) => {
      const { api, source } = await setup(t, (a) => {
        a.apply(service('nginx', { targetPort }));
        a.apply(pod('nginx-v1-aaaaa', { app: 'nginx', version: 'v1' }));
        a.apply(pod('nginx-v2-bbbbb', { app: 'nginx', version: 'v2' }));
        a.apply(slice('nginx', [{ ip: IP, pod: 'nginx-v1-aaaaa' }], { name: 'nginx-s1', ports: [{ name: 'http', port: 8081 }] }));
        a.apply(slice('nginx', [{ ip: IP, pod: 'nginx-v2-bbbbb' }], { name: 'nginx-s2', ports: [{ name: 'http', port: 8082 }] }));
        a.apply(destinationRule());
        a.apply(virtualService(true));
      });
      const snap = () => buildSnapshot(source.resources(), source.problems());
      const eps = (subset: string) =>
        (snap().clusters[clusterOf('nginx', 8000, subset)]?.endpoints ?? []).map((e) => `${e.address}:${e.port} ${e.labels.version}`);
      assert.deepEqual(eps('v1'), [`${IP}:8081 v1`]);
      assert.deepEqual(eps('v2'), [`${IP}:8082 v2`]);
      assert.deepEqual(eps(''), [`${IP}:8081 v1`, `${IP}:8082 v2`]);
      const route = snap().listeners[0]!.virtualHosts[0]!.routes[0]!;
      assert.deepEqual(
        route.mirrors.map((m) => m.cluster),
        [clusterOf('nginx', 8000, 'v2')],
      );

      // A third endpoint on the same IP, a third port: an endpoint of its own in subset v1.
      api.apply(pod('nginx-v1-ccccc', { app: 'nginx', version: 'v1' }));
      api.apply(slice('nginx', [{ ip: IP, pod: 'nginx-v1-ccccc' }], { name: 'nginx-s3', ports: [{ name: 'http', port: 8083 }] }));
      await waitUntil(() => eps('v1').length === 2, 'the third endpoint');
      assert.deepEqual(eps('v1'), [`${IP}:8081 v1`, `${IP}:8083 v1`]);
      assert.deepEqual(eps('v2'), [`${IP}:8082 v2`]);

      // ready: false on the first: only it leaves.
      api.apply(slice('nginx', [{ ip: IP, pod: 'nginx-v1-aaaaa', ready: false, serving: false }], { name: 'nginx-s1', ports: [{ name: 'http', port: 8081 }] }));
      await waitUntil(() => eps('v1').length === 1, 'the not-ready endpoint gone');
      assert.deepEqual(eps('v1'), [`${IP}:8083 v1`]);
      assert.deepEqual(eps('v2'), [`${IP}:8082 v2`]);
    });
  }

  it('keys endpoints by pod, or without a targetRef by the ports of their slice; a duplicate across slices stays one', () => {
    const objects = {
      istio: [],
      services: [service('nginx', { targetPort: 'web' })],
      endpointSlices: [
        slice('nginx', [{ ip: IP, pod: 'a' }, { ip: IP }], { name: 's1', ports: [{ name: 'http', port: 8081 }] }),
        // The same pod listed again (the API allows duplicates across slices) and an address without a pod.
        slice('nginx', [{ ip: IP, pod: 'a' }, { ip: IP }], { name: 's2', ports: [{ name: 'http', port: 8081 }] }),
        slice('nginx', [{ ip: IP }], { name: 's3', ports: [{ name: 'http', port: 8082 }] }),
      ],
      pods: [pod('a', { version: 'v1' })],
    };
    const spec = translate(objects).resources[0]!.object.spec as { endpoints: EntryEndpoint[] };
    assert.deepEqual(spec.endpoints, [
      { address: IP, ports: { http: 8081 }, labels: { version: 'v1' } },
      { address: IP, ports: { http: 8081 }, labels: {} },
      { address: IP, ports: { http: 8082 }, labels: {} },
    ]);
    // Slices in another order give the same entry (the snapshot's hash depends on it).
    const reversed = translate({ ...objects, endpointSlices: [...objects.endpointSlices].reverse() }).resources[0]!.object.spec;
    assert.deepEqual(reversed, spec);
  });
});

describe('KubernetesSource: a good API-server citizen (issue 21)', () => {
  const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

  it('sends User-Agent shadowgate/<version> on every request: discovery, lists, watches and Events', async (t) => {
    const { api } = await setup(t, (a) => {
      seedArticle(a, { mirror: true });
      a.apply(service('broken', { annotations: { [BACKENDS_ANNOTATION]: 'nowhere' } }));
    });
    await waitUntil(() => api.openWatches() === 7 && api.events.length > 0, 'every watch open and an Event posted');
    assert.ok(api.requests.length >= 16);
    const agents = new Set(api.requests.map((r) => r.userAgent));
    assert.deepEqual([...agents], [`shadowgate/${version} (${process.platform}/${process.arch})`]);
    assert.ok(
      api.requests.some((r) => r.path.endsWith('/events')),
      'the Event POST is among them',
    );
  });

  it('asks discovery once per start for every kind together, and reads the preferred served version', async (t) => {
    // Kinds this double does not serve (the Gateway API's) look again every rediscoverMs: kept long here, so the
    // discovery asked at start is the only one.
    const tuning = { ...TUNING, rediscoverMs: 60_000 };
    const { api, source } = await setup(t, (a) => seedArticle(a, { mirror: true }), { tuning }, { istioVersions: ['v1beta1', 'v1', 'v1alpha3'] });
    await waitUntil(() => api.openWatches() === 7, 'every watch open');
    api.dropWatches();
    await waitUntil(() => api.watchRequests().length >= 14 && api.openWatches() === 7, 'every watch resumed');
    const discovery = api.requests.filter((r) => r.kind === undefined && !r.path.endsWith('/events')).map((r) => r.path);
    // This double serves no Istio Gateway (its kinds are keyed by name, and the Gateway API's takes "Gateway"):
    // that one kind is looked for in the other versions too.
    assert.deepEqual(discovery, ['/apis', '/apis/networking.istio.io/v1beta1', '/apis/networking.istio.io/v1', '/apis/networking.istio.io/v1alpha3']);
    // The server prefers v1beta1 and this code reads it: every Istio kind is read in it.
    for (const kind of ['VirtualService', 'DestinationRule', 'ServiceEntry', 'WorkloadEntry']) assert.equal(statusOf(source, kind).version, 'v1beta1');
  });

  it('without discovery (403), finds each kind by listing one object in each version it reads', async (t) => {
    const api = await FakeKubeApiServer.start({ forbidDiscovery: true, istioVersions: ['v1beta1'] });
    const stop = new AbortController();
    t.after(async () => {
      stop.abort();
      await api.close();
    });
    const discovery = new Discovery(new KubeHttp(api.kubeConfig()), stop.signal, 2_000);
    const vs = { group: 'networking.istio.io', versions: ['v1', 'v1beta1', 'v1alpha3'], kind: 'VirtualService', plural: 'virtualservices' };
    assert.equal((await discovery.versionOf(vs, NS)).version, 'v1beta1');
    assert.deepEqual(
      api.requests.map((r) => `${r.path}${r.query.get('limit') ? `?limit=${r.query.get('limit')}` : ''}`),
      [
        '/apis',
        '/apis/networking.istio.io/v1/namespaces/default/virtualservices?limit=1',
        '/apis/networking.istio.io/v1beta1/namespaces/default/virtualservices?limit=1',
      ],
    );
  });

  it('is generic: a kind added to the table is found by the same discovery, in the preferred version this code reads', async (t) => {
    const api = await FakeKubeApiServer.start({
      extraKinds: [{ group: 'gateway.networking.k8s.io', versions: ['v1', 'v1beta1'], kind: 'HTTPRoute', plural: 'httproutes' }],
    });
    const stop = new AbortController();
    t.after(async () => {
      stop.abort();
      await api.close();
    });
    const discovery = new Discovery(new KubeHttp(api.kubeConfig()), stop.signal, 2_000);
    const route = (versions: string[]) => ({ group: 'gateway.networking.k8s.io', versions, kind: 'HTTPRoute', plural: 'httproutes' });
    const vs = { group: 'networking.istio.io', versions: ['v1', 'v1beta1', 'v1alpha3'], kind: 'VirtualService', plural: 'virtualservices' };
    const answers = await Promise.all([
      discovery.versionOf(route(['v1', 'v1beta1']), undefined),
      discovery.versionOf(route(['v1beta1']), undefined),
      discovery.versionOf(route(['v1alpha2']), undefined),
      discovery.versionOf(vs, undefined),
      discovery.versionOf({ group: 'example.com', versions: ['v1'], kind: 'Widget', plural: 'widgets' }, undefined),
    ]);
    assert.deepEqual(
      answers.map((a) => a.version),
      ['v1', 'v1beta1', undefined, 'v1', undefined],
    );
    assert.deepEqual(api.requests.map((r) => r.path).sort(), [
      '/apis',
      '/apis/gateway.networking.k8s.io/v1',
      '/apis/gateway.networking.k8s.io/v1beta1',
      '/apis/networking.istio.io/v1',
    ]);
    // A new generation asks again, once for every caller of the old one.
    discovery.invalidate(answers[0]!.generation);
    discovery.invalidate(answers[0]!.generation);
    await discovery.versionOf(vs, undefined);
    assert.equal(api.requests.filter((r) => r.path === '/apis').length, 2);
  });
});

describe('KubernetesSource: a kubeconfig it cannot use says why, once (issues 20, 21)', () => {
  const kubeConfigFor = (server: string, opts: { skipTLSVerify?: boolean; token?: string } = {}) => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server, skipTLSVerify: opts.skipTLSVerify ?? false }],
      users: [{ name: 'u', token: opts.token ?? 'test-token' }],
      contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
      currentContext: 'ctx',
    });
    return kc;
  };

  async function start(t: TestContext, kc: KubeConfig) {
    const logs: string[] = [];
    const registry = new Registry();
    const source = await KubernetesSource.start({
      kubeconfig: kc,
      onChange: () => {},
      log: (l) => logs.push(l),
      tuning: TUNING,
      syncTimeoutMs: 5_000,
      registry,
    });
    watched(source);
    t.after(() => source.close());
    const metric = async (reason: string) => {
      const m = (await registry.getSingleMetric('shadowgate_kubernetes_api_failing')!.get()).values.find((v) => v.labels.reason === reason);
      return m?.value;
    };
    const unsynced = async () => (await registry.getSingleMetric('shadowgate_kubernetes_kinds_unsynced')!.get()).values[0]?.value;
    return { source, logs, metric, unsynced };
  }

  it('http:// without insecure-skip-tls-verify: not ready with the reason, one log line, no request sent', async (t) => {
    const api = await FakeKubeApiServer.start();
    t.after(() => api.close());
    const { source, logs, metric, unsynced } = await start(t, kubeConfigFor(api.url));
    assert.equal(source.synced, false);
    assert.match(
      source.notReadyReason() ?? '',
      /^kubernetes: kubeconfig .*cluster "c" server http:\/\/127\.0\.0\.1:\d+\/? is plain HTTP; use https, or set insecure-skip-tls-verify: true/,
    );
    assert.equal(logs.length, 1, logs.join('\n'));
    assert.match(logs[0]!, /plain HTTP/);
    assert.equal(await metric('insecure_http'), WATCHED_TYPES.length, 'every watched kind');
    assert.equal(await metric('unreachable'), 0);
    assert.equal(await unsynced(), WATCHED_TYPES.length);
    assert.equal(api.requests.length, 0);
  });

  it('401: not ready with the reason, logged once across many retries; ready once the credentials work', async (t) => {
    const api = await FakeKubeApiServer.start();
    t.after(() => api.close());
    const { source, logs, metric } = await start(t, kubeConfigFor(api.url, { skipTLSVerify: true, token: 'wrong' }));
    await waitUntil(() => source.status().reduce((n, s) => n + s.stats.errors, 0) >= 15, 'many failed retries');
    assert.equal(source.synced, false);
    assert.match(source.notReadyReason() ?? '', /refused the credentials \(401 Unauthorized\)/);
    assert.deepEqual(
      logs.filter((l) => !l.includes('watching')),
      [
        `kubernetes: the API server ${api.url}/ refused the credentials (401 Unauthorized): check the kubeconfig's user (token, client certificate); retrying with backoff`,
      ],
    );
    assert.ok((await metric('unauthorized'))! >= 1);
  });

  for (const istioVersions of [undefined, []]) {
    it(`unreachable (connections cut): not ready with the reason, logged once; ready, and said so, once it answers (${istioVersions ? 'no Istio CRDs' : 'Istio served'})`, async (t) => {
      const api = await FakeKubeApiServer.start(istioVersions ? { istioVersions } : {});
      // A front that cuts every connection until told to pass them to the API server double.
      let open = false;
      const sockets = new Set<net.Socket>();
      const front = net.createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        if (!open) {
          socket.destroy();
          return;
        }
        const upstream = net.connect(Number(new URL(api.url).port), '127.0.0.1');
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      });
      front.listen(0, '127.0.0.1');
      await once(front, 'listening');
      t.after(async () => {
        for (const s of sockets) s.destroy();
        await new Promise((r) => front.close(r));
        await api.close();
      });
      const server = `http://127.0.0.1:${(front.address() as net.AddressInfo).port}`;
      seedArticle(api, { mirror: true });
      const { source, logs, metric } = await start(t, kubeConfigFor(server, { skipTLSVerify: true, token: api.token }));
      await waitUntil(() => source.status().reduce((n, s) => n + s.stats.errors, 0) >= 15, 'many failed retries');
      assert.equal(source.synced, false);
      assert.match(source.notReadyReason() ?? '', /^kubernetes: cannot reach the API server http:\/\/127\.0\.0\.1:\d+\/: (ECONNRESET|EPIPE|socket hang up)/);
      const problems = logs.filter((l) => l.includes('cannot reach'));
      assert.equal(problems.length, 1, logs.join('\n'));
      assert.ok((await metric('unreachable'))! >= 1);

      open = true;
      await waitUntil(() => source.synced, 'synced once the server answers');
      assert.equal(source.notReadyReason(), undefined);
      assert.equal(await metric('unreachable'), 0);
      await waitUntil(() => logs.includes('kubernetes: the API server answers again'), 'the recovery line');
      assert.equal(logs.filter((l) => l.includes('cannot reach')).length, 1);
      for (const reason of ['unreachable', 'error']) assert.equal(await metric(reason), 0, reason);
    });
  }

  it('finds the kubeconfig as kubectl does, and says when there is none', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-kubeconfig-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const none = await loadKubeConfig({}, {}, dir);
    assert.ok('problem' in none);
    assert.equal(none.problem.reason, 'no_kubeconfig');
    assert.match(
      none.problem.message,
      /no kubeconfig: not running in a pod, and KUBECONFIG is not set and .*\.kube\/config does not exist; pass --kubeconfig FILE/,
    );

    const file = join(dir, 'config');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- {name: a, cluster: {server: "https://a.example:6443"}}',
        '- {name: b, cluster: {server: "http://b.example:8080"}}',
        'users: [{name: u, user: {token: t}}]',
        'contexts:',
        '- {name: ctx-a, context: {cluster: a, user: u}}',
        '- {name: ctx-b, context: {cluster: b, user: u}}',
        'current-context: ctx-a',
        '',
      ].join('\n'),
    );
    const viaEnv = await loadKubeConfig({}, { KUBECONFIG: `${join(dir, 'missing')}:${file}` }, '/nonexistent');
    assert.ok('kc' in viaEnv);
    assert.equal(viaEnv.kc.getCurrentCluster()?.server, 'https://a.example:6443');
    assert.equal(checkKubeConfig(viaEnv.kc, viaEnv.from), undefined);

    const b = await loadKubeConfig({ file, context: 'ctx-b' });
    assert.ok('kc' in b);
    assert.equal(checkKubeConfig(b.kc, b.from)?.reason, 'insecure_http');

    await assert.rejects(loadKubeConfig({ file, context: 'nope' }), (err: Error) => {
      assert.equal(err.name, 'KubeConfigError');
      assert.equal(err.message, `--context nope: no such context in ${file} (it has ctx-a, ctx-b)`);
      return true;
    });
    await assert.rejects(loadKubeConfig({ file: join(dir, 'missing') }), /--kubeconfig .*missing: ENOENT/);
  });
});

describe('KubernetesSource: answers of the API server are read within a bound', () => {
  it('a list page past the bound is refused with a clear reason and retried; an event line past it drops the watch, which resumes', async (t) => {
    const BOUND = 4096;
    const big = (name: string, bytes: number) => ({ ...service(name), metadata: { name, namespace: NS, annotations: { pad: 'x'.repeat(bytes) } } });
    const { api, source, logs } = await setup(t, (a) => a.apply(big('huge', 2 * BOUND)), { tuning: { ...TUNING, maxAnswerBytes: BOUND }, syncTimeoutMs: 200 });
    // The Service list is larger than the bound: not synced, and /ready's reason says why.
    await waitUntil(() => statusOf(source, 'Service').stats.errors >= 2, 'the Service list refused, then retried');
    assert.equal(source.synced, false);
    // The double declares its length: refused before a byte of the body is read.
    assert.match(source.notReadyReason() ?? '', /GET \/api\/v1\/services: answer of \d+ bytes is larger than the 4096-byte bound; refused/);
    assert.equal(logs.filter((l) => l.includes('4096-byte bound')).length, 1, 'logged once, not once per retry');
    // The object shrinks: the next list fits, the source syncs.
    api.apply(service('huge'));
    await waitUntil(() => source.synced, 'synced once the list fits');

    // An event larger than the bound on an open watch: the stream is dropped (not read into memory) and resumed.
    await waitUntil(() => api.openWatches('Service') === 1, 'the Service watch open');
    const watchesBefore = api.watchRequests('Service').length;
    api.apply(big('huge2', 2 * BOUND));
    await waitUntil(() => api.watchRequests('Service').length > watchesBefore, 'the watch dropped and opened again');
    assert.ok(statusOf(source, 'Service').stats.errors >= 3);
    // Gone and history compacted: the resumed watch gets 410, relists, and later changes arrive again.
    api.delete('Service', NS, 'huge2');
    api.compact();
    api.apply(service('after'));
    await waitUntil(() => entryOf(source, 'after') !== undefined, 'a later Service seen after the relist');
    assert.equal(entryOf(source, 'huge2'), undefined);
  });
});
