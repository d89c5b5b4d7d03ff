// VirtualService corsPolicy, as Istio configures Envoy's CORS filter: preflights from allowed origins are answered
// by the gateway (never forwarded nor mirrored), answers to allowed origins carry the allow headers over the
// upstream's own, other origins get nothing added; unmatchedPreflights IGNORE answers other origins' preflights too.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, freePort, send, serviceYaml, startGateway, type TestGateway, virtualServiceYaml as vs } from './harness/gateway.js';
import { startUpstream, type TestUpstream } from './harness/upstream.js';

after(() => client.close());

const POLICY = `    corsPolicy:
      allowOrigins:
      - exact: https://app.example.com
      - prefix: https://preview-
      - regex: "https://[a-z]+\\\\.partner\\\\.example"
      allowMethods: [GET, POST, PATCH]
      allowHeaders: [authorization, x-trace]
      exposeHeaders: [x-served-by, x-cost]
      maxAge: 24h
      allowCredentials: true
`;

describe('VirtualService corsPolicy (Envoy CORS filter)', () => {
  let v1: TestUpstream;
  let v2: TestUpstream;
  let tg: TestGateway;
  let port: number;
  before(async () => {
    // The upstream says its own CORS headers: the gateway's policy must win for allowed origins, as Envoy's does.
    v1 = await startUpstream('v1', { kind: 'answer', body: 'v1', headers: { 'access-control-allow-origin': '*', 'x-served-by': 'v1' } });
    v2 = await startUpstream('v2');
    port = await freePort();
    const http = `  - match: [{uri: {prefix: /ignore}}]
    route: [{destination: {host: api, subset: v1}}]
    corsPolicy:
      allowOrigins: [{exact: https://app.example.com}]
      allowMethods: [GET]
      unmatchedPreflights: IGNORE
  - match: [{uri: {prefix: /plain}}]
    route: [{destination: {host: api, subset: v1}}]
  - match: [{uri: {prefix: /gone}}]
    directResponse: {status: 410}
${POLICY}  - route: [{destination: {host: api, subset: v1}}]
    mirror: {host: api, subset: v2}
${POLICY}`;
    tg = await startGateway({
      'api.yaml':
        serviceYaml('api', port, [
          { upstream: v1, labels: { version: 'v1' } },
          { upstream: v2, labels: { version: 'v2' } },
        ]) + vs('api', http),
    });
  });
  after(async () => {
    await tg.close();
    await v1.close();
    await v2.close();
  });

  const preflight = (origin: string, path = '/orders', extra: Record<string, string> = {}) =>
    send(port, path, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'authorization', ...extra },
    });

  it('a preflight from an allowed origin (exact, prefix, regex) is answered by the gateway with the policy; nothing reaches v1 or v2', async () => {
    const before1 = v1.requests.length;
    const before2 = v2.requests.length;
    for (const origin of ['https://app.example.com', 'https://preview-42.example.com', 'https://eu.partner.example']) {
      const a = await preflight(origin);
      assert.equal(a.status, 200, origin);
      assert.equal(a.headers['access-control-allow-origin'], origin);
      assert.equal(a.headers['access-control-allow-methods'], 'GET,POST,PATCH');
      assert.equal(a.headers['access-control-allow-headers'], 'authorization,x-trace');
      assert.equal(a.headers['access-control-max-age'], '86400');
      assert.equal(a.headers['access-control-allow-credentials'], 'true');
      assert.equal(a.body, '');
    }
    assert.equal(v1.requests.length, before1);
    assert.equal(v2.requests.length, before2);
    const logged = tg.access.entries.filter((e) => e.method === 'OPTIONS');
    assert.equal(logged.length, 3);
    assert.ok(
      logged.every((e) => e.response_code === 200 && e.upstream_host === '-' && e.mirrors.length === 0),
      JSON.stringify(logged[0]),
    );
  });

  it("a request from an allowed origin is served and mirrored; its answer carries the allow headers over the upstream's", async () => {
    const before1 = v1.requests.length;
    const before2 = v2.requests.length;
    const a = await send(port, '/orders', { headers: { origin: 'https://app.example.com' } });
    assert.equal(a.status, 200);
    assert.equal(a.body, 'v1');
    assert.equal(a.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(a.headers['access-control-allow-credentials'], 'true');
    assert.equal(a.headers['access-control-expose-headers'], 'x-served-by,x-cost');
    assert.equal(a.headers['x-served-by'], 'v1');
    await v1.waitForRequests(before1 + 1);
    await v2.waitForRequests(before2 + 1);
    // The Origin reaches both, as sent.
    assert.equal(v1.requests.at(-1)!.headers.origin, 'https://app.example.com');
    assert.equal(v2.requests.at(-1)!.headers.origin, 'https://app.example.com');
  });

  it("another origin's request is served untouched (the upstream's own header stays); its preflight is forwarded (FORWARD, Istio's default)", async () => {
    const a = await send(port, '/orders', { headers: { origin: 'https://evil.example' } });
    assert.equal(a.status, 200);
    assert.equal(a.headers['access-control-allow-origin'], '*');
    assert.equal(a.headers['access-control-allow-credentials'], undefined);
    assert.equal(a.headers['access-control-expose-headers'], undefined);
    // A prefix is a prefix of the whole origin, not of its host: http:// does not pass https://preview-.
    const before1 = v1.requests.length;
    const p = await preflight('http://preview-1.example.com');
    assert.equal(p.status, 200);
    assert.equal(p.body, 'v1', 'the upstream answered the preflight');
    await v1.waitForRequests(before1 + 1);
    assert.equal(v1.requests.at(-1)!.method, 'OPTIONS');
  });

  it('OPTIONS without Access-Control-Request-Method, or without Origin, is no preflight: it is served by v1', async () => {
    const before1 = v1.requests.length;
    const a = await send(port, '/orders', { method: 'OPTIONS', headers: { origin: 'https://app.example.com' } });
    assert.equal(a.body, 'v1');
    assert.equal(a.headers['access-control-allow-origin'], 'https://app.example.com');
    const b = await send(port, '/orders', { method: 'OPTIONS', headers: { 'access-control-request-method': 'GET' } });
    assert.equal(b.body, 'v1');
    assert.equal(b.headers['access-control-allow-origin'], '*');
    await v1.waitForRequests(before1 + 2);
  });

  it('a local answer (directResponse) to an allowed origin carries the allow headers too', async () => {
    const a = await send(port, '/gone', { headers: { origin: 'https://app.example.com' } });
    assert.equal(a.status, 410);
    assert.equal(a.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(a.headers['access-control-expose-headers'], 'x-served-by,x-cost');
  });

  it('unmatchedPreflights IGNORE: a preflight from another origin is answered here, without allow headers; a route without a policy adds nothing', async () => {
    const before1 = v1.requests.length;
    const p = await preflight('https://evil.example', '/ignore');
    assert.equal(p.status, 200);
    assert.equal(p.body, '');
    assert.equal(p.headers['access-control-allow-origin'], undefined);
    assert.equal(p.headers['access-control-allow-methods'], 'GET');
    const ok = await preflight('https://app.example.com', '/ignore');
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(v1.requests.length, before1);
    const plain = await send(port, '/plain', { headers: { origin: 'https://app.example.com' } });
    assert.equal(plain.headers['access-control-allow-origin'], '*');
    assert.equal(plain.headers['access-control-expose-headers'], undefined);
  });
});
