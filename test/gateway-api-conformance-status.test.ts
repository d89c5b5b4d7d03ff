// The Gateway API conformance suite's status cases (Gateways, listeners, route parents), replayed with its own YAML
// (test/fixtures/gateway-api/): on the loaded snapshot (what /config_dump shows, files only), and, where the case
// needs Secrets or an object changed in place (generation bumps), on the API-server double with the status written back.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { CONTROLLER_NAME } from '../src/config/gateway-api/index.js';
import { loadSnapshot, type Snapshot } from '../src/config/index.js';
import { makeCa, opensslMissing } from './harness/certs.js';
import { client, freePort } from './harness/gateway.js';
import {
  assertListeners,
  backendsYaml,
  type Cond,
  fixture,
  gatewayListeners,
  gatewayYaml,
  type ListenerStatus,
  NS,
  parentConditions,
  statusOf,
  suiteYaml,
} from './harness/gateway-api.js';
import { FakeKubeApiServer, type KObject } from './harness/kube-apiserver.js';
import { GATEWAY_API_KINDS, kubeGateway, serviceWithPod } from './harness/kube-cluster.js';

after(() => client.close());

/**
 * A suite fixture loaded beside the suite's `same-namespace` Gateway (port 80) and infra-backend-v1..v3; nothing binds.
 * Each of the fixture's Gateways gets listener ports of its own (18001...): the suite gives every Gateway its own
 * address, while Shadowgate serves all Gateways on one set of ports (two listeners on 80 without hostname conflict).
 */
function load(name: string): Snapshot {
  let next = 18_000;
  const yaml = suiteYaml(name)
    .split(/^---$/m)
    .map((doc) => {
      if (!/^kind: Gateway$/m.test(doc)) return doc;
      const ports = new Map<string, number>();
      return doc.replace(/\bport: (\d+)$/gm, (_, p: string) => {
        if (!ports.has(p)) ports.set(p, ++next);
        return `port: ${ports.get(p)}`;
      });
    })
    .join('---');
  return loadSnapshot([
    { path: 'backends.yaml', text: backendsYaml(['infra-backend-v1', 'infra-backend-v2', 'infra-backend-v3'].map((n) => ({ name: n, port: 1 }))) },
    { path: 'gateway.yaml', text: gatewayYaml(80) },
    { path: `${name}.yaml`, text: yaml },
  ]);
}

const HTTP_ROUTE_OK = ['Accepted=True', 'ResolvedRefs=True'];

describe('Gateway API conformance: Gateway and listener status (files)', () => {
  it('GatewayInvalidRouteKind: an unknown kind is ResolvedRefs False InvalidRouteKinds; HTTPRoute, also listed, stays supported', () => {
    const s = load('gateway-invalid-route-kind');
    assertListeners(gatewayListeners(s, 'gateway-only-invalid-route-kind'), [
      { name: 'http', kinds: [], attachedRoutes: 0, conditions: ['ResolvedRefs=False/InvalidRouteKinds'] },
    ]);
    assertListeners(gatewayListeners(s, 'gateway-supported-and-invalid-route-kind'), [
      { name: 'http', kinds: ['HTTPRoute'], attachedRoutes: 0, conditions: ['ResolvedRefs=False/InvalidRouteKinds'] },
    ]);
  });

  it('GatewayListenerUnsupportedProtocol: a valid protocol name not served is UnsupportedProtocol; no valid listener: the Gateway is not accepted', () => {
    const s = load('gateway-invalid-listeners-unsupported-protocol');
    const gwConds = (name: string) => (statusOf(s, 'Gateway', name).conditions as Cond[]).map((c) => `${c.type}=${c.status}/${c.reason}`);
    assert.ok(gwConds('gateway-only-unsupported-protocols').includes('Accepted=False/ListenersNotValid'));
    assertListeners(gatewayListeners(s, 'gateway-only-unsupported-protocols'), [
      { name: 'invalid', kinds: [], attachedRoutes: 0, conditions: ['Accepted=False/UnsupportedProtocol'] },
    ]);
    assert.ok(gwConds('gateway-supported-and-unsupported-protocols').includes('Accepted=True/ListenersNotValid'));
    assertListeners(gatewayListeners(s, 'gateway-supported-and-unsupported-protocols'), [
      { name: 'http', kinds: ['HTTPRoute'], attachedRoutes: 0, conditions: ['Accepted=True/Accepted'] },
      { name: 'invalid', kinds: [], attachedRoutes: 0, conditions: ['Accepted=False/UnsupportedProtocol'] },
    ]);
    // Both Gateways are read (a protocol name the CRD allows is no error), and the HTTP listener (its port 80 is 18002
    // here) is served beside the same-namespace Gateway's.
    assert.deepEqual(
      s.problems.filter((p) => p.severity === 'error'),
      [],
    );
    assert.deepEqual(
      s.listeners.map((l) => l.port),
      [80, 18_002],
    );
  });

  for (const [name, ok] of [
    ['gateway-secret-missing-reference-grant', false],
    // Four grants, each wrong in one field (namespace, from group, from kind, from namespace).
    ['gateway-secret-invalid-reference-grant', false],
    ['gateway-secret-reference-grant-all-in-namespace', true],
    ['gateway-secret-reference-grant-specific', true],
  ] as const) {
    const suite = name.replace(/(^|-)(\w)/g, (_, __, c: string) => c.toUpperCase());
    it(`${suite}: a Secret in another namespace ${ok ? 'granted: ResolvedRefs True, Programmed True' : 'not granted: ResolvedRefs False RefNotPermitted'}`, () => {
      const s = load(name);
      assertListeners(gatewayListeners(s, name), [
        {
          name: 'https',
          kinds: ['HTTPRoute'],
          attachedRoutes: 0,
          conditions: ok ? ['Programmed=True/Programmed', 'ResolvedRefs=True'] : ['ResolvedRefs=False/RefNotPermitted'],
        },
      ]);
    });
  }

  it('GatewayWithAttachedRoutes (files): a namespace selector on kubernetes.io/metadata.name admits the routes; a route whose hostname matches no listener is not counted', () => {
    const s = load('gateway-with-attached-routes');
    const ok = ['Accepted=True', 'ResolvedRefs=True'];
    assertListeners(gatewayListeners(s, 'gateway-with-one-attached-route'), [{ name: 'http', kinds: ['HTTPRoute'], attachedRoutes: 1, conditions: ok }]);
    assertListeners(gatewayListeners(s, 'gateway-with-two-attached-routes'), [{ name: 'http', kinds: ['HTTPRoute'], attachedRoutes: 2, conditions: ok }]);
    assert.deepEqual(parentConditions(s, 'HTTPRoute', 'http-route-not-accepted')[0]![0], 'Accepted=False/NoMatchingListenerHostname');
    // The unresolved Gateway's Secret is checked only against a cluster (below); its route is attached all the same.
    assert.equal(gatewayListeners(s, 'unresolved-gateway-with-one-attached-unresolved-route')[0]!.attachedRoutes, 1);
    assert.deepEqual(parentConditions(s, 'HTTPRoute', 'http-route-4')[0]![1], 'ResolvedRefs=False/BackendNotFound');
  });

  it('GatewayWithAttachedRoutesWithPort8080: the route with sectionName counts on its listener only', () => {
    const s = load('gateway-with-attached-routes-with-port-8080');
    const ok = ['Accepted=True', 'ResolvedRefs=True'];
    assertListeners(gatewayListeners(s, 'gateway-with-two-listeners-and-one-attached-route'), [
      { name: 'http-unattached', kinds: ['HTTPRoute'], attachedRoutes: 0, conditions: ok },
      { name: 'http', kinds: ['HTTPRoute'], attachedRoutes: 1, conditions: ok },
    ]);
  });

  it('GatewayInvalidParametersRef: a parametersRef (Shadowgate takes none) is Accepted False InvalidParameters; nothing is served', () => {
    const s = load('gateway-invalid-parameters-ref');
    const conds = (statusOf(s, 'Gateway', 'gateway-invalid-parameters-ref').conditions as Cond[]).map(
      (c) => `${c.type}=${c.status}/${c.reason}/${c.observedGeneration}`,
    );
    assert.deepEqual(conds, ['Accepted=False/InvalidParameters/1', 'Programmed=False/Invalid/1']);
    assert.deepEqual(
      s.problems.filter((p) => p.severity !== 'info').map((p) => `${p.code} ${p.path}`),
      ['invalid-parameters spec.infrastructure.parametersRef'],
    );
    assert.deepEqual(
      s.listeners.map((l) => l.port),
      [80],
      'only the same-namespace Gateway is served',
    );
  });

  it('GatewayNameMaximumLength: a Gateway named with 253 characters gets its conditions for its generation', () => {
    const s = load('gateway-name-maximum-length');
    const gw = s.resources.find((r) => r.kind === 'Gateway' && r.name.startsWith('gateway-name-maximum-length'))!;
    assert.equal(gw.name.length, 253);
    assert.deepEqual(
      (gw.status!.conditions as Cond[]).map((c) => `${c.type}=${c.status}/${c.observedGeneration}`),
      ['Accepted=True/1', 'Programmed=True/1'],
    );
  });

  it('HTTPRouteDisallowedKind: an HTTPRoute on a listener that allows TLSRoutes only: NotAllowedByListeners, refs resolved, 0 attached', () => {
    const s = load('httproute-disallowed-kind');
    assert.deepEqual(parentConditions(s, 'HTTPRoute', 'disallowed-kind'), [['Accepted=False/NotAllowedByListeners', 'ResolvedRefs=True/ResolvedRefs']]);
    assert.equal(gatewayListeners(s, 'tlsroutes-only')[0]!.attachedRoutes, 0);
  });
});

/**
 * The suite's YAML as cluster objects, the class filled in and each Gateway's listener ports mapped to free ports of
 * its own (the suite gives every Gateway its own address; Shadowgate would merge Gateways sharing a port).
 */
async function clusterObjects(name: string): Promise<KObject[]> {
  const objects = parseAllDocuments(suiteYaml(name))
    .map((d) => d.toJS() as KObject | null)
    .filter((o): o is KObject => o !== null);
  for (const o of objects) {
    if (o.kind !== 'Gateway') continue;
    const ports = new Map<number, number>();
    for (const l of (o.spec as { listeners: Array<{ port: number }> }).listeners) {
      if (!ports.has(l.port)) ports.set(l.port, await freePort());
      l.port = ports.get(l.port)!;
    }
  }
  return objects;
}

/** A gateway watching `NS` on a fresh API-server double holding `objects` and the suite's infra-backend-v1 Service. */
async function cluster(objects: readonly KObject[]) {
  const api = await FakeKubeApiServer.start({ extraKinds: GATEWAY_API_KINDS });
  for (const o of serviceWithPod(NS, 'infra-backend-v1', { app: 'infra-backend-v1' }, '127.0.0.1', 3000, 8080)) api.apply(o);
  for (const o of objects) api.apply(o);
  const gw = await kubeGateway(api, NS);
  const written = (kind: string, name: string) => api.get(kind, NS, name)?.status as Record<string, unknown> | undefined;
  return {
    api,
    gw,
    written,
    listeners: (name: string) => (written('Gateway', name)?.listeners ?? []) as ListenerStatus[],
    /** `Type=Status/Reason` of each parent's conditions in an HTTPRoute's written status. */
    parents: (name: string) => parentConditions({ resources: [{ kind: 'HTTPRoute', name, status: written('HTTPRoute', name) ?? {} }] }, 'HTTPRoute', name),
    async close() {
      await gw.shutdown();
      await api.close();
    },
  };
}

const resolvedRefs = (l: ListenerStatus | undefined) => l?.conditions.find((c) => c.type === 'ResolvedRefs');

describe('Gateway API conformance: status written to the cluster', { timeout: 120_000 }, () => {
  it('GatewayInvalidTLSConfiguration: a Secret missing or malformed, a ref of another group or kind: InvalidCertificateRef', async () => {
    const c = await cluster(await clusterObjects('gateway-invalid-tls-configuration'));
    try {
      const gateways = [
        'gateway-certificate-nonexistent-secret',
        'gateway-certificate-unsupported-group',
        'gateway-certificate-unsupported-kind',
        'gateway-certificate-malformed-secret',
      ];
      await c.api.until(() => gateways.every((g) => resolvedRefs(c.listeners(g)[0])?.status === 'False'));
      for (const g of gateways) {
        assertListeners(c.listeners(g), [{ name: 'https', kinds: ['HTTPRoute'], attachedRoutes: 0, conditions: ['ResolvedRefs=False/InvalidCertificateRef'] }]);
      }
    } finally {
      await c.close();
    }
  });

  it('GatewayWithAttachedRoutes: attachedRoutes counted, also on a listener whose Secret is missing (not programmed)', async () => {
    const c = await cluster(await clusterObjects('gateway-with-attached-routes'));
    try {
      const unresolved = 'unresolved-gateway-with-one-attached-unresolved-route';
      await c.api.until(() => resolvedRefs(c.listeners(unresolved)[0])?.status === 'False' && c.listeners('gateway-with-two-attached-routes').length > 0);
      const ok = ['Accepted=True', 'ResolvedRefs=True'];
      assertListeners(c.listeners('gateway-with-one-attached-route'), [{ name: 'http', kinds: ['HTTPRoute'], attachedRoutes: 1, conditions: ok }]);
      assertListeners(c.listeners('gateway-with-two-attached-routes'), [{ name: 'http', kinds: ['HTTPRoute'], attachedRoutes: 2, conditions: ok }]);
      assertListeners(c.listeners(unresolved), [
        { name: 'tls', kinds: ['HTTPRoute'], attachedRoutes: 1, conditions: ['Programmed=False', 'ResolvedRefs=False'] },
      ]);
      await c.api.until(() => c.written('HTTPRoute', 'http-route-4') && c.written('HTTPRoute', 'http-route-not-accepted'));
      assert.equal(c.parents('http-route-not-accepted')[0]![0], 'Accepted=False/NoMatchingListenerHostname');
      assert.equal(c.parents('http-route-4')[0]![1]!.startsWith('ResolvedRefs=False/'), true);
    } finally {
      await c.close();
    }
  });

  it('HTTPRouteObservedGenerationBump: a changed route is accepted and resolved again with the new generation', async () => {
    const [route] = await clusterObjects('httproute-observed-generation-bump');
    const c = await cluster([gatewayObject(await freePort()), route!]);
    for (const o of serviceWithPod(NS, 'infra-backend-v2', { app: 'infra-backend-v2' }, '127.0.0.1', 3000, 8080)) c.api.apply(o);
    try {
      const parent = () => ((c.written('HTTPRoute', 'observed-generation-bump')?.parents ?? []) as Array<{ conditions: Cond[] }>)[0];
      const at = (generation: number) => parent()?.conditions.every((x) => x.observedGeneration === generation && x.status === 'True');
      await c.api.until(() => at(1));
      const mutated = structuredClone(route!) as { spec: { rules: Array<{ backendRefs: Array<{ name: string }> }> } };
      mutated.spec.rules[0]!.backendRefs[0]!.name = 'infra-backend-v2';
      c.api.apply(mutated as unknown as KObject);
      assert.equal(c.api.get('HTTPRoute', NS, 'observed-generation-bump')!.metadata!.generation, 2);
      await c.api.until(() => at(2));
      assert.deepEqual(
        parent()!.conditions.map((x) => `${x.type}=${x.status}`),
        HTTP_ROUTE_OK,
      );
    } finally {
      await c.close();
    }
  });

  it('GatewayObservedGenerationBump: a listener added, the Gateway’s conditions carry the new generation', async () => {
    const [gateway] = await clusterObjects('gateway-observed-generation-bump');
    const c = await cluster([gateway!]);
    try {
      const name = 'gateway-observed-generation-bump';
      const latest = (generation: number) =>
        ((c.written('Gateway', name)?.conditions ?? []) as Cond[]).length > 0 &&
        ((c.written('Gateway', name)?.conditions ?? []) as Cond[]).every((x) => x.observedGeneration === generation);
      await c.api.until(() => latest(1));
      const mutated = structuredClone(gateway!) as { spec: { listeners: Array<Record<string, unknown>> } };
      const port = mutated.spec.listeners[0]!.port;
      mutated.spec.listeners.push({ name: 'alternate', hostname: 'foo.com', port, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } });
      c.api.apply(mutated as unknown as KObject);
      assert.equal(c.api.get('Gateway', NS, name)!.metadata!.generation, 2);
      await c.api.until(() => latest(2) && c.listeners(name).length === 2);
      assert.deepEqual(
        c.listeners(name).map((l) => l.conditions.every((x) => x.observedGeneration === 2)),
        [true, true],
      );
    } finally {
      await c.close();
    }
  });
});

describe('Gateway API conformance: listeners changed in the cluster', { timeout: 120_000, skip: opensslMissing() }, () => {
  it('GatewayModifyListeners: a listener added takes the route too; a listener removed leaves its status', async () => {
    const certs = makeCa();
    certs.issue('tls-validity-checks-certificate', 'secure.test.com', ['DNS:secure.test.com', 'DNS:*.test.com']);
    const pem = (f: string) => readFileSync(certs.path(f)).toString('base64');
    // The suite's `tls-validity-checks-certificate` Secret (conformance/base/manifests.yaml), a certificate of our CA.
    const secret: KObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: 'tls-validity-checks-certificate', namespace: NS },
      data: { 'tls.crt': pem('tls-validity-checks-certificate.crt'), 'tls.key': pem('tls-validity-checks-certificate.key') },
    };
    const objects = await clusterObjects('gateway-modify-listeners');
    const c = await cluster([secret, ...objects]);
    try {
      const ok = ['Accepted=True', 'ResolvedRefs=True'];
      const generation = (name: string) => Number(c.api.get('Gateway', NS, name)!.metadata!.generation);
      const latest = (name: string) =>
        ((c.written('Gateway', name)?.conditions ?? []) as Cond[]).length > 0 &&
        ((c.written('Gateway', name)?.conditions ?? []) as Cond[]).every((x) => x.observedGeneration === generation(name));
      const add = 'gateway-add-listener';
      await c.api.until(() => latest(add) && resolvedRefs(c.listeners(add)[0])?.status === 'True');
      assertListeners(c.listeners(add), [{ name: 'https', kinds: ['HTTPRoute'], attachedRoutes: 1, conditions: ok }]);
      const added = structuredClone(objects.find((o) => o.metadata?.name === add)!) as { spec: { listeners: Array<Record<string, unknown>> } };
      added.spec.listeners.push({
        name: 'http',
        port: await freePort(),
        protocol: 'HTTP',
        hostname: 'data.test.com',
        allowedRoutes: { namespaces: { from: 'All' } },
      });
      c.api.apply(added as unknown as KObject);
      assert.equal(generation(add), 2);
      await c.api.until(() => latest(add) && c.listeners(add).length === 2);
      assertListeners(c.listeners(add), [
        { name: 'https', kinds: ['HTTPRoute'], attachedRoutes: 1, conditions: ok },
        { name: 'http', kinds: ['HTTPRoute'], attachedRoutes: 1, conditions: ok },
      ]);

      const remove = 'gateway-remove-listener';
      await c.api.until(() => latest(remove) && c.listeners(remove).length === 2);
      const removed = structuredClone(objects.find((o) => o.metadata?.name === remove)!) as { spec: { listeners: Array<{ name: string }> } };
      removed.spec.listeners = removed.spec.listeners.filter((l) => l.name === 'http');
      c.api.apply(removed as unknown as KObject);
      assert.equal(generation(remove), 2);
      await c.api.until(() => latest(remove) && c.listeners(remove).length === 1);
      assertListeners(c.listeners(remove), [{ name: 'http', kinds: ['HTTPRoute'], attachedRoutes: 1, conditions: ok }]);
    } finally {
      await c.close();
      certs.remove();
    }
  });
});

describe('Gateway API conformance: GatewayClass', { timeout: 120_000 }, () => {
  it('GatewayClassObservedGenerationBump: a changed class is accepted again with the new generation', async () => {
    const [cls] = parseAllDocuments(fixture('gatewayclass-observed-generation-bump').replace('"{GATEWAY_CONTROLLER_NAME}"', CONTROLLER_NAME)).map(
      (d) => d.toJS() as KObject,
    );
    const c = await cluster([cls!]);
    try {
      const name = 'gatewayclass-observed-generation-bump';
      const accepted = (generation: number) =>
        ((c.api.get('GatewayClass', '', name)?.status as { conditions?: Cond[] } | undefined)?.conditions ?? []).some(
          (x) => x.type === 'Accepted' && x.status === 'True' && x.observedGeneration === generation,
        );
      await c.api.until(() => accepted(1));
      c.api.apply({ ...cls!, spec: { ...(cls!.spec as object), description: 'new' } });
      assert.equal(c.api.get('GatewayClass', '', name)!.metadata!.generation, 2);
      await c.api.until(() => accepted(2));
    } finally {
      await c.close();
    }
  });
});

/** The suite's `same-namespace` Gateway as a cluster object, on `port`. */
function gatewayObject(port: number): KObject {
  return parseAllDocuments(gatewayYaml(port))[0]!.toJS() as KObject;
}
