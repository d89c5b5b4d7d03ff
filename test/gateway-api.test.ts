// Gateway API over real sockets beyond the conformance cases: the article as GAMMA and Gateway routes
// (examples/gateway-api), a route change by reload, status in /config_dump, invalid and cross-namespace backends.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { client, freePort, seededRandom, send, startGateway } from './harness/gateway.js';
import { backendsYaml, conformance, gatewayYaml, NS } from './harness/gateway-api.js';
import { startUpstream } from './harness/upstream.js';

after(() => client.close());

const EXAMPLE = new URL('../../examples/gateway-api/', import.meta.url);

/** An example file with its fixed ports (8000 service, 8080 gateway, 8081/8082 versions) replaced by loopback ones. */
function example(name: string, ports: Record<number, number>): string {
  return readFileSync(new URL(name, EXAMPLE), 'utf8').replace(/\b(8000|8080|8081|8082)\b/g, (p) => String(ports[Number(p)] ?? p));
}

async function configDump(adminAddress: string): Promise<{ resources: Array<{ kind: string; name: string; status?: Record<string, unknown> }> }> {
  const res = await request(`http://${adminAddress}/config_dump`, { dispatcher: client });
  return (await res.body.json()) as never;
}

describe('the article as Gateway API (examples/gateway-api)', () => {
  it('step 2 then step 3 by reload: GAMMA route to v1, then every request mirrored to v2; the Gateway serves only its hostname', async () => {
    const v1 = await startUpstream('version 1', { kind: 'answer', body: 'This is version 1\n' });
    const v2 = await startUpstream('version 2', { kind: 'answer', body: 'This is version 2\n' });
    const svc = await freePort();
    let gw = await freePort();
    while (gw === svc) gw = await freePort();
    const ports = { 8000: svc, 8080: gw, 8081: v1.port, 8082: v2.port };
    const tg = await startGateway({
      'services.yaml': example('services.yaml', ports),
      'route.yaml': example('httproute-v1.yaml', ports),
      'gateway.yaml': example('gateway.yaml', ports),
    });
    try {
      assert.deepEqual(
        tg.gw.snapshot.problems.filter((p) => p.severity !== 'info'),
        [],
      );
      for (let i = 0; i < 10; i++) assert.equal((await send(svc, '/', { headers: { host: `nginx:${svc}` } })).body, 'This is version 1\n');
      assert.equal(v1.requests.length, 10);
      assert.equal(v2.requests.length, 0, 'step 2: v2 gets nothing');

      // Step 3: the route gains a RequestMirror; the change reaches traffic with the reload, no request fails.
      tg.write('route.yaml', example('httproute-mirror.yaml', ports));
      assert.equal((await tg.gw.reload()).result, 'applied');
      for (let i = 0; i < 10; i++) {
        const a = await send(svc, `/step3/${i}`, { headers: { host: `nginx:${svc}` } });
        assert.equal(a.status, 200);
        assert.equal(a.body, 'This is version 1\n');
      }
      await v2.waitForRequests(10);
      assert.deepEqual(
        v2.requests.map((r) => r.url),
        Array.from({ length: 10 }, (_, i) => `/step3/${i}`),
      );
      assert.ok(v2.requests.every((r) => r.headers['x-shadowgate-mirror'] === 'true' && r.headers.host === `nginx:${svc}`));

      // North-south through the Gateway: its hostname only.
      const edge = await send(gw, '/hello', { headers: { host: 'nginx.example.com' } });
      assert.equal(edge.body, 'This is version 1\n');
      await v2.waitForRequests(11);
      assert.equal(v2.requests.at(-1)!.url, '/hello');
      assert.equal((await send(gw, '/', { headers: { host: 'other.example.com' } })).status, 404);
      assert.equal((await send(gw, '/', { headers: { host: 'nginx.example.org' } })).status, 404);

      // Status as data in /config_dump.
      const dump = await configDump(tg.gw.adminAddress);
      const route = dump.resources.find((r) => r.kind === 'HTTPRoute' && r.name === 'nginx')!;
      const parent = (route.status!.parents as Array<{ parentRef: { kind: string }; conditions: Array<{ type: string; status: string; reason: string }> }>)[0]!;
      assert.equal(parent.parentRef.kind, 'Service');
      assert.deepEqual(
        parent.conditions.map((c) => [c.type, c.status, c.reason]),
        [
          ['Accepted', 'True', 'Accepted'],
          ['ResolvedRefs', 'True', 'ResolvedRefs'],
        ],
      );
      const gateway = dump.resources.find((r) => r.kind === 'Gateway' && r.name === 'edge')!;
      const listener = (gateway.status!.listeners as Array<{ attachedRoutes: number }>)[0]!;
      assert.equal(listener.attachedRoutes, 1);
      const cls = dump.resources.find((r) => r.kind === 'GatewayClass')!;
      assert.ok((cls.status!.supportedFeatures as Array<{ name: string }>).some((f) => f.name === 'HTTPRouteRequestPercentageMirror'));
    } finally {
      await tg.close();
      await v1.close();
      await v2.close();
    }
  });
});

describe('backend references over real sockets', () => {
  it('an unresolvable backend answers 500 (the spec), a missing mirror backend drops only the mirror, nothing reaches a backend without a grant', async () => {
    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: refs, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /missing}}]
    backendRefs: [{name: no-such-service, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /other-ns}}]
    backendRefs: [{name: infra-backend-v1, namespace: elsewhere, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /all-zero}}]
    backendRefs: [{name: infra-backend-v1, port: 8080, weight: 0}]
  - matches: [{path: {type: PathPrefix, value: /mirror-missing}}]
    filters: [{type: RequestMirror, requestMirror: {backendRef: {name: no-such-service, port: 8080}}}]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /half}}]
    backendRefs: [{name: infra-backend-v2, port: 8080}, {name: no-such-service, port: 8080}]
`;
    const c = await conformance({ 'refs.yaml': route }, { random: seededRandom(3) });
    try {
      assert.equal((await c.get('/missing')).status, 500);
      assert.equal((await c.get('/all-zero')).status, 500);
      assert.equal((await c.get('/other-ns')).status, 500);
      assert.equal((await c.get('/mirror-missing')).status, 200);
      assert.equal(c.backends.v1.requests.length, 1, 'only the valid rule reached a backend');
      assert.equal(c.backends.v2.requests.length + c.backends.v3.requests.length, 0);
      // An invalid backend among valid ones keeps its share of traffic, which fails; the valid one serves the rest.
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) statuses.push((await c.get('/half')).status);
      assert.deepEqual([...new Set(statuses)].sort(), [200, 503]);
      assert.equal(c.backends.v2.requests.length, statuses.filter((s) => s === 200).length);
      const problems = c.tg.gw.snapshot.problems.filter((p) => p.resource === `HTTPRoute ${NS}/refs`);
      assert.deepEqual(
        problems.map((p) => [p.code, p.path]),
        [
          ['backend-not-found', 'spec.rules[0].backendRefs[0]'],
          ['ref-not-permitted', 'spec.rules[1].backendRefs[0]'],
          ['backend-not-found', 'spec.rules[3].filters[0].requestMirror.backendRef'],
          ['backend-not-found', 'spec.rules[4].backendRefs[1]'],
        ],
      );
    } finally {
      await c.close();
    }
  });

  it('a cross-namespace backendRef needs a ReferenceGrant in the target namespace (RefNotPermitted without)', async () => {
    const other = await startUpstream('other-ns-backend');
    const port = await freePort();
    const files = (grant: boolean) => ({
      'backends.yaml': backendsYaml([]) + backendsYaml([other]).replaceAll(NS, 'shop'),
      'gateway.yaml': gatewayYaml(port),
      'route.yaml': `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cross, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - backendRefs: [{name: other-ns-backend, namespace: shop, port: 8080}]
${
  grant
    ? `---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: from-infra, namespace: shop}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: ${NS}}]
  to: [{group: "", kind: Service, name: other-ns-backend}]
`
    : ''
}`,
    });
    const denied = await startGateway(files(false));
    try {
      assert.equal((await send(port, '/', { headers: { host: 'x' } })).status, 500);
      assert.equal(other.requests.length, 0);
      const status = denied.gw.snapshot.resources.find((r) => r.name === 'cross')!.status!;
      const conds = (status.parents as Array<{ conditions: Array<{ type: string; status: string; reason: string }> }>)[0]!.conditions;
      const resolved = conds.find((c) => c.type === 'ResolvedRefs')!;
      assert.deepEqual([resolved.status, resolved.reason], ['False', 'RefNotPermitted']);
    } finally {
      await denied.close();
    }
    const granted = await startGateway(files(true));
    try {
      assert.equal((await send(port, '/', { headers: { host: 'x' } })).status, 200);
      assert.equal(other.requests.length, 1);
    } finally {
      await granted.close();
      await other.close();
    }
  });

  it('timeouts.request: a backend that never answers gets 504 after the route timeout', async () => {
    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: slow, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
  - timeouts: {request: 200ms}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`;
    const c = await conformance({ 'slow.yaml': route });
    try {
      c.backends.v1.behaviour = { kind: 'hang' };
      assert.equal((await c.get('/')).status, 504);
    } finally {
      await c.close();
    }
  });
});

describe('RequestRedirect over real sockets', () => {
  it('scheme, hostname, port and status code as the spec says (cases of HTTPRouteRedirectPortAndScheme), path by ReplaceFullPath', async () => {
    const redirect = (path: string, spec: string) => `  - matches: [{path: {type: PathPrefix, value: ${path}}}]
    filters: [{type: RequestRedirect, requestRedirect: ${spec}}]`;
    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: redirects, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
${redirect('/scheme-nil-and-port-nil', '{hostname: example.org}')}
${redirect('/scheme-nil-and-port-80', '{hostname: example.org, port: 80}')}
${redirect('/scheme-nil-and-port-8080', '{hostname: example.org, port: 8080}')}
${redirect('/scheme-https-and-port-nil', '{hostname: example.org, scheme: https}')}
${redirect('/scheme-https-and-port-443', '{hostname: example.org, scheme: https, port: 443}')}
${redirect('/scheme-https-and-port-8443', '{hostname: example.org, scheme: https, port: 8443}')}
${redirect('/full', '{path: {type: ReplaceFullPath, replaceFullPath: /elsewhere}, statusCode: 301}')}
${redirect('/prefix', '{path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}')}
`;
    const c = await conformance({ 'redirects.yaml': route });
    try {
      const location = async (path: string, status = 302) => {
        const a = await c.get(path, { headers: { host: 'gw.example' } });
        assert.equal(a.status, status, path);
        return a.headers.location;
      };
      assert.equal(await location('/scheme-nil-and-port-nil'), `http://example.org:${c.port}/scheme-nil-and-port-nil`);
      assert.equal(await location('/scheme-nil-and-port-80'), 'http://example.org/scheme-nil-and-port-80');
      assert.equal(await location('/scheme-nil-and-port-8080'), 'http://example.org:8080/scheme-nil-and-port-8080');
      assert.equal(await location('/scheme-https-and-port-nil'), 'https://example.org/scheme-https-and-port-nil');
      assert.equal(await location('/scheme-https-and-port-443'), 'https://example.org/scheme-https-and-port-443');
      assert.equal(await location('/scheme-https-and-port-8443'), 'https://example.org:8443/scheme-https-and-port-8443');
      assert.equal(await location('/full/x?q=1', 301), `http://gw.example:${c.port}/elsewhere?q=1`);
      assert.equal(await location('/prefix/x?q=1'), `http://gw.example:${c.port}/new/x?q=1`);
      assert.deepEqual(
        c.tg.gw.snapshot.problems.filter((p) => p.severity !== 'info'),
        [],
      );
      assert.equal(c.backends.v1.requests.length, 0);
    } finally {
      await c.close();
    }
  });
});

describe('ReplacePrefixMatch: the spec table, for URLRewrite and RequestRedirect alike', () => {
  // The HTTPPathModifier table of the Gateway API spec (request path, PathPrefix value, replacePrefixMatch,
  // modified path), plus a prefix of `/`, where the whole path follows the replacement.
  const TABLE: Array<[string, string, string, string]> = [
    ['/foo/bar', '/foo', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo', '/xyz/', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz/', '/xyz/bar'],
    ['/foo', '/foo', '/xyz', '/xyz'],
    ['/foo/', '/foo', '/xyz', '/xyz/'],
    ['/foo/bar', '/foo', '', '/bar'],
    ['/foo/', '/foo', '', '/'],
    ['/foo', '/foo', '', '/'],
    ['/foo/', '/foo', '/', '/'],
    ['/foo', '/foo', '/', '/'],
    ['/foo/bar', '/', '/xyz', '/xyz/foo/bar'],
    ['/foo/bar', '/', '/', '/foo/bar'],
    ['/foo/bar?q=1&r=/foo', '/foo', '/xyz', '/xyz/bar?q=1&r=/foo'],
  ];

  it('each row: the backend receives the modified path (URLRewrite), and Location carries it (RequestRedirect)', async () => {
    // One route per row, told apart by hostname: rNN-rewrite.example and rNN-redirect.example.
    const docs = TABLE.flatMap(([, prefix, replace], i) =>
      (['rewrite', 'redirect'] as const).map(
        (kind) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r${i}-${kind}, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace}]
  hostnames: [r${i}-${kind}.example]
  rules:
  - matches: [{path: {type: PathPrefix, value: "${prefix}"}}]
    filters:
    - type: ${kind === 'rewrite' ? 'URLRewrite' : 'RequestRedirect'}
      ${kind === 'rewrite' ? 'urlRewrite' : 'requestRedirect'}: {path: {type: ReplacePrefixMatch, replacePrefixMatch: "${replace}"}}
${kind === 'rewrite' ? '    backendRefs: [{name: infra-backend-v1, port: 8080}]\n' : ''}`,
      ),
    );
    const c = await conformance({ 'table.yaml': docs.join('---\n') });
    try {
      assert.deepEqual(
        c.tg.gw.snapshot.problems.filter((p) => p.severity !== 'info'),
        [],
      );
      for (const [i, [path, prefix, replace, modified]] of TABLE.entries()) {
        const row = `${path} with ${prefix} replaced by "${replace}"`;
        const rewritten = await c.get(path, { headers: { host: `r${i}-rewrite.example` } });
        assert.equal(rewritten.status, 200, row);
        assert.equal(c.backends.v1.requests.at(-1)!.url, modified, `URLRewrite: ${row}`);
        const redirected = await c.get(path, { headers: { host: `r${i}-redirect.example` } });
        assert.equal(redirected.status, 302, row);
        const url = new URL(String(redirected.headers.location));
        assert.equal(url.pathname + url.search, modified, `RequestRedirect: ${row}`);
      }
    } finally {
      await c.close();
    }
  });
});

describe('MeshHTTPRouteRedirectPath: a prefix-replacing redirect on a route bound to a Service (GAMMA)', () => {
  it('the cases of mesh-redirect-path, on the Service host', async () => {
    const port = await freePort();
    const tg = await startGateway({
      'echo.yaml': `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo.default.svc.cluster.local]
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: 1}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: mesh-redirect-path, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: echo, port: ${port}}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /original-prefix}}]
    filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}}}]
  - matches: [{path: {type: PathPrefix, value: /full}}]
    filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /full-path-replacement}}}]
  - matches: [{path: {type: PathPrefix, value: /path-and-host}}]
    filters: [{type: RequestRedirect, requestRedirect: {hostname: example.org, path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}}}]
  - matches: [{path: {type: PathPrefix, value: /path-and-status}}]
    filters: [{type: RequestRedirect, requestRedirect: {statusCode: 301, path: {type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix}}}]
`,
    });
    try {
      assert.deepEqual(
        tg.gw.snapshot.problems.filter((p) => p.severity !== 'info'),
        [],
      );
      for (const [path, status, host, location] of [
        ['/original-prefix/lemon', 302, 'echo', '/replacement-prefix/lemon'],
        ['/full/path/original', 302, 'echo', '/full-path-replacement'],
        ['/path-and-host', 302, 'example.org', '/replacement-prefix'],
        ['/path-and-status', 301, 'echo', '/replacement-prefix'],
      ] as const) {
        const a = await send(port, path, { headers: { host: `echo:${port}` } });
        assert.equal(a.status, status, path);
        const url = new URL(String(a.headers.location));
        assert.equal(url.hostname, host, path);
        assert.equal(url.pathname, location, path);
      }
    } finally {
      await tg.close();
    }
  });
});
