// The Gateway API conformance suite's Mesh (GAMMA) HTTP cases, replayed over real sockets with its own YAML
// (test/fixtures/gateway-api/mesh-*.yaml): HTTPRoutes bound to a Service route that Service's traffic, which the
// gateway takes over (it listens on the Service's ports), as the suite's sidecars would.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { client, freePort, seededRandom, send, startGateway, type TestGateway } from './harness/gateway.js';
import { fixture, parentConditions } from './harness/gateway-api.js';
import { startUpstream, type TestUpstream } from './harness/upstream.js';

after(() => client.close());

const MESH = 'gateway-conformance-mesh';

interface Mesh {
  /** The Services' ports 80 and 8080 (conformance/mesh/manifests.yaml) on free loopback ports. */
  p80: number;
  p8080: number;
  tg: TestGateway;
  pods: Record<'v1' | 'v2', TestUpstream>;
  /** GET `path` with `Host: host` on the Service port `port` (80 by default). */
  get(path: string, o?: { host?: string; port?: number; headers?: Record<string, string> }): ReturnType<typeof send>;
}

/**
 * The suite's mesh Services `echo` (both pods), `echo-v1` and `echo-v2` (one each), ports `http` 80 and `http-alt`
 * 8080, as ServiceEntries the gateway listens on; a fixture's 80 and 8080 (its parentRefs' and backendRefs' Service
 * ports) mapped to the same free ports, nothing else changed.
 */
async function mesh(name: string | undefined, fn: (m: Mesh) => Promise<void>, opts = {}): Promise<void> {
  const v1 = await startUpstream('echo-v1');
  const v2 = await startUpstream('echo-v2');
  const [p80, p8080] = [await freePort(), await freePort()];
  const service = (svc: string, pods: TestUpstream[]) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${svc}, namespace: ${MESH}}
spec:
  hosts: [${svc}.${MESH}.svc.cluster.local]
  ports: [{number: ${p80}, name: http, protocol: HTTP}, {number: ${p8080}, name: http-alt, protocol: HTTP}]
  resolution: STATIC
  endpoints: [${pods.map((p) => `{address: 127.0.0.1, ports: {http: ${p.port}, http-alt: ${p.port}}}`).join(', ')}]
`;
  const files: Record<string, string> = { 'services.yaml': [service('echo', [v1, v2]), service('echo-v1', [v1]), service('echo-v2', [v2])].join('---\n') };
  if (name)
    files['route.yaml'] = fixture(name)
      .replace(/\bport: 80$/gm, `port: ${p80}`)
      .replace(/\bport: 8080$/gm, `port: ${p8080}`);
  let tg: TestGateway | undefined;
  try {
    tg = await startGateway(files, opts);
    assert.deepEqual(
      tg.gw.snapshot.problems.filter((p) => p.severity !== 'info').map((p) => `${p.code} ${p.path}`),
      [],
    );
    const m: Mesh = {
      p80,
      p8080,
      tg,
      pods: { v1, v2 },
      get: (path, o = {}) => send(o.port ?? p80, path, { headers: { host: o.host ?? 'echo', ...o.headers } }),
    };
    await fn(m);
  } finally {
    await tg?.close();
    await Promise.all([v1.close(), v2.close()]);
  }
}

/** Each [path, pod] answered by that pod. */
async function expectPods(m: Mesh, cases: ReadonlyArray<[string, 'v1' | 'v2', Record<string, string>?]>): Promise<void> {
  for (const [path, pod, headers] of cases) {
    const a = await m.get(path, headers ? { headers } : {});
    assert.equal(a.status, 200, path);
    assert.equal(a.headers['x-upstream'], `echo-${pod}`, `${path} ${JSON.stringify(headers ?? {})}`);
  }
}

describe('Gateway API conformance: Mesh (GAMMA) HTTPRoutes', () => {
  it('MeshBasic: without routes the Service answers (from either pod)', () =>
    mesh(undefined, async (m) => {
      const a = await m.get('/');
      assert.equal(a.status, 200);
      assert.match(String(a.headers['x-upstream']), /^echo-v[12]$/);
    }));

  it('MeshHTTPRouteSimpleSameNamespace: a route on the Service port 80 sends every request to echo-v1', () =>
    mesh('mesh-httproute-simple-same-namespace', async (m) => {
      assert.deepEqual(parentConditions(m.tg.gw.snapshot, 'HTTPRoute', 'gateway-conformance-mesh-test'), [
        ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs'],
      ]);
      for (let i = 0; i < 10; i++) await expectPods(m, [['/', 'v1']]);
    }));

  it('MeshTrafficSplit: exact paths to each version', () =>
    mesh('mesh-split', (m) =>
      expectPods(m, [
        ['/v1', 'v1'],
        ['/v2', 'v2'],
      ]),
    ));

  it('MeshPorts: a route with port applies on that port only, one without on every port', () =>
    mesh('mesh-ports', async (m) => {
      for (const [host, port, pod, header] of [
        ['echo-v1', m.p80, 'v1', 'v1'],
        [`echo-v1:${m.p8080}`, m.p8080, 'v1', undefined],
        ['echo-v2', m.p80, 'v2', 'v2'],
        [`echo-v2:${m.p8080}`, m.p8080, 'v2', 'v2'],
      ] as const) {
        const a = await m.get('/', { host, port });
        assert.equal(a.status, 200, host);
        assert.equal(a.headers['x-upstream'], `echo-${pod}`, host);
        assert.equal(a.headers['x-header-set'], header, host);
      }
    }));

  it('MeshHTTPRouteWeight: 70/30 over 500 requests, within 3 standard deviations', () =>
    mesh(
      'mesh-httproute-weight',
      async (m) => {
        const n = 500;
        for (let i = 0; i < n; i++) assert.equal((await m.get('/')).status, 200);
        const v1 = m.pods.v1.requests.length;
        assert.equal(v1 + m.pods.v2.requests.length, n);
        assert.ok(Math.abs(v1 - 0.7 * n) <= 3 * Math.sqrt(n * 0.7 * 0.3), `echo-v1 got ${v1} of ${n}`);
      },
      { random: seededRandom(5) },
    ));

  it('MeshHTTPRouteMatching: path prefixes by segment and header matches, by precedence', () =>
    mesh('mesh-httproute-matching', (m) =>
      expectPods(m, [
        ['/', 'v1'],
        ['/example', 'v1'],
        ['/', 'v1', { Version: 'one' }],
        ['/v2', 'v2'],
        ['/v2/example', 'v2'],
        ['/', 'v2', { Version: 'two' }],
        ['/v2/', 'v2'],
        ['/v2example', 'v1'],
        ['/foo/v2/example', 'v1'],
      ]),
    ));

  it('MeshHTTPRouteNamedRule: a named and an unnamed rule both serve', () =>
    mesh('mesh-httproute-named-rule', (m) =>
      expectPods(m, [
        ['/named', 'v1'],
        ['/unnamed', 'v2'],
      ]),
    ));

  it('MeshHTTPRouteQueryParamMatching: query parameters alone and with path and headers, by precedence; no match is 404', () =>
    mesh('mesh-httproute-query-param-matching', async (m) => {
      for (const [path, want, headers] of [
        ['/?animal=whale', 'v1'],
        ['/?animal=dolphin', 'v2'],
        ['/?animal=whale&otherparam=irrelevant', 'v1'],
        ['/?animal=dolphin&color=yellow', 'v2'],
        ['/?color=blue', 404],
        ['/?animal=dog', 404],
        ['/?animal=whaledolphin', 404],
        ['/', 404],
        ['/path1?animal=whale', 'v1'],
        ['/?animal=whale', 'v2', { version: 'one' }],
        ['/path3?animal=shark', 'v1'],
        ['/path4?animal=kraken', 'v1', { version: 'three' }],
        ['/?animal=shark', 404],
        ['/path4?animal=kraken', 404],
        ['/path5?animal=hydra', 'v1'],
      ] as Array<[string, 'v1' | 'v2' | 404, Record<string, string>?]>) {
        const a = await m.get(path, headers ? { headers } : {});
        if (want === 404) assert.equal(a.status, 404, path);
        else assert.equal(a.headers['x-upstream'], `echo-${want}`, `${path} ${JSON.stringify(headers ?? {})}`);
      }
    }));

  // MeshHTTPRouteBackendRequestHeaderModifier: the same checks, the filters set on the backendRef.
  for (const [suite, name] of [
    ['MeshHTTPRouteRequestHeaderModifier', 'mesh-httproute-request-header-modifier'],
    ['MeshHTTPRouteBackendRequestHeaderModifier', 'mesh-httproute-request-header-modifier-backend'],
  ] as const) {
    it(`${suite}: set, add and remove reach echo-v1, names case-insensitive`, () =>
      mesh(name, async (m) => {
        const received = async (path: string, headers: Record<string, string>) => {
          const a = await m.get(path, { headers });
          assert.equal(a.headers['x-upstream'], 'echo-v1', path);
          return m.pods.v1.requests.at(-1)!.headers;
        };
        assert.equal((await received('/set', { 'Some-Other-Header': 'val' }))['x-header-set'], 'set-overwrites-values');
        assert.equal((await received('/set', { 'Some-Other-Header': 'val', 'X-Header-Set': 'some-other-value' }))['x-header-set'], 'set-overwrites-values');
        assert.equal((await received('/add', { 'Some-Other-Header': 'val' }))['x-header-add'], 'add-appends-values');
        // Node joins repeated request headers with ", " (the suite's echo server shows them joined by ",").
        assert.equal((await received('/add', { 'X-Header-Add': 'some-other-value' }))['x-header-add'], 'some-other-value, add-appends-values');
        assert.equal((await received('/remove', { 'X-Header-Remove': 'val' }))['x-header-remove'], undefined);
        const multiple = await received('/multiple', { 'Another-Header': 'another-header-val' });
        assert.deepEqual(
          [multiple['another-header'], multiple['x-header-remove-1'], multiple['x-header-remove-2']],
          ['another-header-val', undefined, undefined],
        );
        const ci = await received('/case-insensitivity', {
          'x-header-set': 'original-val-set',
          'x-header-add': 'original-val-add',
          'x-header-remove': 'original-val-remove',
          'Another-Header': 'another-header-val',
        });
        assert.deepEqual(
          [ci['x-header-set'], ci['x-header-add'], ci['x-header-remove'], ci['another-header']],
          ['header-set', 'original-val-add, header-add', undefined, 'another-header-val'],
        );
      }));
  }

  it('MeshHTTPRouteRewritePath: prefix and full-path rewrites reach echo-v1, headers modified', () =>
    mesh('mesh-httproute-rewrite-path', async (m) => {
      for (const [sent, received] of [
        ['/prefix/one/two', '/one/two'],
        ['/strip-prefix/three', '/three'],
        ['/strip-prefix', '/'],
        ['/full/one/two', '/one'],
        ['/full/rewrite-path-and-modify-headers/test', '/test'],
        ['/prefix/rewrite-path-and-modify-headers/one', '/prefix/one'],
      ] as const) {
        const a = await m.get(sent, { headers: { 'X-Header-Remove': 'remove-val', 'X-Header-Add-Append': 'append-val-1', 'X-Header-Set': 'set-val' } });
        assert.equal(a.headers['x-upstream'], 'echo-v1', sent);
        assert.equal(m.pods.v1.requests.at(-1)!.url, received, sent);
      }
      const h = m.pods.v1.requests.at(-1)!.headers;
      assert.equal(h['x-header-set'], 'set-overwrites-values');
      assert.equal(h['x-header-add'], 'header-val-1');
      assert.equal(h['x-header-add-append'], 'append-val-1, header-val-2');
      assert.equal(h['x-header-remove'], undefined);
    }));
});

describe('Gateway API conformance: Mesh (GAMMA) redirects', () => {
  /** [status, scheme, host, port, path] of the redirect `path` gets on the Service port 80. */
  async function location(m: Mesh, path: string): Promise<[number, string, string, string, string]> {
    const a = await m.get(path);
    const url = new URL(String(a.headers.location));
    return [a.status, url.protocol.slice(0, -1), url.hostname, url.port, url.pathname];
  }

  it('MeshHTTPRouteRedirectHostAndStatus', () =>
    mesh('mesh-httproute-redirect-host-and-status', async (m) => {
      // Neither port nor scheme: the Service port stays (the suite's is 80, left out; here it is a free port).
      assert.deepEqual(await location(m, '/hostname-redirect'), [302, 'http', 'example.org', String(m.p80), '/hostname-redirect']);
      assert.deepEqual(await location(m, '/host-and-status'), [301, 'http', 'example.org', String(m.p80), '/host-and-status']);
    }));

  it('MeshHTTPRouteRedirectPort', () =>
    mesh('mesh-httproute-redirect-port', async (m) => {
      assert.deepEqual(await location(m, '/port'), [302, 'http', 'echo', '8083', '/port']);
      assert.deepEqual(await location(m, '/port-and-host'), [302, 'http', 'example.org', '8083', '/port-and-host']);
      assert.deepEqual(await location(m, '/port-and-status'), [301, 'http', 'echo', '8083', '/port-and-status']);
      assert.deepEqual(await location(m, '/port-and-host-and-status'), [302, 'http', 'example.org', '8083', '/port-and-host-and-status']);
    }));

  it('MeshHTTPRouteSchemeRedirect', () =>
    mesh('mesh-httproute-redirect-scheme', async (m) => {
      assert.deepEqual(await location(m, '/scheme'), [302, 'https', 'echo', '', '/scheme']);
      assert.deepEqual(await location(m, '/scheme-and-host'), [302, 'https', 'example.org', '', '/scheme-and-host']);
      assert.deepEqual(await location(m, '/scheme-and-status'), [301, 'https', 'echo', '', '/scheme-and-status']);
      assert.deepEqual(await location(m, '/scheme-and-host-and-status'), [302, 'https', 'example.org', '', '/scheme-and-host-and-status']);
    }));

  for (const [code, path] of [
    [303, '/redirect'],
    [307, '/temporary'],
    [308, '/permanent'],
  ] as const) {
    it(`MeshHTTPRoute${code}Redirect`, () =>
      mesh(`mesh-httproute-${code}-redirect`, async (m) => {
        assert.deepEqual(await location(m, path), [code, 'http', 'echo', String(m.p80), path]);
        assert.equal(m.pods.v1.requests.length + m.pods.v2.requests.length, 0);
      }));
  }
});
