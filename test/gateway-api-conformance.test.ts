// The Gateway API conformance suite's HTTPRoute cases (matching, precedence, header modifiers, rewrites, weights,
// mirrors), replayed over real sockets with the suite's own YAML (test/fixtures/gateway-api/) and its expectations.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { client, freePort, seededRandom, send } from './harness/gateway.js';
import { type Conformance, clean, conformance, fixture } from './harness/gateway-api.js';

after(() => client.close());

type Backend = 'v1' | 'v2' | 'v3';
interface Case {
  path: string;
  method?: string;
  host?: string;
  headers?: Record<string, string>;
  /** Which infra-backend answers; undefined with `status`. */
  backend?: Backend;
  status?: number;
}

async function expectCases(c: Conformance, cases: readonly Case[]): Promise<void> {
  for (const k of cases) {
    const headers = { ...(k.host ? { host: k.host } : {}), ...k.headers };
    const a = await c.get(k.path, { method: k.method ?? 'GET', headers });
    const label = `${k.method ?? 'GET'} ${k.host ?? ''}${k.path} ${JSON.stringify(k.headers ?? {})}`;
    if (k.status !== undefined) assert.equal(a.status, k.status, label);
    else {
      assert.equal(a.status, 200, label);
      assert.equal(a.headers['x-upstream'], `infra-backend-${k.backend}`, label);
    }
  }
}

async function withRoutes(names: string[], fn: (c: Conformance) => Promise<void>, opts = {}): Promise<void> {
  const files = Object.fromEntries(names.map((n) => [`${n}.yaml`, fixture(n)]));
  await clean(await conformance(files, opts), fn);
}

describe('Gateway API conformance: matching and precedence', () => {
  it('HTTPRouteMatching: PathPrefix by whole segments, header matches, precedence across rules', () =>
    withRoutes(['httproute-matching'], (c) =>
      expectCases(c, [
        { path: '/', backend: 'v1' },
        { path: '/example', backend: 'v1' },
        { path: '/', headers: { version: 'one' }, backend: 'v1' },
        { path: '/v2', backend: 'v2' },
        { path: '/v2/example', backend: 'v2' },
        { path: '/', headers: { version: 'two' }, backend: 'v2' },
        { path: '/v2/', backend: 'v2' },
        // Not a path segment prefix, so it does not match /v2.
        { path: '/v2example', backend: 'v1' },
        { path: '/foo/v2/example', backend: 'v1' },
      ]),
    ));

  it('HTTPRouteMatchingAcrossRoutes: two routes merged by precedence, limited to their hostnames', () =>
    withRoutes(['httproute-matching-across-routes'], (c) =>
      expectCases(c, [
        { host: 'example.com', path: '/', backend: 'v1' },
        { host: 'example.com', path: '/example', backend: 'v1' },
        { host: 'example.net', path: '/example', backend: 'v1' },
        { host: 'example.com', path: '/example', headers: { version: 'one' }, backend: 'v1' },
        { host: 'example.com', path: '/v2', backend: 'v2' },
        // v2 matches are limited to example.com
        { host: 'example.net', path: '/v2', backend: 'v1' },
        { host: 'example.com', path: '/v2/example', backend: 'v2' },
        { host: 'example.com', path: '/', headers: { version: 'two' }, backend: 'v2' },
        // No route has this hostname.
        { host: 'example.org', path: '/', status: 404 },
      ]),
    ));

  it('HTTPRoutePathMatchOrder: exact before prefix, the longest prefix first, whatever the rule order', () =>
    withRoutes(['httproute-path-match-order'], (c) =>
      expectCases(c, [
        { path: '/match/exact/one', backend: 'v3' },
        { path: '/match/exact', backend: 'v2' },
        { path: '/match', backend: 'v1' },
        { path: '/match/prefix/one/any', backend: 'v2' },
        { path: '/match/prefix/any', backend: 'v1' },
        { path: '/match/any', backend: 'v3' },
      ]),
    ));

  it('HTTPRouteMethodMatching: method alone, with other matches, ORed matches, method before headers', () =>
    withRoutes(['httproute-method-matching'], (c) =>
      expectCases(c, [
        { method: 'POST', path: '/', backend: 'v1' },
        { method: 'GET', path: '/', backend: 'v2' },
        { method: 'HEAD', path: '/', status: 404 },
        { method: 'GET', path: '/path1', backend: 'v1' },
        { method: 'PUT', path: '/', headers: { version: 'one' }, backend: 'v2' },
        { method: 'POST', path: '/path2', headers: { version: 'two' }, backend: 'v3' },
        { method: 'PATCH', path: '/path3', backend: 'v1' },
        { method: 'DELETE', path: '/path4', headers: { version: 'three' }, backend: 'v1' },
        { method: 'PUT', path: '/', status: 404 },
        { method: 'DELETE', path: '/path4', status: 404 },
        { method: 'PATCH', path: '/path5', backend: 'v1' },
        { method: 'PATCH', path: '/', headers: { version: 'four' }, backend: 'v2' },
      ]),
    ));

  it('HTTPRouteQueryParamMatching: exact names (case kept), more params first, headers before params', () =>
    withRoutes(['httproute-query-param-matching'], (c) =>
      expectCases(c, [
        { path: '/?animal=whale', backend: 'v1' },
        { path: '/?animal=dolphin', backend: 'v2' },
        { path: '/?animal=dolphin&color=blue', backend: 'v3' },
        { path: '/?ANIMAL=Whale', backend: 'v3' },
        { path: '/?animal=whale&otherparam=irrelevant', backend: 'v1' },
        { path: '/?animal=dolphin&color=yellow', backend: 'v2' },
        { path: '/?color=blue', status: 404 },
        { path: '/?animal=dog', status: 404 },
        { path: '/?animal=whaledolphin', status: 404 },
        { path: '/', status: 404 },
        { path: '/path1?animal=whale', backend: 'v1' },
        { path: '/?animal=whale', headers: { version: 'one' }, backend: 'v2' },
        { path: '/path2?animal=whale', headers: { version: 'two' }, backend: 'v3' },
        { path: '/path3?animal=shark', backend: 'v1' },
        { path: '/path4?animal=kraken', headers: { version: 'three' }, backend: 'v1' },
        { path: '/?animal=shark', status: 404 },
        { path: '/path4?animal=kraken', status: 404 },
        { path: '/path5?animal=hydra', backend: 'v1' },
        { path: '/?animal=hydra', headers: { version: 'four' }, backend: 'v3' },
      ]),
    ));

  it('HTTPRouteHeaderMatching: exact and regular-expression header matches, all must hold', () =>
    withRoutes(['httproute-header-matching'], (c) =>
      expectCases(c, [
        { path: '/', headers: { Version: 'one' }, backend: 'v1' },
        { path: '/', headers: { Version: 'two' }, backend: 'v2' },
        { path: '/', headers: { Version: 'two', Color: 'orange' }, backend: 'v1' },
        { path: '/', headers: { Version: 'two', Color: 'blue' }, backend: 'v2' },
        { path: '/', headers: { Color: 'orange' }, status: 404 },
        { path: '/', headers: { 'Some-Other-Header': 'one' }, status: 404 },
        { path: '/', headers: { Color: 'blue' }, backend: 'v1' },
        { path: '/', headers: { Color: 'green' }, backend: 'v1' },
        { path: '/', headers: { Color: 'red' }, backend: 'v2' },
        { path: '/', headers: { Color: 'yellow' }, backend: 'v2' },
        { path: '/', headers: { Color: 'purple' }, status: 404 },
      ]),
    ));
});

/** What infra-backend-v1 received last, by lower-cased header name. */
function lastReceived(c: Conformance, b: Backend = 'v1') {
  const r = c.backends[b].requests.at(-1);
  assert.ok(r, `infra-backend-${b} received nothing`);
  return r;
}

describe('Gateway API conformance: filters', () => {
  // HTTPRouteBackendRequestHeaderModifier runs the same checks on the filters set on the backendRef instead.
  for (const [suite, name] of [
    ['HTTPRouteRequestHeaderModifier', 'httproute-request-header-modifier'],
    ['HTTPRouteBackendRequestHeaderModifier', 'httproute-request-header-modifier-backend'],
  ] as const) {
    it(`${suite}: set overwrites, add appends, remove removes, names case-insensitive`, () =>
      withRoutes([name], async (c) => {
        await c.get('/set', { headers: { 'Some-Other-Header': 'val', 'X-Header-Set': 'some-other-value' } });
        assert.equal(lastReceived(c).headers['x-header-set'], 'set-overwrites-values');
        assert.equal(lastReceived(c).headers['some-other-header'], 'val');
        await c.get('/add', { headers: { 'X-Header-Add': 'some-other-value' } });
        // Node joins repeated request headers with ", "; the suite's echo server shows them comma-joined too.
        assert.equal(lastReceived(c).headers['x-header-add'], 'some-other-value, add-appends-values');
        await c.get('/remove', { headers: { 'X-Header-Remove': 'val' } });
        assert.equal(lastReceived(c).headers['x-header-remove'], undefined);
        await c.get('/multiple', {
          headers: {
            'X-Header-Set-2': 'set-val-2',
            'X-Header-Add-2': 'add-val-2',
            'X-Header-Remove-2': 'remove-val-2',
            'Another-Header': 'another-header-val',
          },
        });
        const m = lastReceived(c).headers;
        assert.equal(m['x-header-set-1'], 'header-set-1');
        assert.equal(m['x-header-set-2'], 'header-set-2');
        assert.equal(m['x-header-add-1'], 'header-add-1');
        assert.equal(m['x-header-add-2'], 'add-val-2, header-add-2');
        assert.equal(m['x-header-add-3'], 'header-add-3');
        assert.equal(m['another-header'], 'another-header-val');
        assert.equal(m['x-header-remove-1'], undefined);
        assert.equal(m['x-header-remove-2'], undefined);
        await c.get('/case-insensitivity', {
          headers: { 'x-header-set': 'original-val-set', 'x-header-add': 'original-val-add', 'x-header-remove': 'original-val-remove' },
        });
        const ci = lastReceived(c).headers;
        assert.equal(ci['x-header-set'], 'header-set');
        assert.equal(ci['x-header-add'], 'original-val-add, header-add');
        assert.equal(ci['x-header-remove'], undefined);
      }));
  }

  it('HTTPRouteResponseHeaderModifier: the answer is modified, the backend sees the request unchanged', () =>
    withRoutes(['httproute-response-header-modifier'], async (c) => {
      c.backends.v1.behaviour = { kind: 'answer', headers: { 'X-Header-Set': 'original', 'X-Header-Remove': 'gone' } };
      const set = await c.get('/set');
      assert.equal(set.headers['x-header-set'], 'set-overwrites-values');
      const removed = await c.get('/remove');
      assert.equal(removed.headers['x-header-remove'], undefined);
      assert.equal(removed.headers['x-upstream'], 'infra-backend-v1');
    }));

  it('HTTPRouteRewritePath: ReplacePrefixMatch by segments (to "/" too) and ReplaceFullPath, with header changes', () =>
    withRoutes(['httproute-rewrite-path'], async (c) => {
      const cases: Array<[string, string]> = [
        ['/prefix/one/two', '/one/two'],
        // The query is kept.
        ['/prefix/one/two?x=1', '/one/two?x=1'],
        ['/strip-prefix/three', '/three'],
        ['/strip-prefix', '/'],
        ['/full/one/two', '/one'],
        ['/full/rewrite-path-and-modify-headers/test', '/test'],
        ['/prefix/rewrite-path-and-modify-headers/one', '/prefix/one'],
      ];
      for (const [sent, received] of cases) {
        const a = await c.get(sent, { headers: { 'X-Header-Remove': 'remove-val', 'X-Header-Add-Append': 'append-val-1', 'X-Header-Set': 'set-val' } });
        assert.equal(a.status, 200, sent);
        assert.equal(lastReceived(c).url, received, sent);
      }
      const h = lastReceived(c).headers;
      assert.equal(h['x-header-add'], 'header-val-1');
      assert.equal(h['x-header-set'], 'set-overwrites-values');
      assert.equal(h['x-header-remove'], undefined);
    }));

  it('HTTPRouteRedirectPath: ReplacePrefixMatch and ReplaceFullPath redirects, with hostname and status code; nothing reaches a backend', () =>
    withRoutes(['httproute-redirect-path'], async (c) => {
      // [request path, status, Location host (without the listener port: the suite compares the hostname), path]
      const cases: Array<[string, number, string, string]> = [
        ['/original-prefix/lemon', 302, 'gateway.example', '/replacement-prefix/lemon'],
        ['/full/path/original', 302, 'gateway.example', '/full-path-replacement'],
        ['/path-and-host', 302, 'example.org', '/replacement-prefix'],
        ['/path-and-status', 301, 'gateway.example', '/replacement-prefix'],
        ['/full-path-and-host', 302, 'example.org', '/replacement-full'],
        ['/full-path-and-status', 301, 'gateway.example', '/replacement-full'],
        // Beyond the suite: the query is kept, and the prefix is replaced by whole segments only.
        ['/original-prefix/lemon?x=1', 302, 'gateway.example', '/replacement-prefix/lemon?x=1'],
        ['/original-prefix', 302, 'gateway.example', '/replacement-prefix'],
        ['/original-prefix/', 302, 'gateway.example', '/replacement-prefix/'],
      ];
      for (const [path, status, host, location] of cases) {
        const a = await c.get(path);
        assert.equal(a.status, status, path);
        const url = new URL(String(a.headers.location));
        assert.equal(url.protocol, 'http:', path);
        assert.equal(url.hostname, host, path);
        // Neither port nor scheme set: the listener's port (not 80 here) stays in Location.
        assert.equal(url.port, String(c.port), path);
        assert.equal(url.pathname + url.search, location, path);
      }
      // `/original-prefixes` is not under the prefix (segments): no rule matches it.
      assert.equal((await c.get('/original-prefixes')).status, 404);
      for (const b of ['v1', 'v2', 'v3'] as const) assert.equal(c.backends[b].requests.length, 0);
    }));

  it('HTTPRouteRewriteHost: URLRewrite hostname is the Host the backend sees (primary and path kept)', () =>
    withRoutes(['httproute-rewrite-host'], async (c) => {
      for (const [path, host, backend] of [
        ['/one', 'one.example.org', 'v1'],
        ['/two', 'example.org', 'v2'],
        ['/rewrite-host-and-modify-headers', 'test.example.org', 'v2'],
      ] as const) {
        const a = await c.get(path, { headers: { host: 'rewrite.example' } });
        assert.equal(a.headers['x-upstream'], `infra-backend-${backend}`, path);
        assert.equal(lastReceived(c, backend).headers.host, host, path);
        assert.equal(lastReceived(c, backend).url, path);
      }
      assert.equal(lastReceived(c, 'v2').headers['x-header-set'], 'set-overwrites-values');
      // Another hostname is not this route's.
      assert.equal((await c.get('/one', { headers: { host: 'other.example' } })).status, 404);
    }));

  it("HTTPRouteRequestHeaderModifierBackendWeights: each backend's own filter, and only its own, applies to what it receives", () =>
    withRoutes(
      ['httproute-request-header-modifier-backend-weights'],
      async (c) => {
        for (let i = 0; i < 40; i++) assert.equal((await c.get('/')).status, 200);
        assert.ok(c.backends.v1.requests.length > 0 && c.backends.v2.requests.length > 0);
        for (const b of ['v1', 'v2'] as const) {
          assert.ok(
            c.backends[b].requests.every((r) => r.headers.backend === `infra-backend-${b}`),
            b,
          );
        }
      },
      { random: seededRandom(11) },
    ));

  it('HTTPRouteWeight: 70/30/0 over 500 requests, within the suite tolerance; weight 0 gets nothing', () =>
    withRoutes(
      ['httproute-weight'],
      async (c) => {
        const n = 500;
        for (let i = 0; i < n; i++) assert.equal((await c.get('/')).status, 200);
        const v1 = c.backends.v1.requests.length;
        const v2 = c.backends.v2.requests.length;
        assert.equal(c.backends.v3.requests.length, 0);
        assert.equal(v1 + v2, n);
        // The suite's tolerance: 3 binomial standard deviations.
        const sd = 3 * Math.sqrt(n * 0.7 * 0.3);
        assert.ok(Math.abs(v1 - 0.7 * n) <= sd, `v1 got ${v1} of ${n}`);
      },
      { random: seededRandom(7) },
    ));
});

describe('Gateway API conformance: RequestMirror', () => {
  it('HTTPRouteRequestMirror: the answer comes from v1, v2 gets a copy; header changes reach both', () =>
    withRoutes(['httproute-request-mirror'], async (c) => {
      const a = await c.get('/mirror?request-id=1');
      assert.equal(a.headers['x-upstream'], 'infra-backend-v1');
      await c.backends.v2.waitForRequests(1);
      assert.equal(c.backends.v2.requests[0]!.url, '/mirror?request-id=1');
      assert.equal(c.backends.v2.requests[0]!.headers['x-shadowgate-mirror'], 'true');
      assert.equal(c.backends.v3.requests.length, 0);

      const b = await c.get('/mirror-and-modify-headers', { headers: { 'X-Header-Remove': 'remove-val', 'X-Header-Add-Append': 'append-val-1' } });
      assert.equal(b.headers['x-upstream'], 'infra-backend-v1');
      await c.backends.v2.waitForRequests(2);
      for (const got of [lastReceived(c, 'v1'), lastReceived(c, 'v2')]) {
        assert.equal(got.url, '/mirror-and-modify-headers');
        assert.equal(got.headers['x-header-add'], 'header-val-1');
        assert.equal(got.headers['x-header-add-append'], 'append-val-1, header-val-2');
        assert.equal(got.headers['x-header-set'], 'set-overwrites-values');
        assert.equal(got.headers['x-header-remove'], undefined);
      }
      assert.equal(c.backends.v1.requests.length, 2, 'the primary gets each request once');
    }));

  it('HTTPRouteRequestMultipleMirrors: v2 and v3 each get a copy of every request', () =>
    withRoutes(['httproute-request-multiple-mirrors'], async (c) => {
      for (const path of ['/multi-mirror', '/multi-mirror-and-modify-request-headers']) {
        const a = await c.get(path, { headers: { 'X-Header-Remove': 'remove-val' } });
        assert.equal(a.headers['x-upstream'], 'infra-backend-v1');
      }
      await c.backends.v2.waitForRequests(2);
      await c.backends.v3.waitForRequests(2);
      assert.deepEqual(c.backends.v2.requests.map((r) => r.url).sort(), ['/multi-mirror', '/multi-mirror-and-modify-request-headers']);
      assert.deepEqual(c.backends.v3.requests.map((r) => r.url).sort(), ['/multi-mirror', '/multi-mirror-and-modify-request-headers']);
      assert.equal(lastReceived(c, 'v3').headers['x-header-remove'], undefined);
      assert.equal(await c.tg.gw.metrics.total('shadowgate_shadow_requests_total', { response_code: '200' }), 4);
    }));

  it('HTTPRouteRequestPercentageMirror: percent 20, fraction 25/50, percent 35 over 500 requests each, within 3 standard deviations', (t) =>
    withRoutes(
      ['httproute-request-percentage-mirror'],
      async (c) => {
        const n = 500;
        for (const [path, p] of [
          ['/percent-mirror', 0.2],
          ['/percent-mirror-fraction', 0.5],
          ['/percent-mirror-and-modify-headers', 0.35],
        ] as const) {
          const before = c.backends.v2.requests.length;
          const sampledBefore = await c.tg.gw.metrics.total('shadowgate_shadows_sampled_total', {});
          for (let i = 0; i < n; i++) assert.equal((await c.get(path)).headers['x-upstream'], 'infra-backend-v1');
          const sampled = (await c.tg.gw.metrics.total('shadowgate_shadows_sampled_total', {})) - sampledBefore;
          // Wait on the backend's counter for exactly the copies the gateway sampled: none is lost.
          await c.backends.v2.waitForRequests(before + sampled);
          const mirrored = c.backends.v2.requests.length - before;
          assert.equal(mirrored, sampled);
          assert.ok(c.backends.v2.requests.slice(before).every((r) => r.url === path));
          const margin = 3 * Math.sqrt(n * p * (1 - p));
          t.diagnostic(`${path}: ${mirrored} of ${n} mirrored (expected ${n * p} ± ${margin.toFixed(1)})`);
          assert.ok(Math.abs(mirrored - n * p) <= margin, `${path}: ${mirrored} of ${n} mirrored, expected ${n * p} ± ${margin.toFixed(1)}`);
        }
      },
      { random: seededRandom(18) },
    ));
});

describe('Gateway API conformance: listeners', () => {
  for (const [name, what] of [
    ['gateway-http-listener-isolation', 'hostnames only in listeners'],
    ['gateway-http-listener-isolation-with-hostname-intersection', 'intersecting hostnames in listeners and routes'],
  ] as const) {
    it(`GatewayHTTPListenerIsolation (${what}): a request belongs to its most specific listener, only that listener's routes serve it`, async () => {
      const port = await freePort();
      // The suite's Gateway listens on 80 and names the class by a placeholder: both replaced, nothing else.
      const yaml = fixture(name).replaceAll('port: 80\n', `port: ${port}\n`).replace('"{GATEWAY_CLASS_NAME}"', 'shadowgate');
      const c = await conformance({ 'isolation.yaml': yaml });
      try {
        assert.deepEqual(
          c.tg.gw.snapshot.problems.filter((p) => p.severity !== 'info'),
          [],
        );
        const owners: Record<string, string> = {
          'bar.com': '/empty-hostname',
          'bar.example.com': '/wildcard-example-com',
          'bar.foo.example.com': '/wildcard-foo-example-com',
          'abc.foo.example.com': '/abc-foo-example-com',
        };
        for (const [host, own] of Object.entries(owners)) {
          for (const path of Object.values(owners)) {
            const a = await send(port, path, { headers: { host } });
            assert.equal(a.status, path === own ? 200 : 404, `${host}${path}`);
          }
        }
      } finally {
        await c.close();
      }
    });
  }
});

/** A suite test that brings its own Gateways (port 80, a class placeholder): both replaced, nothing else. */
async function withOwnGateways(name: string, cases: ReadonlyArray<[string, string, Backend | 404]>, expectedCodes: string[] = []): Promise<void> {
  const port = await freePort();
  const yaml = fixture(name).replaceAll('port: 80\n', `port: ${port}\n`).replaceAll('"{GATEWAY_CLASS_NAME}"', 'shadowgate');
  const c = await conformance({ 'suite.yaml': yaml });
  try {
    assert.deepEqual(
      c.tg.gw.snapshot.problems.filter((p) => p.severity !== 'info').map((p) => p.code),
      expectedCodes,
    );
    for (const [host, path, want] of cases) {
      const a = await send(port, path, { headers: { host } });
      if (want === 404) assert.equal(a.status, 404, `${host}${path}`);
      else assert.equal(a.headers['x-upstream'], `infra-backend-${want}`, `${host}${path}`);
    }
  } finally {
    await c.close();
  }
}

describe('Gateway API conformance: hostnames', () => {
  it('HTTPRouteListenerHostnameMatching: exact and wildcard listener hostnames, the most specific wins', () =>
    withOwnGateways('httproute-listener-hostname-matching', [
      ['bar.com', '/', 'v1'],
      ['foo.bar.com', '/', 'v2'],
      ['baz.bar.com', '/', 'v3'],
      ['boo.bar.com', '/', 'v3'],
      ['multiple.prefixes.bar.com', '/', 'v3'],
      ['multiple.prefixes.foo.com', '/', 'v3'],
      ['foo.com', '/', 404],
      ['no.matching.host', '/', 404],
    ]));

  it('HTTPRouteHostnameIntersection: route and listener hostnames intersect; no intersection, no route (NoMatchingListenerHostname)', () =>
    withOwnGateways(
      'httproute-hostname-intersection',
      [
        ['very.specific.com', '/s1', 'v1'],
        ['very.specific.com:1234', '/s1', 'v1'],
        ['non.matching.com', '/s1', 404],
        ['foo.nonmatchingwildcard.io', '/s1', 404],
        ['foo.wildcard.io', '/s1', 404],
        ['very.specific.com', '/non-matching-prefix', 404],
        ['foo.wildcard.io', '/s2', 'v2'],
        ['bar.wildcard.io', '/s2', 'v2'],
        ['foo.bar.wildcard.io', '/s2', 'v2'],
        ['non.matching.com', '/s2', 404],
        ['wildcard.io', '/s2', 404],
        ['very.specific.com', '/s2', 404],
        ['foo.wildcard.io', '/non-matching-prefix', 404],
        ['very.specific.com', '/s3', 'v3'],
        ['non.matching.com', '/s3', 404],
        ['foo.specific.com', '/s3', 404],
        ['foo.wildcard.io', '/s3', 404],
        ['very.specific.com', '/non-matching-prefix', 404],
        ['foo.anotherwildcard.io', '/s4', 'v1'],
        ['bar.anotherwildcard.io', '/s4', 'v1'],
        ['foo.bar.anotherwildcard.io', '/s4', 'v1'],
        ['anotherwildcard.io', '/s4', 404],
        ['foo.wildcard.io', '/s4', 404],
        ['very.specific.com', '/s4', 404],
        ['foo.anotherwildcard.io', '/non-matching-prefix', 404],
        ['specific.but.wrong.com', '/s5', 404],
        ['wildcard.io', '/s5', 404],
        ['first.com', '/', 'v2'],
        ['sub.first.com', '/', 'v2'],
        ['second.com', '/', 'v2'],
      ],
      ['no-matching-listener-hostname'],
    ));
});
