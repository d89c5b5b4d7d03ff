// Gateway API status written back to the API server (issue 18), on the API-server double: GatewayClass watched
// (only classes whose controllerName Shadowgate answers to), Accepted/ResolvedRefs with the spec's reasons,
// Programmed and per-listener attachedRoutes on Gateways, observedGeneration, HTTPRoute status.parents with
// controllerName beside another controller's entries, supportedFeatures; merge patches with a resourceVersion
// precondition, a conflict re-read and retried, and no write when nothing changed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { SUPPORTED_FEATURES } from '../src/config/gateway-api/index.js';
import { makeCa, opensslMissing } from './harness/certs.js';
import { client, freePort, send } from './harness/gateway.js';
import { FakeKubeApiServer, type KObject } from './harness/kube-apiserver.js';
import { GATEWAY_API_KINDS, kubeGateway, LogLines, podServer, serviceWithPod } from './harness/kube-cluster.js';

after(() => client.close());

const NS = 'default';
const OURS = 'example.com/shadowgate';
const THEIRS = 'example.com/other-controller';
const G = 'gateway.networking.k8s.io';

type Cond = { type: string; status: string; reason: string; observedGeneration: number; lastTransitionTime?: string };
const conds = (list: unknown): Array<[string, string, string, number]> =>
  ((list ?? []) as Cond[])
    .map((c): [string, string, string, number] => [c.type, c.status, c.reason, c.observedGeneration])
    .sort((a, b) => a[0].localeCompare(b[0]));

function route(name: string, spec: Record<string, unknown>, ns = NS, status?: Record<string, unknown>): KObject {
  return {
    apiVersion: `${G}/v1`,
    kind: 'HTTPRoute',
    metadata: { name, namespace: ns, creationTimestamp: `2026-11-01T00:00:0${name.length % 10}Z` },
    spec,
    ...(status ? { status } : {}),
  };
}

describe('Gateway API status written to the API server', { timeout: 120_000 }, () => {
  it('conditions with the reasons the spec names, attachedRoutes, supportedFeatures, other controllers left alone, writes only on change', async () => {
    const api = await FakeKubeApiServer.start({ extraKinds: GATEWAY_API_KINDS });
    const v1 = await podServer('127.0.0.2', 0, 'v1\n');
    const port = v1.port; // the pod listens on 127.0.0.2; the Gateway's listener takes the same number on 127.0.0.1
    for (const o of serviceWithPod(NS, 'nginx-v1', { app: 'nginx', version: 'v1' }, '127.0.0.2', v1.port)) api.apply(o);
    api.apply({ apiVersion: `${G}/v1`, kind: 'GatewayClass', metadata: { name: 'sg' }, spec: { controllerName: OURS } });
    api.apply({ apiVersion: `${G}/v1`, kind: 'GatewayClass', metadata: { name: 'theirs' }, spec: { controllerName: THEIRS } });
    api.apply({
      apiVersion: `${G}/v1`,
      kind: 'Gateway',
      metadata: { name: 'edge', namespace: NS },
      spec: { gatewayClassName: 'sg', listeners: [{ name: 'http', port, protocol: 'HTTP' }] },
    });
    api.apply({
      apiVersion: `${G}/v1`,
      kind: 'Gateway',
      metadata: { name: 'foreign', namespace: NS },
      spec: { gatewayClassName: 'theirs', listeners: [{ name: 'http', port: port + 1, protocol: 'HTTP' }] },
    });
    const backend = (name: string, extra: Record<string, unknown> = {}) => ({ rules: [{ backendRefs: [{ name, port: 8000, ...extra }] }] });
    const theirEntry = {
      parentRef: { group: G, kind: 'Gateway', namespace: NS, name: 'foreign' },
      controllerName: THEIRS,
      conditions: [
        { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'theirs', observedGeneration: 1, lastTransitionTime: '2026-01-01T00:00:00Z' },
      ],
    };
    api.apply(route('good', { parentRefs: [{ name: 'edge' }], hostnames: ['good.example'], ...backend('nginx-v1') }));
    api.apply(route('no-backend', { parentRefs: [{ name: 'edge' }], hostnames: ['nb.example'], ...backend('nginx-none') }));
    api.apply(route('bad-kind', { parentRefs: [{ name: 'edge' }], hostnames: ['bk.example'], ...backend('settings', { group: '', kind: 'ConfigMap' }) }));
    api.apply(route('no-parent', { parentRefs: [{ name: 'nope' }], ...backend('nginx-v1') }));
    api.apply(route('cross-ns', { parentRefs: [{ name: 'edge', namespace: NS }], ...backend('nginx-v1', { namespace: NS }) }, 'team'));
    api.apply(route('theirs-only', { parentRefs: [{ name: 'foreign' }], ...backend('nginx-v1') }, NS, { parents: [theirEntry] }));
    api.apply(
      route('mixed', { parentRefs: [{ name: 'edge' }, { name: 'foreign' }], hostnames: ['mixed.example'], ...backend('nginx-v1') }, NS, {
        parents: [theirEntry],
      }),
    );

    const gw = await kubeGateway(api, NS, { gatewayController: OURS, kubernetes: { namespace: undefined } });
    const status = (kind: string, name: string, ns = NS) =>
      api.get(kind, kind === 'GatewayClass' ? '' : ns, name)?.status as Record<string, unknown> | undefined;
    const parents = (name: string, ns = NS) =>
      (status('HTTPRoute', name, ns)?.parents ?? []) as Array<{ controllerName: string; parentRef: Record<string, unknown>; conditions: Cond[] }>;
    const ours = (name: string, ns = NS) => parents(name, ns).filter((p) => p.controllerName === OURS);
    try {
      assert.equal(gw.isReady(), true);
      // GatewayClass is listed cluster-wide (it is cluster-scoped), whatever the namespace.
      assert.ok(api.listRequests('GatewayClass').every((r) => r.path === `/apis/${G}/v1/gatewayclasses`));
      // Each object is written once, once the source has synced.
      const expected = [
        'GatewayClass sg',
        'Gateway edge',
        ...['good', 'no-backend', 'bad-kind', 'no-parent', 'mixed'].map((n) => `HTTPRoute ${n}`),
        'HTTPRoute cross-ns',
      ];
      await api.until(() => expected.every((e) => api.statusWrites.some((w) => `${w.kind} ${w.name}` === e && w.answered === 200)));

      const cls = status('GatewayClass', 'sg')!;
      assert.deepEqual(conds(cls.conditions), [['Accepted', 'True', 'Accepted', 1]]);
      assert.deepEqual(
        cls.supportedFeatures,
        SUPPORTED_FEATURES.map((name) => ({ name })),
      );
      assert.equal(status('GatewayClass', 'theirs'), undefined, "another controller's class: not ours to write");

      const edge = status('Gateway', 'edge')!;
      // The address its listener's port is bound to (--bind 127.0.0.1).
      assert.deepEqual(edge.addresses, [{ type: 'IPAddress', value: '127.0.0.1' }]);
      assert.deepEqual(conds(edge.conditions), [
        ['Accepted', 'True', 'Accepted', 1],
        ['Programmed', 'True', 'Programmed', 1],
      ]);
      const listeners = edge.listeners as Array<{ name: string; attachedRoutes: number; conditions: Cond[]; supportedKinds: unknown }>;
      assert.equal(listeners.length, 1);
      assert.equal(listeners[0]!.name, 'http');
      // good, no-backend, bad-kind, mixed attach; no-parent names another Gateway, cross-ns is not allowed (from: Same).
      assert.equal(listeners[0]!.attachedRoutes, 4);
      assert.deepEqual(listeners[0]!.supportedKinds, [
        { group: G, kind: 'HTTPRoute' },
        { group: G, kind: 'GRPCRoute' },
      ]);
      assert.deepEqual(conds(listeners[0]!.conditions), [
        ['Accepted', 'True', 'Accepted', 1],
        ['Conflicted', 'False', 'NoConflicts', 1],
        ['Programmed', 'True', 'Programmed', 1],
        ['ResolvedRefs', 'True', 'ResolvedRefs', 1],
      ]);
      for (const c of [...(edge.conditions as Cond[]), ...listeners[0]!.conditions])
        assert.match(c.lastTransitionTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(status('Gateway', 'foreign'), undefined, "a Gateway of another controller's class: ignored");

      const routeConds = (name: string, ns = NS) => ours(name, ns).map((p) => conds(p.conditions));
      assert.deepEqual(routeConds('good'), [
        [
          ['Accepted', 'True', 'Accepted', 1],
          ['ResolvedRefs', 'True', 'ResolvedRefs', 1],
        ],
      ]);
      assert.deepEqual(ours('good')[0]!.parentRef, { group: G, kind: 'Gateway', namespace: NS, name: 'edge' });
      assert.deepEqual(routeConds('no-backend'), [
        [
          ['Accepted', 'True', 'Accepted', 1],
          ['ResolvedRefs', 'False', 'BackendNotFound', 1],
        ],
      ]);
      assert.deepEqual(routeConds('bad-kind'), [
        [
          ['Accepted', 'True', 'Accepted', 1],
          ['ResolvedRefs', 'False', 'InvalidKind', 1],
        ],
      ]);
      assert.deepEqual(routeConds('no-parent'), [
        [
          ['Accepted', 'False', 'NoMatchingParent', 1],
          ['ResolvedRefs', 'True', 'ResolvedRefs', 1],
        ],
      ]);
      assert.deepEqual(routeConds('cross-ns', 'team'), [
        [
          ['Accepted', 'False', 'NotAllowedByListeners', 1],
          ['ResolvedRefs', 'False', 'RefNotPermitted', 1],
        ],
      ]);
      // Another controller's entries stay as they were, beside ours; a route only theirs is not written at all.
      assert.deepEqual(
        parents('mixed').map((p) => p.controllerName),
        [THEIRS, OURS],
      );
      assert.deepEqual(
        parents('mixed').find((p) => p.controllerName === THEIRS),
        theirEntry,
      );
      assert.ok(!api.statusWrites.some((w) => w.name === 'theirs-only'));
      assert.deepEqual(parents('theirs-only'), [theirEntry]);

      // Every write a merge patch carrying the resourceVersion it was computed against, none refused.
      for (const w of api.statusWrites) {
        assert.equal(w.method, 'PATCH');
        assert.equal(w.contentType, 'application/merge-patch+json');
        assert.match(String(w.body.metadata?.resourceVersion), /^\d+$/);
        assert.equal(w.answered, 200);
      }
      const writesOf = (name: string) => api.statusWrites.filter((w) => w.name === name && w.answered === 200).length;
      for (const e of expected) assert.equal(writesOf(e.split(' ')[1]!), 1, `${e} written once`);

      // Traffic follows the accepted route.
      const answer = await send(port, '/', { headers: { host: 'good.example' } });
      assert.equal(answer.status, 200);

      // A spec change (generation 2) with a concurrent writer first: 409, re-read, written; times kept where the status held.
      // Transition times set in the past first (as if written long ago), so "kept" cannot pass by landing in the same second.
      const stored = api.get('HTTPRoute', NS, 'good')!;
      const old = structuredClone(stored.status) as { parents: Array<{ controllerName: string; conditions: Cond[] }> };
      for (const p of old.parents) for (const c of p.conditions) c.lastTransitionTime = '2020-01-01T00:00:00Z';
      api.apply({ ...stored, status: old });
      const before = ours('good')[0]!.conditions;
      assert.ok(before.every((c) => c.lastTransitionTime === '2020-01-01T00:00:00Z'));
      api.conflictNextStatusWrites = 1;
      api.apply(route('good', { parentRefs: [{ name: 'edge' }], hostnames: ['good.example', 'www.good.example'], ...backend('nginx-v1') }));
      await api.until(() => ours('good')[0]?.conditions.every((c) => c.observedGeneration === 2));
      assert.deepEqual(
        api.statusWrites.filter((w) => w.name === 'good').map((w) => w.answered),
        [200, 409, 200],
      );
      for (const c of ours('good')[0]!.conditions) {
        assert.equal(c.lastTransitionTime, before.find((b) => b.type === c.type)!.lastTransitionTime, `${c.type}: status held, time kept`);
      }
      // Nothing else changed: nothing else was written again.
      for (const e of expected.filter((x) => x !== 'HTTPRoute good')) assert.equal(writesOf(e.split(' ')[1]!), 1, `${e} not rewritten`);

      // A backend appearing flips ResolvedRefs to True, with a new transition time.
      for (const o of serviceWithPod(NS, 'nginx-none', { app: 'none' }, '127.0.0.3', v1.port)) api.apply(o);
      await api.until(() => ours('no-backend')[0]?.conditions.find((c) => c.type === 'ResolvedRefs')?.status === 'True');
      assert.equal(writesOf('no-backend'), 2);
    } finally {
      await gw.shutdown();
      await v1.close();
      await api.close();
    }
  });

  it('a status subresource Shadowgate may not write (403): one log line, serving goes on, written once allowed', async () => {
    const api = await FakeKubeApiServer.start({ extraKinds: GATEWAY_API_KINDS });
    const logs = new LogLines();
    const port = await freePort();
    const gateway = (hostname: string): KObject => ({
      apiVersion: `${G}/v1`,
      kind: 'Gateway',
      metadata: { name: 'edge', namespace: NS },
      spec: { gatewayClassName: 'shadowgate', listeners: [{ name: 'http', port, protocol: 'HTTP', hostname }] },
    });
    api.apply(gateway('a.example'));
    api.forbidStatusWrites = true;
    const gw = await kubeGateway(api, NS, { log: logs.log });
    try {
      assert.equal(gw.isReady(), true);
      const line = await logs.until(/cannot write the status/);
      assert.match(
        line,
        /^kubernetes: cannot write the status of Gateway default\/edge: 403 Forbidden: .*\(grant update and patch on its status subresource: deploy\/k8s\/gateway has the Role\); tried again on the next change$/,
      );
      // Another change, still refused: not logged again.
      api.apply(gateway('b.example'));
      await api.until(() => api.statusWrites.filter((w) => w.answered === 403).length >= 2);
      assert.equal(logs.lines.filter((l) => l.includes('cannot write the status')).length, 1, logs.lines.join('\n'));
      // Allowed again: the next change writes it.
      api.forbidStatusWrites = false;
      api.apply(gateway('c.example'));
      const written = await api.until(() => api.statusWrites.find((w) => w.answered === 200));
      assert.equal(written.kind, 'Gateway');
      assert.deepEqual(conds((api.get('Gateway', NS, 'edge')!.status as { conditions: unknown }).conditions), [
        ['Accepted', 'True', 'Accepted', 3],
        ['Programmed', 'True', 'Programmed', 3],
      ]);
    } finally {
      await gw.shutdown();
      await api.close();
    }
  });
  it('an HTTPS listener whose certificateRefs Secret is missing or malformed: ResolvedRefs False InvalidCertificateRef, True once a usable Secret appears', {
    skip: opensslMissing(),
  }, async () => {
    const certs = makeCa();
    certs.issue('web', 'web.example.com', ['DNS:web.example.com']);
    const api = await FakeKubeApiServer.start({ extraKinds: GATEWAY_API_KINDS });
    const [httpPort, httpsPort, onlyPort] = [await freePort(), await freePort(), await freePort()];
    const tls = { mode: 'Terminate', certificateRefs: [{ name: 'web-cert' }] };
    api.apply({
      apiVersion: `${G}/v1`,
      kind: 'Gateway',
      metadata: { name: 'mixed', namespace: NS },
      spec: {
        gatewayClassName: 'shadowgate',
        listeners: [
          { name: 'http', port: httpPort, protocol: 'HTTP' },
          { name: 'https', port: httpsPort, protocol: 'HTTPS', hostname: 'web.example.com', tls },
        ],
      },
    });
    api.apply({
      apiVersion: `${G}/v1`,
      kind: 'Gateway',
      metadata: { name: 'tls-only', namespace: NS },
      spec: { gatewayClassName: 'shadowgate', listeners: [{ name: 'https', port: onlyPort, protocol: 'HTTPS', hostname: 'web.example.com', tls }] },
    });
    type Listener = { name: string; supportedKinds: unknown; conditions: Array<Cond & { message: string }> };
    const gwStatus = (name: string) => api.get('Gateway', NS, name)?.status as { conditions?: Cond[]; listeners?: Listener[]; addresses?: unknown } | undefined;
    const listener = (name: string, l: string) => gwStatus(name)?.listeners?.find((x) => x.name === l);
    const resolved = (name: string) => listener(name, 'https')?.conditions.find((c) => c.type === 'ResolvedRefs');
    const gw = await kubeGateway(api, NS);
    try {
      await api.until(() => resolved('mixed')?.status === 'False' && resolved('tls-only')?.status === 'False');
      assert.deepEqual(conds(listener('mixed', 'https')!.conditions), [
        ['Accepted', 'True', 'Accepted', 1],
        ['Conflicted', 'False', 'NoConflicts', 1],
        ['Programmed', 'False', 'Invalid', 1],
        ['ResolvedRefs', 'False', 'InvalidCertificateRef', 1],
      ]);
      assert.equal(resolved('mixed')!.message, 'Secret default/web-cert not found');
      assert.deepEqual(listener('mixed', 'https')!.supportedKinds, [
        { group: G, kind: 'HTTPRoute' },
        { group: G, kind: 'GRPCRoute' },
      ]);
      assert.deepEqual(conds(listener('mixed', 'http')!.conditions), [
        ['Accepted', 'True', 'Accepted', 1],
        ['Conflicted', 'False', 'NoConflicts', 1],
        ['Programmed', 'True', 'Programmed', 1],
        ['ResolvedRefs', 'True', 'ResolvedRefs', 1],
      ]);
      // Some listener is not served: accepted with ListenersNotValid; programmed while another listener is.
      assert.deepEqual(conds(gwStatus('mixed')!.conditions), [
        ['Accepted', 'True', 'ListenersNotValid', 1],
        ['Programmed', 'True', 'Programmed', 1],
      ]);
      assert.deepEqual(conds(gwStatus('tls-only')!.conditions), [
        ['Accepted', 'True', 'ListenersNotValid', 1],
        ['Programmed', 'False', 'Invalid', 1],
      ]);
      // Addresses: where programmed listeners listen; none for a Gateway with none.
      assert.deepEqual(gwStatus('mixed')!.addresses, [{ type: 'IPAddress', value: '127.0.0.1' }]);
      assert.deepEqual(gwStatus('tls-only')!.addresses, []);
      // Never written as resolved while the Secrets were still being listed.
      const httpsResolved = (w: (typeof api.statusWrites)[number]) =>
        (w.body.status as { listeners?: Listener[] } | undefined)?.listeners?.find((l) => l.name === 'https')?.conditions.find((c) => c.type === 'ResolvedRefs')
          ?.status;
      assert.ok(api.statusWrites.filter((w) => w.kind === 'Gateway').every((w) => httpsResolved(w) === 'False'));

      // A Secret that is no certificate (the conformance suite's malformed one): still InvalidCertificateRef, saying why.
      const hello = Buffer.from('Hello world\n').toString('base64');
      const secret = (crt: string, key: string): KObject => ({
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: { name: 'web-cert', namespace: NS },
        data: { 'tls.crt': crt, 'tls.key': key },
      });
      api.apply(secret(hello, hello));
      await api.until(() => /^Secret default\/web-cert: not a PEM certificate and key/.test(resolved('mixed')?.message ?? ''));
      assert.equal(resolved('mixed')!.reason, 'InvalidCertificateRef');

      // A usable Secret: resolved and programmed on the next write, without a config reload; the Gateways' conditions follow.
      const pem = (f: string) => readFileSync(certs.path(f)).toString('base64');
      const reloads = gw.metrics.reloads;
      const before = JSON.stringify(await reloads.get());
      api.apply(secret(pem('web.crt'), pem('web.key')));
      await api.until(() => resolved('mixed')?.status === 'True' && resolved('tls-only')?.status === 'True');
      for (const name of ['mixed', 'tls-only']) {
        assert.deepEqual(conds(listener(name, 'https')!.conditions), [
          ['Accepted', 'True', 'Accepted', 1],
          ['Conflicted', 'False', 'NoConflicts', 1],
          ['Programmed', 'True', 'Programmed', 1],
          ['ResolvedRefs', 'True', 'ResolvedRefs', 1],
        ]);
        assert.deepEqual(conds(gwStatus(name)!.conditions), [
          ['Accepted', 'True', 'Accepted', 1],
          ['Programmed', 'True', 'Programmed', 1],
        ]);
        assert.deepEqual(gwStatus(name)!.addresses, [{ type: 'IPAddress', value: '127.0.0.1' }]);
      }
      assert.equal(JSON.stringify(await reloads.get()), before, 'a Secret change is no config reload');
    } finally {
      await gw.shutdown();
      await api.close();
      certs.remove();
    }
  });
});
