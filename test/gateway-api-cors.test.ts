// Gateway API HTTPRoute `CORS` filter (GEP-1767): the conformance suite's HTTPRouteCORS replayed over real sockets
// with its own YAML (test/fixtures/gateway-api/httproute-cors.yaml) and expectations, then what the suite leaves
// out: credentialed requests, host wildcards and ports, exposeHeaders `*`, the upstream's own CORS headers, a
// mirrored rule, backendRef-level filters, and the CRD's validation rules.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { SUPPORTED_FEATURES } from '../src/config/gateway-api/index.js';
import { loadSnapshot, type Snapshot } from '../src/config/index.js';
import { type Answer, client } from './harness/gateway.js';
import { type Conformance, clean, conformance, fixture, gatewayYaml, NS, parentConditions } from './harness/gateway-api.js';

after(() => client.close());

/** One of the suite's ExpectedResponse cases, as it checks them. */
interface Case {
  name: string;
  path: string;
  method: string;
  headers: Record<string, string>;
  /** The suite's `StatusCodes` (any of) or `StatusCode`. */
  status: number[];
  /** `ValidHeaderValues`: the header is one of these. */
  oneOf?: Record<string, string[]>;
  /** `Headers`: exactly this value. */
  exact?: Record<string, string>;
  absent?: string[];
  /** `IgnoreWhitespace`: values are compared without whitespace. */
  ignoreWhitespace?: boolean;
  /** A simple request reaches infra-backend-v1 (the suite checks the echoed request); a preflight reaches nothing. */
  forwarded: boolean;
}

const PREFLIGHT_1 = { 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-header-1, x-header-2' };
const ALLOWED_1 = (origin: string): Record<string, string[]> => ({
  'access-control-allow-origin': [origin],
  'access-control-allow-methods': ['GET, OPTIONS', 'OPTIONS, GET'],
  'access-control-allow-headers': ['x-header-1, x-header-2', 'x-header-2, x-header-1'],
  'access-control-expose-headers': ['x-header-3, x-header-4', 'x-header-4, x-header-3'],
  'access-control-max-age': ['3600'],
  'access-control-allow-credentials': ['true'],
});
const OK = [200, 204];

/** conformance/tests/httproute-cors.go, case by case (its names). */
const SUITE: Case[] = [
  ...['https://www.foo.com', 'https://www.bar.com', 'https://xpto.www.bar.com'].map(
    (origin, i): Case => ({
      name: [
        'CORS preflight request from an exact matching origin should be allowed',
        'CORS preflight request from a wildcard matching origin should be allowed',
        "CORS preflight request from a wildcard matching any number of periods left to '*' should be allowed",
      ][i]!,
      path: '/cors-1',
      method: 'OPTIONS',
      headers: { origin, ...PREFLIGHT_1 },
      status: OK,
      oneOf: ALLOWED_1(origin),
      ignoreWhitespace: true,
      forwarded: false,
    }),
  ),
  {
    name: 'CORS preflight request from a non-matching origin should not be allowed',
    path: '/cors-1',
    method: 'OPTIONS',
    headers: { origin: 'https://foobar.com', 'access-control-request-method': 'GET' },
    status: [200, 204, 403],
    absent: ['access-control-allow-origin'],
    forwarded: false,
  },
  ...['https://www.foo.com', 'https://www.bar.com'].map(
    (origin, i): Case => ({
      name: ['Simple request from an exact matching origin should be allowed', 'Simple request from a wildcard matching origin should be allowed'][i]!,
      path: '/cors-1',
      method: 'GET',
      headers: { origin, ...PREFLIGHT_1 },
      status: [200],
      exact: { 'access-control-allow-origin': origin },
      forwarded: true,
    }),
  ),
  {
    name: 'Simple request from a non-matching origin should not be allowed',
    path: '/cors-1',
    method: 'GET',
    headers: { origin: 'https://foobar.com', 'access-control-request-method': 'GET' },
    status: [200],
    absent: ['access-control-allow-origin'],
    forwarded: true,
  },
  {
    name: 'CORS preflight request with POST method should be allowed by allowMethods with wildcard',
    path: '/cors-2',
    method: 'OPTIONS',
    headers: { origin: 'https://www.foo.com', 'access-control-request-method': 'POST' },
    status: OK,
    oneOf: { 'access-control-allow-methods': ['POST', '*'] },
    exact: { 'access-control-allow-origin': 'https://www.foo.com' },
    absent: ['access-control-allow-credentials'],
    forwarded: false,
  },
  {
    name: 'CORS preflight request should not receive access-control-allow-credentials header without access-control-allow-credentials set to true',
    path: '/cors-2',
    method: 'OPTIONS',
    headers: { origin: 'https://www.foo.com', 'access-control-request-method': 'POST' },
    status: OK,
    absent: ['access-control-allow-credentials'],
    forwarded: false,
  },
  ...['https://foobar.com', 'https://foobar.com:12345'].map(
    (origin, i): Case => ({
      name: [
        "CORS preflight request from a wildcard origin should return header with '*' or with the requested Origin",
        "CORS preflight request from a wildcard origin containing a port should return header with '*' or with the requested Origin",
      ][i]!,
      path: '/cors-wildcard-origin',
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'PUT' },
      status: OK,
      oneOf: { 'access-control-allow-origin': [origin, '*'], 'access-control-allow-methods': ['PUT'] },
      absent: ['access-control-allow-credentials'],
      forwarded: false,
    }),
  ),
  ...['https://foobar.com:12345', 'https://foobar.com'].map(
    (origin, i): Case => ({
      name: [
        "Request from a wildcard origin containing a port should return header with '*' or with the requested Origin",
        "Simple request from a wildcard origin should return header with '*' or with the requested Origin",
      ][i]!,
      path: '/cors-wildcard-origin',
      method: 'PUT',
      headers: { origin },
      status: [200],
      oneOf: { 'access-control-allow-origin': [origin, '*'] },
      // The suite leaves this out for the port case only.
      absent: i === 1 ? ['access-control-allow-credentials'] : [],
      forwarded: true,
    }),
  ),
  {
    name: 'CORS preflight request requesting specific method and headers should be allowed and always echo the origin with allowCredentials set to true',
    path: '/cors-wildcard-methods-headers',
    method: 'OPTIONS',
    headers: { origin: 'https://other.foo.com', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-header-1, x-header-2' },
    status: OK,
    oneOf: {
      'access-control-allow-origin': ['https://other.foo.com'],
      'access-control-allow-methods': ['PUT'],
      'access-control-allow-headers': ['x-header-1, x-header-2', 'x-header-2, x-header-1'],
      'access-control-allow-credentials': ['true'],
    },
    ignoreWhitespace: true,
    forwarded: false,
  },
  {
    name: 'CORS preflight request requesting specific method and headers should hide access-control-allow-credentials headers with allowCredentials set to false',
    path: '/cors-wildcard-methods-headers-unauth',
    method: 'OPTIONS',
    headers: { origin: 'https://other.foo.com', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'x-header-1, x-header-2' },
    status: OK,
    oneOf: {
      'access-control-allow-origin': ['https://other.foo.com', '*'],
      'access-control-allow-methods': ['PUT', '*'],
      'access-control-allow-headers': ['x-header-1, x-header-2', 'x-header-2, x-header-1', '*'],
    },
    absent: ['access-control-allow-credentials'],
    ignoreWhitespace: true,
    forwarded: false,
  },
  {
    name: 'CORS request should receive access-control-allow-credentials header with allowCredentials set to true',
    path: '/cors-wildcard-methods-headers',
    method: 'GET',
    headers: { origin: 'https://other.foo.com' },
    status: [200],
    oneOf: { 'access-control-allow-origin': ['https://other.foo.com'], 'access-control-allow-credentials': ['true'] },
    forwarded: true,
  },
  {
    name: 'CORS request should not receive access-control-allow-credentials header without allowCredentials set to true',
    path: '/cors-wildcard-methods-headers-unauth',
    method: 'GET',
    headers: { origin: 'https://other.foo.com' },
    status: [200],
    oneOf: { 'access-control-allow-origin': ['https://other.foo.com', '*'] },
    absent: ['access-control-allow-credentials'],
    forwarded: true,
  },
];

const text = (a: Answer, name: string): string | undefined => {
  const v = a.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
};

async function check(c: Conformance, k: Case): Promise<Answer> {
  const before = c.backends.v1.requests.length;
  const a = await c.get(k.path, { method: k.method, headers: k.headers });
  const label = `${k.name} (${JSON.stringify(a.headers)})`;
  assert.ok(k.status.includes(a.status), `${label}: status ${a.status}`);
  const squash = (s: string | undefined) => (k.ignoreWhitespace ? s?.replace(/\s/g, '') : s);
  for (const [name, values] of Object.entries(k.oneOf ?? {})) {
    assert.ok(values.map(squash).includes(squash(text(a, name))), `${label}: ${name} is one of ${JSON.stringify(values)}`);
  }
  for (const [name, value] of Object.entries(k.exact ?? {})) assert.equal(text(a, name), value, `${label}: ${name}`);
  for (const name of k.absent ?? []) assert.equal(text(a, name), undefined, `${label}: no ${name}`);
  if (k.forwarded) {
    assert.equal(a.headers['x-upstream'], 'infra-backend-v1', label);
    await c.backends.v1.waitForRequests(before + 1);
    assert.equal(c.backends.v1.requests.at(-1)!.method, k.method, label);
  } else {
    assert.equal(a.headers['x-upstream'], undefined, `${label}: answered by the gateway`);
    assert.equal(a.body, '', label);
  }
  return a;
}

describe('Gateway API conformance: HTTPRouteCORS', () => {
  it('HTTPRouteCORS: every case of the suite, with its YAML; no preflight reaches the backend', async () => {
    await clean(await conformance({ 'httproute-cors.yaml': fixture('httproute-cors') }), async (c) => {
      for (const name of ['cors-multiple-origins-methods-headers', 'cors-wildcard-methods', 'cors-wildcard-origin', 'cors-wildcard-methods-headers']) {
        assert.deepEqual(parentConditions(c.tg.gw.snapshot, 'HTTPRoute', name), [['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']], name);
      }
      for (const k of SUITE) await check(c, k);
      assert.deepEqual(
        c.backends.v1.requests.map((r) => r.method).filter((m) => m === 'OPTIONS'),
        [],
      );
    });
  });

  it('HTTPRouteCORS is claimed in supportedFeatures', () => {
    assert.ok(SUPPORTED_FEATURES.includes('HTTPRouteCORS'));
  });
});

const route = (name: string, rules: string) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: ${NS}}
spec:
  parentRefs: [{name: same-namespace}]
  rules:
${rules}`;

const OWN = route(
  'cors-own',
  `  - matches: [{path: {type: PathPrefix, value: /hosts}}]
    filters:
    - type: CORS
      cors:
        allowOrigins: ["https://*.example.com", "http://localhost:3000", "http://*:8080"]
        allowMethods: [PUT]
        exposeHeaders: ["*"]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /any-credentials}}]
    filters:
    - type: CORS
      cors:
        allowOrigins: ["*"]
        allowCredentials: true
        allowMethods: ["*"]
        allowHeaders: ["*"]
        exposeHeaders: ["*"]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /any}}]
    filters:
    - type: CORS
      cors:
        allowOrigins: ["*"]
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /mirrored}}]
    filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: infra-backend-v2, port: 8080}}
    - type: CORS
      cors:
        allowOrigins: ["https://app.example"]
        allowCredentials: true
        allowHeaders: [x-trace]
        exposeHeaders: [x-upstream]
        maxAge: 600
    backendRefs: [{name: infra-backend-v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /moved}}]
    filters:
    - type: CORS
      cors:
        allowOrigins: ["https://app.example"]
    - type: RequestRedirect
      requestRedirect: {hostname: elsewhere.example}
`,
);

const ask = (c: Conformance, path: string, origin: string, method = 'PUT', headers: Record<string, string> = {}) =>
  c.get(path, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, ...headers } });

describe('Gateway API CORS filter: beyond the suite', () => {
  it('host wildcards take one or more labels; scheme and port (80/443 when unwritten) must match; "null" matches no pattern', async () => {
    await clean(await conformance({ 'own.yaml': OWN }), async (c) => {
      for (const origin of [
        'https://a.example.com',
        'https://a.b.example.com',
        'https://a.example.com:443',
        'http://localhost:3000',
        'http://anything.test:8080',
      ]) {
        const a = await ask(c, '/hosts', origin);
        assert.equal(a.status, 200, origin);
        assert.equal(a.headers['access-control-allow-origin'], origin, origin);
        assert.equal(a.headers['access-control-allow-methods'], 'PUT', origin);
        // maxAge unset: the CRD's default, 5 seconds.
        assert.equal(a.headers['access-control-max-age'], '5', origin);
        // Without credentials, `*` is a wildcard to the browser: said as written.
        assert.equal(a.headers['access-control-expose-headers'], '*', origin);
      }
      for (const origin of [
        'https://example.com',
        'http://a.example.com',
        'https://a.example.com:8443',
        'http://localhost',
        'http://localhost:3001',
        'http://anything.test',
        'null',
        'https://a.example.com.evil.test:1',
      ]) {
        const a = await ask(c, '/hosts', origin);
        assert.equal(a.status, 200, origin);
        assert.deepEqual(
          Object.keys(a.headers).filter((h) => h.startsWith('access-control-')),
          [],
          `${origin}: no CORS header at all`,
        );
      }
      // Not one preflight was forwarded; a simple request from another origin is served without CORS headers.
      assert.equal(c.backends.v1.requests.length, 0);
      const simple = await c.get('/hosts', { headers: { origin: 'https://example.com' } });
      assert.equal(simple.headers['x-upstream'], 'infra-backend-v1');
      assert.equal(simple.headers['access-control-allow-origin'], undefined);
    });
  });

  it('allowOrigins "*": answered "*" without credentials; echoed with them, and exposeHeaders "*" becomes the answer\'s own header names', async () => {
    await clean(await conformance({ 'own.yaml': OWN }), async (c) => {
      const any = await c.get('/any', { headers: { origin: 'https://site.test' } });
      assert.equal(any.headers['access-control-allow-origin'], '*');
      assert.equal(any.headers['access-control-allow-credentials'], undefined);
      const pre = await ask(c, '/any', 'https://site.test');
      assert.equal(pre.headers['access-control-allow-origin'], '*');
      // No allowMethods: no Access-Control-Allow-Methods (the browser allows the safelisted ones only).
      assert.equal(pre.headers['access-control-allow-methods'], undefined);

      const creds = await ask(c, '/any-credentials', 'https://site.test', 'DELETE', { 'access-control-request-headers': 'x-a, x-b' });
      assert.equal(creds.headers['access-control-allow-origin'], 'https://site.test');
      assert.equal(creds.headers['access-control-allow-credentials'], 'true');
      assert.equal(creds.headers['access-control-allow-methods'], 'DELETE');
      assert.equal(creds.headers['access-control-allow-headers'], 'x-a, x-b');
      // `*` is no wildcard with credentials and a preflight's answer has no header worth exposing.
      assert.equal(creds.headers['access-control-expose-headers'], undefined);
      const noHeaders = await ask(c, '/any-credentials', 'https://site.test');
      assert.equal(noHeaders.headers['access-control-allow-headers'], undefined, 'none asked for, none said');

      const get = await c.get('/any-credentials', { headers: { origin: 'https://site.test', cookie: 'session=1' } });
      assert.equal(get.headers['access-control-allow-origin'], 'https://site.test');
      assert.equal(get.headers['access-control-allow-credentials'], 'true');
      const exposed = String(get.headers['access-control-expose-headers']).split(', ');
      assert.ok(exposed.includes('x-upstream') && exposed.includes('content-type'), String(exposed));
      assert.ok(!exposed.includes('*'));
    });
  });

  it('a credentialed request (a Cookie) gets no CORS header where credentials are not allowed (GEP-1767)', async () => {
    await clean(await conformance({ 'own.yaml': OWN }), async (c) => {
      const a = await c.get('/any', { headers: { origin: 'https://site.test', cookie: 'session=1' } });
      assert.equal(a.status, 200);
      assert.equal(a.headers['x-upstream'], 'infra-backend-v1');
      assert.equal(a.headers['access-control-allow-origin'], undefined);
      const b = await c.get('/hosts', { headers: { origin: 'https://a.example.com', cookie: 'session=1' } });
      assert.equal(b.headers['access-control-allow-origin'], undefined);
      assert.equal(b.headers['access-control-expose-headers'], undefined);
    });
  });

  it("the upstream's own CORS headers never reach the client: the filter alone says them", async () => {
    await clean(await conformance({ 'own.yaml': OWN }), async (c) => {
      c.backends.v1.behaviour = {
        kind: 'answer',
        headers: {
          'access-control-allow-origin': 'https://evil.test',
          'access-control-allow-credentials': 'true',
          'access-control-expose-headers': 'x-secret',
        },
      };
      const other = await c.get('/hosts', { headers: { origin: 'https://evil.test' } });
      assert.equal(other.headers['x-upstream'], 'infra-backend-v1');
      assert.deepEqual(
        Object.keys(other.headers).filter((h) => h.startsWith('access-control-')),
        [],
      );
      const ok = await c.get('/any', { headers: { origin: 'https://site.test' } });
      assert.equal(ok.headers['access-control-allow-origin'], '*');
      assert.equal(ok.headers['access-control-allow-credentials'], undefined);
      assert.equal(ok.headers['access-control-expose-headers'], undefined);
    });
  });

  it('a mirrored rule: the preflight is answered, neither forwarded nor mirrored; the simple request is served, mirrored, and gets the headers', async () => {
    await clean(await conformance({ 'own.yaml': OWN }), async (c) => {
      const pre = await ask(c, '/mirrored', 'https://app.example', 'PATCH', { 'access-control-request-headers': 'x-trace' });
      assert.equal(pre.status, 200);
      assert.equal(pre.headers['access-control-allow-origin'], 'https://app.example');
      assert.equal(pre.headers['access-control-allow-credentials'], 'true');
      assert.equal(pre.headers['access-control-allow-headers'], 'x-trace');
      assert.equal(pre.headers['access-control-expose-headers'], 'x-upstream');
      assert.equal(pre.headers['access-control-max-age'], '600');
      const denied = await ask(c, '/mirrored', 'https://other.example');
      assert.equal(denied.status, 200);
      assert.equal(denied.headers['access-control-allow-credentials'], undefined);
      await c.tg.access.until((es) => es.filter((e) => e.method === 'OPTIONS').length === 2);
      const logged = c.tg.access.entries.filter((e) => e.method === 'OPTIONS');
      assert.ok(
        logged.every((e) => e.response_code === 200 && e.upstream_host === '-' && e.mirrors.length === 0),
        JSON.stringify(logged),
      );

      const get = await c.get('/mirrored', { headers: { origin: 'https://app.example' } });
      assert.equal(get.headers['x-upstream'], 'infra-backend-v1');
      assert.equal(get.headers['access-control-allow-origin'], 'https://app.example');
      assert.equal(get.headers['access-control-allow-credentials'], 'true');
      assert.equal(get.headers['access-control-expose-headers'], 'x-upstream');
      await c.backends.v2.waitForRequests(1);
      assert.deepEqual(
        c.backends.v2.requests.map((r) => `${r.method} ${r.url} ${r.headers.origin}`),
        ['GET /mirrored https://app.example'],
      );
      assert.deepEqual(
        c.backends.v1.requests.map((r) => r.method),
        ['GET'],
      );
    });
  });

  it('OPTIONS without Access-Control-Request-Method is no preflight: forwarded; a redirect rule answers preflights and its redirects carry the headers', async () => {
    await clean(await conformance({ 'own.yaml': OWN }), async (c) => {
      const o = await c.get('/hosts', { method: 'OPTIONS', headers: { origin: 'https://a.example.com' } });
      assert.equal(o.headers['x-upstream'], 'infra-backend-v1');
      assert.equal(o.headers['access-control-allow-origin'], 'https://a.example.com');
      const pre = await ask(c, '/moved', 'https://app.example');
      assert.equal(pre.status, 200);
      assert.equal(pre.headers.location, undefined);
      assert.equal(pre.headers['access-control-allow-origin'], 'https://app.example');
      const r = await c.get('/moved', { headers: { origin: 'https://app.example' } });
      assert.equal(r.status, 302);
      assert.equal(r.headers['access-control-allow-origin'], 'https://app.example');
    });
  });
});

const BASE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: infra-backend-v1, namespace: ${NS}, annotations: {shadowgate.dev/listen: "false"}}
spec:
  hosts: [infra-backend-v1.${NS}.svc.cluster.local]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
${gatewayYaml(18080)}`;

function load(rules: string): Snapshot {
  return loadSnapshot([{ path: 'gw.yaml', text: BASE + route('r', rules) }]);
}

const problems = (s: Snapshot) => s.problems.filter((p) => p.severity !== 'info').map((p) => `${p.severity} ${p.code} ${p.path}`);

const withCors = (cors: string) => `  - filters:
    - type: CORS
      cors: ${cors}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`;

describe('Gateway API CORS filter: the CRD rules', () => {
  it("a valid filter loads clean and compiles onto the rule's routes with Gateway API semantics", () => {
    const s = load(withCors('{allowOrigins: ["https://*.Example.com:8443", "http://a.test"], allowMethods: [GET, PATCH], allowHeaders: [X-A], maxAge: 60}'));
    assert.deepEqual(problems(s), []);
    const routes = s.listeners.find((l) => l.port === 18080)!.virtualHosts.flatMap((v) => v.routes);
    assert.deepEqual(
      routes.map((r) => r.cors),
      [
        {
          allowOrigins: [],
          allowMethods: 'GET, PATCH',
          allowHeaders: 'X-A',
          exposeHeaders: '',
          maxAge: '60',
          forwardUnmatchedPreflights: false,
          gatewayApi: {
            origins: [
              { scheme: 'https', host: '*.example.com', port: 8443 },
              { scheme: 'http', host: 'a.test', port: 80 },
            ],
          },
        },
      ],
    );
  });

  const refused: Array<[string, string, string]> = [
    ['{allowOrigins: ["*", "https://a.test"]}', 'invalid-value', 'allowOrigins'],
    ['{allowOrigins: ["https://a.*.test"]}', 'invalid-value', 'allowOrigins[0]'],
    ['{allowOrigins: ["ftp://a.test"]}', 'invalid-value', 'allowOrigins[0]'],
    ['{allowOrigins: ["https://a.test/path"]}', 'invalid-value', 'allowOrigins[0]'],
    ['{allowOrigins: ["https://a.test:70000"]}', 'invalid-value', 'allowOrigins[0]'],
    ['{allowOrigins: ["https://a.test", "https://a.test"]}', 'invalid-value', 'allowOrigins[1]'],
    ['{allowMethods: [get]}', 'invalid-value', 'allowMethods[0]'],
    ['{allowMethods: ["*", GET]}', 'invalid-value', 'allowMethods'],
    ['{allowMethods: [GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH, GET]}', 'too-many', 'allowMethods'],
    ['{allowHeaders: ["x a"]}', 'invalid-value', 'allowHeaders[0]'],
    ['{allowHeaders: ["*", x-a]}', 'invalid-value', 'allowHeaders'],
    ['{exposeHeaders: ["x:a"]}', 'invalid-value', 'exposeHeaders[0]'],
    ['{maxAge: 0}', 'out-of-range', 'maxAge'],
    ['{allowCredentials: "yes"}', 'wrong-type', 'allowCredentials'],
    ['{allowOrigin: ["*"]}', 'unknown-field', 'allowOrigin'],
  ];
  for (const [cors, code, at] of refused) {
    it(`refuses ${cors}: ${code} at ${at}`, () => {
      const s = load(withCors(cors));
      const path = `spec.rules[0].filters[0].cors.${at}`;
      assert.ok(
        problems(s).some((p) => p === `error ${code} ${path}`),
        `${problems(s).join('\n')}`,
      );
    });
  }

  it('a CORS filter listed twice, a cors field on another type, or none on CORS are refused', () => {
    const twice = load(`  - filters:
    - {type: CORS, cors: {allowOrigins: ["*"]}}
    - {type: CORS, cors: {allowOrigins: ["*"]}}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`);
    assert.ok(problems(twice).includes('error duplicate-filter spec.rules[0].filters[1].type'), problems(twice).join('\n'));
    const other = load(`  - filters:
    - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: a, value: b}]}, cors: {allowOrigins: ["*"]}}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`);
    assert.ok(problems(other).includes('error conflicting-fields spec.rules[0].filters[0].cors'), problems(other).join('\n'));
    const none = load(`  - filters:
    - {type: CORS}
    backendRefs: [{name: infra-backend-v1, port: 8080}]
`);
    assert.ok(problems(none).includes('error missing-field spec.rules[0].filters[0].cors'), problems(none).join('\n'));
  });

  it('on a backendRef (the CRD allows it; a preflight is answered before a backend is picked): a warning, the rule answers 500', () => {
    const s = load(`  - backendRefs:
    - name: infra-backend-v1
      port: 8080
      filters: [{type: CORS, cors: {allowOrigins: ["*"]}}]
`);
    assert.deepEqual(problems(s), ['warning not-supported spec.rules[0].backendRefs[0].filters[0].type']);
    const routes = s.listeners.find((l) => l.port === 18080)!.virtualHosts.flatMap((v) => v.routes);
    assert.deepEqual(
      routes.map((r) => [r.action, r.cors]),
      [[{ kind: 'directResponse', response: { status: 500 } }, undefined]],
    );
  });
});
