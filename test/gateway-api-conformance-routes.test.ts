// The Gateway API conformance suite's HTTPRoute cases on backends, references, redirects, timeouts, retries and
// listeners, replayed over real sockets with the suite's own YAML (test/fixtures/gateway-api/) and its expectations:
// which backend answers, status codes, Location, and the route's status conditions.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { after, describe, it } from 'node:test';
import { type Certs, makeCa, opensslMissing } from './harness/certs.js';
import { client, freePort, send } from './harness/gateway.js';
import { type Conformance, clean, conformance, echoBasic, fixture, gatewayListeners, NS, parentConditions, suiteYaml } from './harness/gateway-api.js';

after(() => client.close());

const ACCEPTED = ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs'];

/** The route's one parent: Accepted and ResolvedRefs as the suite expects them (`Type=Status/Reason`). */
function assertParent(c: Conformance, name: string, conditions: readonly string[]): void {
  assert.deepEqual(parentConditions(c.tg.gw.snapshot, 'HTTPRoute', name), [conditions], name);
}

/** GET `path`; asserts the answer's status and, for 200, which backend (its `x-upstream`) gave it. */
async function expect(c: Conformance, path: string, status: number, backend?: string, headers: Record<string, string> = {}): Promise<void> {
  const a = await c.get(path, { headers });
  assert.equal(a.status, status, `${path}: ${a.body}`);
  if (backend !== undefined) assert.equal(a.headers['x-upstream'], backend, path);
}

const with_ = (name: string) => ({ [`${name}.yaml`]: suiteYaml(name) });

describe('Gateway API conformance: simple routes and backends', () => {
  it('HTTPRouteSimpleSameNamespace: accepted, refs resolved, / reaches infra-backend-v1', async () =>
    clean(await conformance(with_('httproute-simple-same-namespace')), async (c) => {
      assertParent(c, 'gateway-conformance-infra-test', ACCEPTED);
      await expect(c, '/', 200, 'infra-backend-v1');
    }));

  it('HTTPRouteExactPathMatching: /one and /two exactly; a longer path, a trailing "/" or other case is no match', async () =>
    clean(await conformance(with_('httproute-exact-path-matching')), async (c) => {
      assertParent(c, 'exact-matching', ACCEPTED);
      await expect(c, '/one', 200, 'infra-backend-v1');
      await expect(c, '/two', 200, 'infra-backend-v2');
      for (const path of ['/', '/one/example', '/two/', '/Two']) await expect(c, path, 404);
    }));

  it('HTTPRouteNamedRule: a named and an unnamed rule both serve', async () =>
    clean(await conformance(with_('httproute-named-rule')), async (c) => {
      assertParent(c, 'http-named-rules', ACCEPTED);
      await expect(c, '/named', 200, 'infra-backend-v1');
      await expect(c, '/unnamed', 200, 'infra-backend-v2');
    }));

  it('HTTPRouteNoBackendRefs: rules with backendRefs omitted or empty answer 500, the route stays accepted and resolved', async () =>
    clean(await conformance(with_('httproute-omitted-backendrefs')), async (c) => {
      assertParent(c, 'omitted-backendrefs', ACCEPTED);
      await expect(c, '/forward', 200, 'infra-backend-v1');
      await expect(c, '/omitted-no-forward', 500);
      await expect(c, '/empty-no-forward', 500);
      assert.equal(c.backends.v1.requests.length, 1);
    }));
});

describe('Gateway API conformance: references', () => {
  it('HTTPRouteReferenceGrant: a granted backend in another namespace serves; without the grant the route answers 500', async () => {
    const port = await freePort();
    const yaml = fixture('httproute-reference-grant');
    await clean(await conformance({ 'refs.yaml': yaml }, {}, port), async (c) => {
      assertParent(c, 'reference-grant', ACCEPTED);
      await expect(c, '/', 200, 'web-backend');
    });
    // The suite deletes the ReferenceGrant. In files a reload that leaves a backend unresolved is refused (any error
    // refuses a reload, as a bad Istio resource does), so the config without it is started afresh on the same port.
    const withoutGrant = yaml
      .split(/^---$/m)
      .filter((doc) => !/^kind: ReferenceGrant$/m.test(doc))
      .join('---');
    await clean(
      await conformance({ 'refs.yaml': withoutGrant }, {}, port),
      async (c) => {
        assertParent(c, 'reference-grant', ['Accepted=True/Accepted', 'ResolvedRefs=False/RefNotPermitted']);
        await expect(c, '/', 500);
        assert.equal(c.others.web.requests.length, 0);
      },
      ['ref-not-permitted spec.rules[0].backendRefs[0]'],
    );
  });

  it('HTTPRoutePartiallyInvalidViaInvalidReferenceGrant: the ungranted backend answers 500, its granted sibling rule serves', async () =>
    clean(
      await conformance(with_('httproute-partially-invalid-via-invalid-reference-grant')),
      async (c) => {
        assertParent(c, 'invalid-reference-grant', ['Accepted=True/Accepted', 'ResolvedRefs=False/RefNotPermitted']);
        await expect(c, '/v2', 500);
        await expect(c, '/', 200, 'app-backend-v1');
        assert.equal(c.others.appV2.requests.length, 0);
      },
      ['ref-not-permitted spec.rules[0].backendRefs[0]'],
    ));

  for (const [name, route, reason, code] of [
    ['httproute-invalid-cross-namespace-backend-ref', 'invalid-cross-namespace-backend-ref', 'RefNotPermitted', 'ref-not-permitted'],
    ['httproute-invalid-nonexistent-backendref', 'invalid-nonexistent-backend-ref', 'BackendNotFound', 'backend-not-found'],
    ['httproute-invalid-backendref-unknown-kind', 'invalid-backend-ref-unknown-kind', 'InvalidKind', 'invalid-kind'],
    // Seven grants, each wrong in one field (namespace, from group, kind and namespace, to group, kind and name).
    ['httproute-invalid-reference-grant', 'reference-grant', 'RefNotPermitted', 'ref-not-permitted'],
  ] as const) {
    it(`${name}: accepted, ResolvedRefs False ${reason}, requests get 500 and reach nothing`, async () =>
      clean(
        await conformance(with_(name)),
        async (c) => {
          assertParent(c, route, ['Accepted=True/Accepted', `ResolvedRefs=False/${reason}`]);
          // The suite sends `/` (`/v2` for the unknown kind): the route's one rule takes both.
          for (const path of ['/', '/v2']) await expect(c, path, 500);
          for (const b of [...Object.values(c.backends), ...Object.values(c.others)]) assert.equal(b.requests.length, 0, b.name);
        },
        [`${code} spec.rules[0].backendRefs[0]`],
      ));
  }

  it('HTTPRouteInvalidCrossNamespaceParentRef: a route from another namespace on a Same listener: NotAllowedByListeners, refs resolved, 0 attached', async () =>
    clean(
      await conformance(with_('httproute-invalid-cross-namespace-parent-ref')),
      async (c) => {
        assertParent(c, 'invalid-cross-namespace-parent-ref', ['Accepted=False/NotAllowedByListeners', 'ResolvedRefs=True/ResolvedRefs']);
        assert.equal(gatewayListeners(c.tg.gw.snapshot, 'same-namespace')[0]!.attachedRoutes, 0);
        await expect(c, '/', 404);
        assert.equal(c.others.web.requests.length, 0);
      },
      ['not-allowed-by-listeners spec.parentRefs[0]'],
    ));
});

describe('Gateway API conformance: redirects', () => {
  /** GET `path` on `port`; the redirect's status and its Location as [scheme, host, port, path]. */
  async function location(port: number, path: string, method = 'GET'): Promise<[number, string, string, string, string]> {
    const a = await send(port, path, { method, headers: { host: 'gateway.example' } });
    const url = new URL(String(a.headers.location));
    return [a.status, url.protocol.slice(0, -1), url.hostname, url.port, url.pathname];
  }

  it('HTTPRouteRedirectHostAndStatus: hostname replaced, 302 by default, statusCode 301', async () =>
    clean(await conformance(with_('httproute-redirect-host-and-status')), async (c) => {
      assertParent(c, 'redirect-host-and-status', ACCEPTED);
      // The listener's port stays in Location when neither port nor scheme is set (the suite's listener is on 80).
      assert.deepEqual(await location(c.port, '/hostname-redirect'), [302, 'http', 'example.org', String(c.port), '/hostname-redirect']);
      assert.deepEqual(await location(c.port, '/host-and-status'), [301, 'http', 'example.org', String(c.port), '/host-and-status']);
    }));

  it('HTTPRouteRedirectPort: port 8083 in Location, with hostname and status code', async () =>
    clean(await conformance(with_('httproute-redirect-port')), async (c) => {
      assertParent(c, 'redirect-port', ACCEPTED);
      assert.deepEqual(await location(c.port, '/port'), [302, 'http', 'gateway.example', '8083', '/port']);
      assert.deepEqual(await location(c.port, '/port-and-host'), [302, 'http', 'example.org', '8083', '/port-and-host']);
      assert.deepEqual(await location(c.port, '/port-and-status'), [301, 'http', 'gateway.example', '8083', '/port-and-status']);
      assert.deepEqual(await location(c.port, '/port-and-host-and-status'), [302, 'http', 'example.org', '8083', '/port-and-host-and-status']);
    }));

  it("HTTPRouteRedirectScheme: https with the scheme's well-known port (none in Location), with hostname and status code", async () =>
    clean(await conformance(with_('httproute-redirect-scheme')), async (c) => {
      assertParent(c, 'redirect-scheme', ACCEPTED);
      assert.deepEqual(await location(c.port, '/scheme'), [302, 'https', 'gateway.example', '', '/scheme']);
      assert.deepEqual(await location(c.port, '/scheme-and-host'), [302, 'https', 'example.org', '', '/scheme-and-host']);
      assert.deepEqual(await location(c.port, '/scheme-and-status'), [301, 'https', 'gateway.example', '', '/scheme-and-status']);
      assert.deepEqual(await location(c.port, '/scheme-and-host-and-status'), [302, 'https', 'example.org', '', '/scheme-and-host-and-status']);
    }));

  for (const [code, method, path] of [
    [303, 'POST', '/see-other'],
    [307, 'GET', '/temporary'],
    [308, 'GET', '/permanent'],
  ] as const) {
    it(`HTTPRoute${code}Redirect: ${method} ${path} answers ${code}, path kept`, async () => {
      const name = `httproute-${code}-redirect`;
      await clean(await conformance(with_(name)), async (c) => {
        assertParent(c, `${code}-redirect`, ACCEPTED);
        assert.deepEqual(await location(c.port, path, method), [code, 'http', 'gateway.example', String(c.port), path]);
        assert.equal(c.backends.v1.requests.length, 0);
      });
    });
  }
});

/** GET `path` over TLS to `port` with SNI and Host `host`, the certificate checked against `ca`. */
function httpsGet(port: number, host: string, path: string, ca: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, ca, agent: false, servername: host, headers: { host } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
    });
    req.on('error', reject);
  });
}

/**
 * The suite's `same-namespace-with-https-listener` Gateway (conformance/base/manifests.yaml) on `port`: its four HTTPS
 * listeners, each terminating with the `tls-validity-checks-certificate` Secret, here the same certificate as files
 * (`tls.options`, as a Gateway read from files takes it).
 */
function httpsGatewayYaml(port: number, certs: Certs): string {
  const listener = (name: string, hostname?: string) => `  - name: ${name}
    port: ${port}
    protocol: HTTPS
${hostname ? `    hostname: "${hostname}"\n` : ''}    allowedRoutes:
      namespaces: {from: Same}
    tls:
      mode: Terminate
      options:
        shadowgate.dev/certificate-file: ${certs.path('gateway.crt')}
        shadowgate.dev/private-key-file: ${certs.path('gateway.key')}
`;
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: same-namespace-with-https-listener, namespace: ${NS}}
spec:
  gatewayClassName: shadowgate
  listeners:
${listener('https')}${listener('https-with-hostname', 'second-example.org')}${listener('https-with-wildcard-hostname', '*.wildcard.org')}${listener('https-with-hostname-matching-wildcard', 'fourth-example.wildcard.org')}`;
}

describe('Gateway API conformance: HTTPS listeners', { skip: opensslMissing() }, () => {
  it('HTTPRouteRedirectPortAndScheme: on HTTP listeners (80 and 8080) and an HTTPS one (443), as the spec derives scheme and port', async () => {
    const certs = makeCa();
    certs.issue('gateway', 'example.org', ['DNS:example.org', 'DNS:second-example.org', 'DNS:*.wildcard.org']);
    const ca = readFileSync(certs.path('ca.crt'));
    const [p80, p8080, p443] = [await freePort(), await freePort(), await freePort()];
    try {
      const c = await conformance(
        { 'https.yaml': httpsGatewayYaml(p443, certs), 'suite.yaml': suiteYaml('httproute-redirect-port-and-scheme', { 8080: p8080 }) },
        {},
        p80,
      );
      await clean(c, async () => {
        for (const route of ['http-route-for-listener-on-port-80', 'http-route-for-listener-on-port-8080', 'http-route-for-listener-on-port-443']) {
          assertParent(c, route, ACCEPTED);
        }
        const http = async (port: number, path: string) => {
          const a = await send(port, path, { headers: { host: 'gateway.example' } });
          assert.equal(a.status, 302, path);
          return String(a.headers.location);
        };
        // The suite's listener ports are 80, 8080 and 443 here p80, p8080 and p443: a listener port that is the
        // scheme's well-known one is left out of Location, another one is kept (the spec's rule).
        assert.equal(await http(p80, '/scheme-nil-and-port-nil'), `http://example.org:${p80}/scheme-nil-and-port-nil`);
        assert.equal(await http(p80, '/scheme-nil-and-port-80'), 'http://example.org/scheme-nil-and-port-80');
        assert.equal(await http(p80, '/scheme-nil-and-port-8080'), 'http://example.org:8080/scheme-nil-and-port-8080');
        assert.equal(await http(p80, '/scheme-https-and-port-nil'), 'https://example.org/scheme-https-and-port-nil');
        assert.equal(await http(p80, '/scheme-https-and-port-443'), 'https://example.org/scheme-https-and-port-443');
        assert.equal(await http(p80, '/scheme-https-and-port-8443'), 'https://example.org:8443/scheme-https-and-port-8443');
        assert.equal(await http(p8080, '/scheme-nil-and-port-nil'), `http://example.org:${p8080}/scheme-nil-and-port-nil`);
        assert.equal(await http(p8080, '/scheme-nil-and-port-80'), 'http://example.org/scheme-nil-and-port-80');
        assert.equal(await http(p8080, '/scheme-https-and-port-nil'), 'https://example.org/scheme-https-and-port-nil');
        // The HTTPS listener: without a scheme the request's (https) stays.
        for (const [path, want] of [
          ['/scheme-nil-and-port-nil', `https://example.org:${p443}/scheme-nil-and-port-nil`],
          ['/scheme-nil-and-port-443', 'https://example.org/scheme-nil-and-port-443'],
          ['/scheme-nil-and-port-8443', 'https://example.org:8443/scheme-nil-and-port-8443'],
          ['/scheme-http-and-port-nil', 'http://example.org/scheme-http-and-port-nil'],
          ['/scheme-http-and-port-80', 'http://example.org/scheme-http-and-port-80'],
          ['/scheme-http-and-port-8080', 'http://example.org:8080/scheme-http-and-port-8080'],
        ] as const) {
          const a = await httpsGet(p443, 'example.org', path, ca);
          assert.equal(a.status, 302, path);
          assert.equal(a.headers.location, want, path);
        }
      });
    } finally {
      certs.remove();
    }
  });

  it('HTTPRouteHTTPSListener: routes on HTTPS listeners by hostname; another hostname gets 404', async () => {
    const certs = makeCa();
    certs.issue('gateway', 'example.org', ['DNS:example.org', 'DNS:second-example.org', 'DNS:unknown-example.org', 'DNS:*.wildcard.org']);
    const ca = readFileSync(certs.path('ca.crt'));
    const p443 = await freePort();
    try {
      const c = await conformance({ 'https.yaml': httpsGatewayYaml(p443, certs), 'suite.yaml': suiteYaml('httproute-https-listener') });
      await clean(c, async () => {
        assertParent(c, 'httproute-https-test', ACCEPTED);
        assertParent(c, 'httproute-https-test-no-hostname', ACCEPTED);
        for (const [host, status, backend] of [
          ['example.org', 200, 'infra-backend-v1'],
          ['unknown-example.org', 404, undefined],
          ['second-example.org', 200, 'infra-backend-v2'],
        ] as const) {
          const a = await httpsGet(p443, host, '/', ca);
          assert.equal(a.status, status, host);
          assert.equal(a.headers['x-upstream'], backend, host);
        }
      });
    } finally {
      certs.remove();
    }
  });
});

describe('Gateway API conformance: timeouts and retries', () => {
  it('HTTPRouteTimeoutRequest: a backend slower than timeouts.request (500ms) gets 504; "0s" disables it', async () => {
    const c = await conformance(with_('httproute-timeout-request'));
    c.backends.v1.behaviour = echoBasic(() => c.backends.v1);
    await clean(c, async () => {
      assertParent(c, 'request-timeout', ACCEPTED);
      await expect(c, '/request-timeout', 200, 'infra-backend-v1');
      // The suite's echo server answers after `delay`.
      await expect(c, '/request-timeout?delay=1s', 504);
      await expect(c, '/disable-request-timeout?delay=1s', 200, 'infra-backend-v1');
    });
  });

  it('HTTPRouteTimeoutBackendRequest: a backend slower than timeouts.backendRequest (500ms) gets 504; "0s" disables it', async () => {
    const c = await conformance(with_('httproute-timeout-backend-request'));
    c.backends.v1.behaviour = echoBasic(() => c.backends.v1);
    await clean(c, async () => {
      assertParent(c, 'backend-request-timeout', ACCEPTED);
      await expect(c, '/backend-timeout', 200, 'infra-backend-v1');
      await expect(c, '/backend-timeout?delay=1s', 504);
      await expect(c, '/disable-backend-timeout?delay=1s', 200, 'infra-backend-v1');
    });
  });

  it('HTTPRouteRetry: attempts and codes as configured; a code not listed is not retried', async () => {
    const c = await conformance(with_('httproute-retry'));
    c.backends.v3.behaviour = echoBasic(() => c.backends.v3);
    await clean(c, async () => {
      assertParent(c, 'retries', ACCEPTED);
      let id = 0;
      // [path, responseCode, succeedAfter, expected status, requests the backend gets]
      for (const [path, code, after, status, tries] of [
        ['/retry/code-500-attempts-3', 500, 2, 200, 3],
        ['/retry/code-500-attempts-3', 500, 4, 500, 4],
        ['/retry/code-500-attempts-3', 503, 2, 503, 1],
        ['/retry/code-all-attempts-2', 500, 1, 200, 2],
        ['/retry/code-all-attempts-2', 500, 3, 500, 3],
        ['/retry/code-all-attempts-2', 502, 1, 200, 2],
        ['/retry/code-all-attempts-2', 502, 3, 502, 3],
        ['/retry/code-all-attempts-2', 503, 1, 200, 2],
        ['/retry/code-all-attempts-2', 503, 3, 503, 3],
        ['/retry/code-all-attempts-2', 504, 1, 200, 2],
        ['/retry/code-all-attempts-2', 504, 3, 504, 3],
      ] as const) {
        const before = c.backends.v3.requests.length;
        const a = await c.get(`${path}?responseCode=${code}&succeedAfter=${after}&uuid=${++id}`);
        const label = `${path} responseCode=${code} succeedAfter=${after}`;
        assert.equal(a.status, status, label);
        assert.equal(a.headers['x-upstream'], 'infra-backend-v3', label);
        // Beyond the suite (which sends until the answer is as expected): attempts counted at the backend.
        assert.equal(c.backends.v3.requests.length - before, tries, label);
      }
    });
  });
});

describe('Gateway API conformance: listeners and Gateways', () => {
  it('HTTPRouteMultipleGateways: a route on two Gateways serves on both, beside each one’s own route', async () => {
    const all = await freePort();
    // The suite's `all-namespaces` Gateway (conformance/base/manifests.yaml) on its own port.
    const allNamespaces = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: all-namespaces, namespace: ${NS}}
spec:
  gatewayClassName: shadowgate
  listeners:
  - {name: http, port: ${all}, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
`;
    const c = await conformance({ 'all.yaml': allNamespaces, ...with_('httproute-multiple-gateways') });
    await clean(c, async () => {
      assert.deepEqual(parentConditions(c.tg.gw.snapshot, 'HTTPRoute', 'multiple-gateways-shared-route'), [ACCEPTED, ACCEPTED]);
      for (const [port, own] of [
        [c.port, 'infra-backend-v2'],
        [all, 'infra-backend-v3'],
      ] as const) {
        assert.equal((await send(port, '/shared', { headers: { host: 'x' } })).headers['x-upstream'], 'infra-backend-v1');
        assert.equal((await send(port, '/', { headers: { host: 'x' } })).headers['x-upstream'], own);
      }
    });
  });

  it('HTTPRouteListenerPortMatching: parentRef port (and sectionName) picks the listeners; Host carries the port', async () => {
    const [p80, p8080, p8090] = [await freePort(), await freePort(), await freePort()];
    const c = await conformance({ 'suite.yaml': suiteYaml('httproute-listener-port-matching', { 80: p80, 8080: p8080, 8090: p8090 }) });
    await clean(c, async () => {
      for (const route of ['backend-v1', 'backend-v2', 'backend-v3']) assertParent(c, route, ACCEPTED);
      // [Host, port sent to, backend or 404]; the suite's 8080 and 8090 in Host are the listener ports.
      for (const [host, port, want] of [
        ['foo.com', p80, 'infra-backend-v1'],
        [`foo.com:${p8080}`, p8080, 'infra-backend-v2'],
        [`bar.com:${p8080}`, p8080, 'infra-backend-v2'],
        [`foo.com:${p8090}`, p8090, 'infra-backend-v3'],
        [`bar.com:${p8090}`, p8090, 404],
      ] as const) {
        const a = await send(port, '/', { headers: { host } });
        if (want === 404) assert.equal(a.status, 404, host);
        else assert.equal(a.headers['x-upstream'], want, host);
      }
      const ls = gatewayListeners(c.tg.gw.snapshot, 'httproute-listener-port-matching');
      assert.deepEqual(
        ls.map((l) => [l.name, l.attachedRoutes]),
        [
          ['listener-1', 1],
          ['listener-2', 1],
          ['listener-3', 1],
          ['listener-4', 1],
          ['listener-5', 0],
        ],
      );
    });
  });
});
