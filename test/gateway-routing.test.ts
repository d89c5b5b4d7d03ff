// End to end over real sockets: a real gateway in front of real loopback upstreams. Every test asserts on
// what the upstream actually received, on what the client got back, and on the access log line.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { AccessLogEntry } from '../src/telemetry/index.js';
import { type Answer, client, freePort, seededRandom, send, serviceYaml, startGateway, type TestGateway, virtualServiceYaml } from './harness/gateway.js';
import { startUpstream, type TestUpstream } from './harness/upstream.js';
import { WAIT_MS, waitFor } from './harness/wait.js';

after(() => client.close());

const FQDN = (name: string) => `${name}.default.svc.cluster.local`;
const clusterOf = (name: string, port: number, subset = '') => `outbound|${port}|${subset}|${FQDN(name)}`;

const vsYaml = virtualServiceYaml;

/** The access-log line of one request (written when the downstream response is done, so it may lag the client). */
async function entryFor(tg: TestGateway, requestId: string): Promise<AccessLogEntry> {
  await tg.access.until((entries) => entries.some((e) => e.request_id === requestId));
  return tg.access.entries.find((e) => e.request_id === requestId)!;
}

interface Exchange extends Answer {
  entry: AccessLogEntry;
}

/** `send` with a fresh x-request-id, returning the answer and its access-log line. */
async function call(
  tg: TestGateway,
  port: number,
  path = '/',
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Exchange> {
  const id = randomUUID();
  const answer = await send(port, path, { ...init, headers: { 'x-request-id': id, ...init.headers } });
  return { ...answer, entry: await entryFor(tg, id) };
}

/** Writes raw bytes to `port` and resolves with the response head (or whatever arrived before close). */
function rawExchange(port: number, payload: string | Buffer, ms = WAIT_MS): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = connect(port, '127.0.0.1');
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, ms);
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      if (Buffer.concat(chunks).includes('\r\n\r\n')) done();
    });
    sock.on('error', () => {});
    sock.on('close', done);
    sock.write(payload);
  });
}

/** A bare upstream that answers 503 to its first `failures` requests and 200 afterwards. */
async function startFlaky(failures: number): Promise<{ port: number; seen: string[]; bodies: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push(req.url ?? '');
      bodies.push(Buffer.concat(chunks).toString());
      const status = seen.length <= failures ? 503 : 200;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 503 ? 'flaky says 503' : 'flaky says 200');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    bodies,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** serviceYaml only reads the upstream's port: a stand-in for endpoints that are not TestUpstreams. */
const portOnly = (port: number) => ({ port }) as TestUpstream;

// ---------------------------------------------------------------------------------------------

describe('route matching (each HTTPMatchRequest kind, first match wins)', () => {
  let port: number;
  let up: TestUpstream;
  let tg: TestGateway;

  /** Each route tags the response with its name, so the client sees which one matched. */
  const tagged = (name: string, match: string) => `  - name: ${name}
    match:
${match}
    route:
    - destination: {host: match, subset: v1}
    headers:
      response:
        set: {x-route: ${name}}
`;

  before(async () => {
    port = await freePort();
    up = await startUpstream('match-v1');
    const http = [
      tagged('r-exact', '    - uri: {exact: /exact}'),
      tagged('r-prefix', '    - uri: {prefix: /prefix/}'),
      tagged('r-regex', "    - uri: {regex: '/api/v[0-9]+'}"),
      tagged('r-icase', '    - uri: {exact: /Case/Path}\n      ignoreUriCase: true'),
      tagged('r-hexact', "    - headers: {x-h-exact: {exact: 'on-1'}}"),
      tagged('r-hprefix', '    - headers: {x-h-prefix: {prefix: abc}}'),
      tagged('r-hregex', "    - headers: {x-h-regex: {regex: '[0-9]{3}'}}"),
      tagged('r-hpresent', '    - headers: {x-h-present: {}}'),
      tagged('r-without', '    - uri: {prefix: /without}\n      withoutHeaders: {x-skip: {}}'),
      tagged('r-without-fallback', '    - uri: {prefix: /without}'),
      tagged('r-method', '    - method: {exact: DELETE}'),
      tagged('r-authority', '    - authority: {exact: special.example}'),
      tagged('r-query', '    - queryParams: {q: {exact: one}}'),
      tagged('r-qregex', "    - queryParams: {n: {regex: '[0-9]+'}}"),
      tagged('r-and', "    - uri: {prefix: /and}\n      headers: {x-and: {exact: '1'}}"),
      tagged('r-first', '    - uri: {prefix: /first}'),
      tagged('r-second', '    - uri: {prefix: /first/second}'),
      tagged('r-or', '    - uri: {exact: /or-a}\n    - uri: {exact: /or-b}'),
    ].join('');
    tg = await startGateway({ 'match.yaml': serviceYaml('match', port, [{ upstream: up, labels: { version: 'v1' } }]) + vsYaml('match', http) });
  });
  after(async () => {
    await tg?.close();
    await up?.close();
  });

  /** Sends, and checks which route answered (or that none did: 404 NR with nothing sent upstream). */
  async function expectRoute(route: string | null, path: string, init: { method?: string; headers?: Record<string, string> } = {}) {
    const before = up.requests.length;
    const r = await call(tg, port, path, init);
    const what = `${init.method ?? 'GET'} ${path} ${JSON.stringify(init.headers ?? {})}`;
    if (route === null) {
      assert.equal(r.status, 404, `${what}: status`);
      assert.equal(r.entry.response_flags, 'NR', `${what}: flags`);
      assert.equal(r.entry.route_name, '-');
      assert.equal(r.entry.upstream_cluster, '-');
      assert.equal(up.requests.length, before, `${what}: the upstream must receive nothing`);
      return r;
    }
    assert.equal(r.status, 200, `${what}: status`);
    assert.equal(r.headers['x-route'], route, `${what}: route`);
    assert.equal(r.entry.route_name, route);
    assert.equal(r.entry.response_flags, '-');
    assert.equal(r.entry.upstream_cluster, clusterOf('match', port, 'v1'));
    assert.equal(up.requests.length, before + 1, `${what}: the upstream must receive it`);
    const got = up.requests.at(-1)!;
    assert.equal(got.method, init.method ?? 'GET');
    assert.equal(got.url, path);
    return r;
  }

  it('uri exact matches only the exact path (query ignored for matching, kept upstream)', async () => {
    await expectRoute('r-exact', '/exact');
    await expectRoute('r-exact', '/exact?a=1&b=2');
    await expectRoute(null, '/exact/more');
    await expectRoute(null, '/exac');
    await expectRoute(null, '/EXACT');
  });

  it('uri prefix', async () => {
    await expectRoute('r-prefix', '/prefix/');
    await expectRoute('r-prefix', '/prefix/deep/path?x=y');
    await expectRoute(null, '/prefix');
    await expectRoute(null, '/x/prefix/');
  });

  it('uri regex is a full-string match', async () => {
    await expectRoute('r-regex', '/api/v1');
    await expectRoute('r-regex', '/api/v42?q=1');
    await expectRoute(null, '/x/api/v1');
    await expectRoute(null, '/api/v1/users');
    await expectRoute(null, '/api/v');
  });

  it('ignoreUriCase', async () => {
    await expectRoute('r-icase', '/Case/Path');
    await expectRoute('r-icase', '/case/path');
    await expectRoute('r-icase', '/CASE/PATH');
    await expectRoute(null, '/case/path/x');
  });

  it('headers exact / prefix / regex / presence', async () => {
    await expectRoute('r-hexact', '/h', { headers: { 'x-h-exact': 'on-1' } });
    await expectRoute(null, '/h', { headers: { 'x-h-exact': 'on-12' } });
    await expectRoute(null, '/h', { headers: { 'x-h-exact': 'ON-1' } });
    await expectRoute('r-hprefix', '/h', { headers: { 'x-h-prefix': 'abcdef' } });
    await expectRoute(null, '/h', { headers: { 'x-h-prefix': 'xabc' } });
    await expectRoute('r-hregex', '/h', { headers: { 'x-h-regex': '123' } });
    await expectRoute(null, '/h', { headers: { 'x-h-regex': '1234' } });
    await expectRoute(null, '/h', { headers: { 'x-h-regex': 'a123' } });
    await expectRoute('r-hpresent', '/h', { headers: { 'x-h-present': 'anything' } });
    await expectRoute(null, '/h');
  });

  it('withoutHeaders skips the route when the header is there; the next route takes it', async () => {
    await expectRoute('r-without', '/without');
    await expectRoute('r-without-fallback', '/without', { headers: { 'x-skip': '1' } });
  });

  it('method', async () => {
    await expectRoute('r-method', '/m', { method: 'DELETE' });
    await expectRoute(null, '/m', { method: 'PUT' });
  });

  it('authority', async () => {
    await expectRoute('r-authority', '/a', { headers: { host: 'special.example' } });
    await expectRoute(null, '/a', { headers: { host: 'other.example' } });
  });

  it('queryParams exact and regex', async () => {
    await expectRoute('r-query', '/q?q=one');
    await expectRoute('r-query', '/q?z=0&q=one');
    await expectRoute(null, '/q?q=one1');
    await expectRoute(null, '/q?q=');
    await expectRoute('r-qregex', '/q?n=123');
    await expectRoute(null, '/q?n=12a');
  });

  it('all conditions of one match must hold (AND); several matches are OR', async () => {
    await expectRoute('r-and', '/and', { headers: { 'x-and': '1' } });
    await expectRoute(null, '/and', { headers: { 'x-and': '2' } });
    await expectRoute(null, '/and');
    await expectRoute('r-or', '/or-a');
    await expectRoute('r-or', '/or-b');
    await expectRoute(null, '/or-c');
  });

  it('the first http[] entry that matches wins', async () => {
    await expectRoute('r-first', '/first/second');
    // /exact matches r-exact; a header that r-hexact wants changes nothing, r-exact comes first.
    await expectRoute('r-exact', '/exact', { headers: { 'x-h-exact': 'on-1' } });
  });

  it('no match: 404 with NR, nothing sent upstream', async () => {
    const r = await expectRoute(null, '/nothing/here');
    assert.match(r.body, /no route/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('virtual host selection by Host', () => {
  let shared: number;
  let single: number;
  let alpha: TestUpstream;
  let beta: TestUpstream;
  let solo: TestUpstream;
  let tg: TestGateway;

  before(async () => {
    shared = await freePort();
    single = await freePort();
    alpha = await startUpstream('alpha');
    beta = await startUpstream('beta');
    solo = await startUpstream('solo');
    tg = await startGateway({
      'alpha.yaml': serviceYaml('alpha', shared, [{ upstream: alpha, labels: { version: 'v1' } }]),
      'beta.yaml': serviceYaml('beta', shared, [{ upstream: beta, labels: { version: 'v1' } }]),
      'solo.yaml': serviceYaml('solo', single, [{ upstream: solo, labels: { version: 'v1' } }]),
    });
  });
  after(async () => {
    await tg?.close();
    for (const u of [alpha, beta, solo]) await u?.close();
  });

  it('two services on one port: the Host header picks (short name, name:port, FQDN)', async () => {
    const cases: Array<[string, TestUpstream, string]> = [
      ['alpha', alpha, 'alpha'],
      [`alpha:${shared}`, alpha, 'alpha'],
      [FQDN('alpha'), alpha, 'alpha'],
      [`${FQDN('alpha')}:${shared}`, alpha, 'alpha'],
      ['alpha.default', alpha, 'alpha'],
      ['ALPHA', alpha, 'alpha'],
      ['beta', beta, 'beta'],
      [`beta:${shared}`, beta, 'beta'],
      [FQDN('beta'), beta, 'beta'],
    ];
    for (const [host, upstream, name] of cases) {
      const before = upstream.requests.length;
      const r = await call(tg, shared, '/who', { headers: { host } });
      assert.equal(r.status, 200, `Host ${host}`);
      assert.equal(r.headers['x-upstream'], name, `Host ${host}`);
      assert.equal(upstream.requests.length, before + 1, `Host ${host}`);
      assert.equal(upstream.requests.at(-1)!.headers.host, host, 'the Host is passed through unchanged');
      assert.equal(r.entry.upstream_cluster, clusterOf(name, shared), `Host ${host}`);
      assert.equal(r.entry.route_name, 'default');
    }
  });

  it('an unknown Host on a shared port: 404 NR, neither upstream sees it', async () => {
    const a = alpha.requests.length;
    const b = beta.requests.length;
    for (const host of ['gamma', '127.0.0.1', `alpha.other`, `alphabeta:${shared}`]) {
      const r = await call(tg, shared, '/who', { headers: { host } });
      assert.equal(r.status, 404, `Host ${host}`);
      assert.equal(r.entry.response_flags, 'NR', `Host ${host}`);
    }
    assert.equal(alpha.requests.length, a);
    assert.equal(beta.requests.length, b);
  });

  it('a port with a single service takes any Host', async () => {
    for (const host of ['solo', 'anything.example', `127.0.0.1:${single}`]) {
      const r = await call(tg, single, '/x', { headers: { host } });
      assert.equal(r.status, 200, `Host ${host}`);
      assert.equal(r.headers['x-upstream'], 'solo');
      assert.equal(solo.requests.at(-1)!.headers.host, host);
      assert.equal(r.entry.upstream_cluster, clusterOf('solo', single));
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('traffic splitting', () => {
  let open: number;
  let split: number;
  const ups: Record<string, TestUpstream> = {};
  let tg: TestGateway;

  before(async () => {
    open = await freePort();
    split = await freePort();
    for (const n of ['open-v1', 'open-v2', 'split-v1', 'split-v2', 'split-v3']) ups[n] = await startUpstream(n);
    const splitVs = vsYaml(
      'split',
      `  - name: weighted
    route:
    - destination: {host: split, subset: v1}
      weight: 90
    - destination: {host: split, subset: v2}
      weight: 10
    - destination: {host: split, subset: v3}
      weight: 0
`,
    );
    tg = await startGateway(
      {
        'open.yaml': serviceYaml('open', open, [
          { upstream: ups['open-v1']!, labels: { version: 'v1' } },
          { upstream: ups['open-v2']!, labels: { version: 'v2' } },
        ]),
        'split.yaml':
          serviceYaml('split', split, [
            { upstream: ups['split-v1']!, labels: { version: 'v1' } },
            { upstream: ups['split-v2']!, labels: { version: 'v2' } },
            { upstream: ups['split-v3']!, labels: { version: 'v3' } },
          ]) + splitVs,
      },
      { random: seededRandom(1) },
    );
  });
  after(async () => {
    await tg?.close();
    for (const u of Object.values(ups)) await u.close();
  });

  it('without a VirtualService both versions get traffic', async () => {
    for (let i = 0; i < 40; i++) {
      const r = await send(open, `/open/${i}`);
      assert.equal(r.status, 200);
    }
    const v1 = ups['open-v1']!.requests.length;
    const v2 = ups['open-v2']!.requests.length;
    assert.equal(v1 + v2, 40);
    assert.ok(v1 > 0 && v2 > 0, `v1 got ${v1}, v2 got ${v2}`);
    // Sanity: "flowing equally" — neither version is starved.
    assert.ok(v1 >= 8 && v2 >= 8, `v1 got ${v1}, v2 got ${v2}`);
  });

  it('90/10 weights: v2 gets about 10% of 1,000 requests; weight 0 gets nothing', async () => {
    for (let i = 0; i < 1_000; i++) {
      const r = await send(split, `/w/${i}`);
      assert.equal(r.status, 200);
    }
    const v1 = ups['split-v1']!.requests.length;
    const v2 = ups['split-v2']!.requests.length;
    assert.equal(ups['split-v3']!.requests.length, 0, 'weight 0 receives nothing');
    assert.equal(v1 + v2, 1_000);
    assert.ok(v2 >= 70 && v2 <= 130, `v2 share ${v2 / 10}% should be 10% ± 3%`);
    await tg.access.until((entries) => entries.filter((e) => e.route_name === 'weighted').length === 1_000);
    const byCluster = new Map<string, number>();
    for (const e of tg.access.entries.filter((x) => x.route_name === 'weighted')) {
      byCluster.set(e.upstream_cluster, (byCluster.get(e.upstream_cluster) ?? 0) + 1);
    }
    assert.equal(byCluster.get(clusterOf('split', split, 'v2')), v2);
    assert.equal(byCluster.get(clusterOf('split', split, 'v1')), v1);
  });
});

// ---------------------------------------------------------------------------------------------

describe('rewrites and header operations', () => {
  let port: number;
  let up: TestUpstream;
  let tg: TestGateway;

  before(async () => {
    port = await freePort();
    up = await startUpstream('rw-v1');
    const http = `  - name: r-rewrite
    match: [{uri: {prefix: /old}}]
    rewrite: {uri: /new}
    route: [{destination: {host: rw, subset: v1}}]
  - name: r-authority
    match: [{uri: {prefix: /auth}}]
    rewrite: {authority: new-host.example}
    route: [{destination: {host: rw, subset: v1}}]
  - name: r-headers
    match: [{uri: {prefix: /hdr}}]
    headers:
      request:
        set: {x-set: route}
        add: {x-add: added}
        remove: [x-remove]
      response:
        set: {x-resp: route}
        remove: [x-upstream]
    route:
    - destination: {host: rw, subset: v1}
      headers:
        request:
          set: {x-dest: d1}
          remove: [x-dest-remove]
        response:
          set: {x-dest-resp: 'yes'}
          remove: [content-type]
`;
    tg = await startGateway({ 'rw.yaml': serviceYaml('rw', port, [{ upstream: up, labels: { version: 'v1' } }]) + vsYaml('rw', http) });
  });
  after(async () => {
    await tg?.close();
    await up?.close();
  });

  it('rewrite.uri replaces the matched prefix and keeps the query', async () => {
    const cases: Array<[string, string]> = [
      ['/old/x?a=1&b=2', '/new/x?a=1&b=2'],
      ['/old/x', '/new/x'],
      ['/old', '/new'],
      ['/older', '/newer'],
    ];
    for (const [sent, expected] of cases) {
      const r = await call(tg, port, sent);
      assert.equal(r.status, 200);
      assert.equal(up.requests.at(-1)!.url, expected, `${sent} → ${expected}`);
      assert.equal(r.entry.route_name, 'r-rewrite');
      assert.equal(r.entry.path, sent, 'the access log keeps the original path');
    }
  });

  it('rewrite.authority: the upstream sees the new Host', async () => {
    const r = await call(tg, port, '/auth/x', { headers: { host: 'rw' } });
    assert.equal(r.status, 200);
    const got = up.requests.at(-1)!;
    assert.equal(got.headers.host, 'new-host.example');
    assert.equal(got.url, '/auth/x');
    assert.equal(r.entry.authority, 'rw');
  });

  it('request and response header operations at route and destination level', async () => {
    const r = await call(tg, port, '/hdr', {
      headers: { 'x-set': 'client', 'x-add': 'client', 'x-remove': 'gone', 'x-dest-remove': 'gone', 'x-keep': 'kept' },
    });
    assert.equal(r.status, 200);
    const got = up.requests.at(-1)!.headers;
    assert.equal(got['x-set'], 'route', 'set replaces');
    assert.equal(got['x-add'], 'client, added', 'add appends');
    assert.equal(got['x-remove'], undefined, 'route remove');
    assert.equal(got['x-dest-remove'], undefined, 'destination remove');
    assert.equal(got['x-dest'], 'd1', 'destination set');
    assert.equal(got['x-keep'], 'kept');
    assert.equal(r.headers['x-resp'], 'route', 'route response set');
    assert.equal(r.headers['x-dest-resp'], 'yes', 'destination response set');
    assert.equal(r.headers['x-upstream'], undefined, 'route response remove');
    assert.equal(r.headers['content-type'], undefined, 'destination response remove');
    assert.equal(r.body, 'This is rw-v1\n');
  });
});

// ---------------------------------------------------------------------------------------------

describe('local answers: redirect and directResponse', () => {
  let port: number;
  let up: TestUpstream;
  let tg: TestGateway;

  before(async () => {
    port = await freePort();
    up = await startUpstream('local-v1');
    const http = `  - name: r-redirect
    match: [{uri: {prefix: /moved}}]
    redirect: {uri: /there, authority: other.example, redirectCode: 308}
  - name: r-redirect-default
    match: [{uri: {exact: /plain}}]
    redirect: {uri: /elsewhere}
  - name: r-redirect-prefix
    match: [{uri: {prefix: /old/}}]
    redirect: {prefixRewrite: /new/, redirectCode: 302}
  - name: r-direct
    match: [{uri: {exact: /direct}}]
    directResponse: {status: 418, body: {string: "I am a teapot"}}
  - name: r-direct-empty
    match: [{uri: {exact: /empty}}]
    directResponse: {status: 204}
  - name: r-upstream
    route: [{destination: {host: local, subset: v1}}]
`;
    tg = await startGateway({ 'local.yaml': serviceYaml('local', port, [{ upstream: up, labels: { version: 'v1' } }]) + vsYaml('local', http) });
  });
  after(async () => {
    await tg?.close();
    await up?.close();
  });

  it('redirect: status and Location (query kept), upstream receives nothing', async () => {
    const r = await call(tg, port, '/moved/x?q=1', { headers: { host: 'local' } });
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, 'http://other.example/there?q=1');
    assert.equal(r.entry.route_name, 'r-redirect');
    assert.equal(r.entry.response_code, 308);
    const d = await call(tg, port, '/plain', { headers: { host: `local:${port}` } });
    assert.equal(d.status, 301, 'redirectCode defaults to 301');
    assert.equal(d.headers.location, `http://local:${port}/elsewhere`);
    assert.equal(up.requests.length, 0);
  });

  it('redirect prefixRewrite swaps the matched prefix, as Envoy prefix_rewrite (query kept)', async () => {
    const r = await call(tg, port, '/old/a/b?x=1', { headers: { host: 'local' } });
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, 'http://local/new/a/b?x=1');
    assert.equal(r.entry.route_name, 'r-redirect-prefix');
    assert.equal(up.requests.length, 0);
  });

  it('directResponse: status and body, upstream receives nothing', async () => {
    const r = await call(tg, port, '/direct');
    assert.equal(r.status, 418);
    assert.equal(r.body, 'I am a teapot');
    assert.equal(r.entry.route_name, 'r-direct');
    assert.equal(r.entry.upstream_cluster, '-');
    const e = await call(tg, port, '/empty');
    assert.equal(e.status, 204);
    assert.equal(e.body, '');
    assert.equal(up.requests.length, 0);
  });

  it('the catch-all route still reaches the upstream', async () => {
    const r = await call(tg, port, '/other');
    assert.equal(r.status, 200);
    assert.equal(up.requests.length, 1);
    assert.equal(r.entry.route_name, 'r-upstream');
  });
});

// ---------------------------------------------------------------------------------------------

describe('fault injection and timeouts', () => {
  let port: number;
  let slowPort: number;
  let up: TestUpstream;
  let slow: TestUpstream;
  let tg: TestGateway;

  before(async () => {
    port = await freePort();
    slowPort = await freePort();
    up = await startUpstream('fault-v1');
    // Never answers: only the route timeout can end the request, however slow the machine.
    slow = await startUpstream('slow-v1', { kind: 'hang' });
    const faults = `  - name: r-abort
    match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 500, percentage: {value: 100}}}
    route: [{destination: {host: fault, subset: v1}}]
  - name: r-delay
    match: [{uri: {prefix: /delay}}]
    fault: {delay: {fixedDelay: 200ms, percentage: {value: 100}}}
    route: [{destination: {host: fault, subset: v1}}]
`;
    const timeout = `  - name: r-timeout
    timeout: 200ms
    route: [{destination: {host: slow, subset: v1}}]
`;
    tg = await startGateway({
      'fault.yaml': serviceYaml('fault', port, [{ upstream: up, labels: { version: 'v1' } }]) + vsYaml('fault', faults),
      'slow.yaml': serviceYaml('slow', slowPort, [{ upstream: slow, labels: { version: 'v1' } }]) + vsYaml('slow', timeout),
    });
  });
  after(async () => {
    await tg?.close();
    await up?.close();
    await slow?.close();
  });

  it('abort 100%: the configured status, flag FI, upstream receives nothing', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await call(tg, port, '/abort', { method: 'POST', body: 'payload' });
      assert.equal(r.status, 500);
      assert.match(r.body, /fault filter abort/);
      assert.equal(r.entry.response_flags, 'FI');
      assert.equal(r.entry.route_name, 'r-abort');
    }
    assert.equal(up.requests.length, 0);
  });

  it('delay 200ms at 100%: the answer comes ≥ 180ms later, flag DI, upstream receives it', async () => {
    const r = await call(tg, port, '/delay');
    assert.equal(r.status, 200);
    // The one duration asserted in the suite, and only from below: the delay is the behaviour under test, and a
    // busy machine can only lengthen it (Node's timers never fire early), so this cannot flake.
    assert.ok(r.ms >= 180, `answered in ${r.ms.toFixed(0)}ms`);
    assert.equal(r.entry.response_flags, 'DI');
    assert.equal(up.requests.length, 1);
    assert.equal(up.requests[0]!.url, '/delay');
  });

  it('route timeout 200ms with an upstream that never answers: 504 UT, not retried', async () => {
    const r = await call(tg, slowPort, '/slow');
    assert.equal(r.status, 504);
    // From below only, as for the delay: the route timeout did not fire early.
    assert.ok(r.ms >= 180, `answered in ${r.ms.toFixed(0)}ms`);
    assert.equal(r.entry.response_flags, 'UT');
    assert.match(r.body, /upstream request timeout/);
    assert.equal(slow.requests.length, 1, 'a timed-out request is not retried');
  });
});

// ---------------------------------------------------------------------------------------------

describe('upstream failures and retries', () => {
  let down: number;
  let retry: number;
  let noRetry: number;
  let refusedPort: number;
  let flaky: Awaited<ReturnType<typeof startFlaky>>;
  let flakyNoRetry: Awaited<ReturnType<typeof startFlaky>>;
  let flakyPost: Awaited<ReturnType<typeof startFlaky>>;
  let downNoRetry: number;
  let post: number;
  let tg: TestGateway;

  before(async () => {
    down = await freePort();
    retry = await freePort();
    noRetry = await freePort();
    const gone = await startUpstream('gone');
    refusedPort = gone.port;
    await gone.close();
    flaky = await startFlaky(1);
    flakyNoRetry = await startFlaky(1);
    flakyPost = await startFlaky(1);
    downNoRetry = await freePort();
    post = await freePort();
    const v1 = (port: number) => [{ upstream: portOnly(port), labels: { version: 'v1' } }];
    tg = await startGateway({
      'down.yaml': serviceYaml('down', down, v1(refusedPort)),
      'retry.yaml': serviceYaml('retry', retry, v1(flaky.port)),
      'post.yaml': serviceYaml('post', post, v1(flakyPost.port)),
      'down0.yaml':
        serviceYaml('down0', downNoRetry, v1(refusedPort)) +
        vsYaml('down0', '  - name: down-no-retries\n    retries: {attempts: 0}\n    route: [{destination: {host: down0, subset: v1}}]\n'),
      'noretry.yaml':
        serviceYaml('noretry', noRetry, v1(flakyNoRetry.port)) +
        vsYaml(
          'noretry',
          `  - name: no-retries
    retries: {attempts: 0}
    route: [{destination: {host: noretry, subset: v1}}]
`,
        ),
    });
  });
  after(async () => {
    await tg?.close();
    await flaky?.close();
    await flakyNoRetry?.close();
    await flakyPost?.close();
  });

  it('a refused connection: 503 with UF (retried by the default policy, so UF with URX)', async () => {
    const r = await call(tg, down, '/x');
    assert.equal(r.status, 503);
    const flags = r.entry.response_flags.split(',');
    assert.ok(flags.includes('UF'), `flags ${r.entry.response_flags}`);
    assert.ok(!flags.includes('UH'), `flags ${r.entry.response_flags}: no health checking or outlier detection is configured`);
    assert.match(r.body, /connection failure/);
    assert.equal(r.entry.upstream_host, `127.0.0.1:${refusedPort}`);
  });

  it('a refused connection without retries: 503, flag UF', async () => {
    const r = await call(tg, downNoRetry, '/x');
    assert.equal(r.status, 503);
    assert.equal(r.entry.response_flags, 'UF');
    assert.match(r.body, /connection failure/);
    assert.equal(r.entry.route_name, 'down-no-retries');
  });

  it('a retried POST replays its body', async () => {
    const r = await call(tg, post, '/post', { method: 'POST', body: 'hello body' });
    assert.equal(r.status, 200);
    assert.deepEqual(flakyPost.bodies, ['hello body', 'hello body']);
    assert.equal(r.entry.bytes_received, 10);
  });

  it("Istio's default retry policy retries a 503 (client sees 200; the upstream saw 2 requests)", async () => {
    const r = await call(tg, retry, '/again?x=1');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'flaky says 200');
    assert.deepEqual(flaky.seen, ['/again?x=1', '/again?x=1']);
    assert.equal(r.entry.response_flags, '-');
    assert.equal(r.entry.response_code, 200);
  });

  it('retries: {attempts: 0} disables retrying (client sees the 503)', async () => {
    const r = await call(tg, noRetry, '/once');
    assert.equal(r.status, 503);
    assert.equal(r.body, 'flaky says 503');
    assert.deepEqual(flakyNoRetry.seen, ['/once']);
    assert.equal(r.entry.route_name, 'no-retries');
  });
});

// ---------------------------------------------------------------------------------------------

describe('malformed requests', () => {
  let port: number;
  let up: TestUpstream;
  let tg: TestGateway;

  before(async () => {
    port = await freePort();
    up = await startUpstream('raw-v1');
    tg = await startGateway({ 'raw.yaml': serviceYaml('raw', port, [{ upstream: up, labels: { version: 'v1' } }]) });
  });
  after(async () => {
    await tg?.close();
    await up?.close();
  });

  it('a header line without a colon gets 400; the gateway keeps serving', async () => {
    const head = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 400 /);
    assert.equal(up.requests.length, 0);
    const r = await send(port, '/after-400');
    assert.equal(r.status, 200);
    assert.equal(up.requests.at(-1)!.url, '/after-400');
  });

  it('a 100 KiB header gets 431; the gateway keeps serving', async () => {
    const big = 'a'.repeat(100 * 1024);
    const head = await rawExchange(port, `GET / HTTP/1.1\r\nHost: x\r\nx-big: ${big}\r\n\r\n`);
    assert.match(head, /^HTTP\/1\.1 431 /);
    assert.equal(up.requests.length, 1);
    const r = await send(port, '/after-431');
    assert.equal(r.status, 200);
    assert.equal(up.requests.at(-1)!.url, '/after-431');
  });
});

// ---------------------------------------------------------------------------------------------

describe('load balancing through real traffic', () => {
  let rrPort: number;
  let lrPort: number;
  const ups: Record<string, TestUpstream> = {};
  let tg: TestGateway;

  before(async () => {
    rrPort = await freePort();
    lrPort = await freePort();
    ups['rr-a'] = await startUpstream('rr-a');
    ups['rr-b'] = await startUpstream('rr-b');
    // Holds every request until the test releases them: "slow" for as long as the test needs, whatever the machine's speed.
    ups['lr-slow'] = await startUpstream('lr-slow', { kind: 'hold' });
    ups['lr-fast'] = await startUpstream('lr-fast');
    const policy = (lb: string) => `  trafficPolicy:\n    loadBalancer: {simple: ${lb}}\n`;
    tg = await startGateway(
      {
        'rr.yaml': serviceYaml(
          'rr',
          rrPort,
          [
            { upstream: ups['rr-a']!, labels: { version: 'v1' } },
            { upstream: ups['rr-b']!, labels: { version: 'v1' } },
          ],
          policy('ROUND_ROBIN'),
        ),
        'lr.yaml': serviceYaml(
          'lr',
          lrPort,
          [
            { upstream: ups['lr-slow']!, labels: { version: 'v1' } },
            { upstream: ups['lr-fast']!, labels: { version: 'v1' } },
          ],
          policy('LEAST_REQUEST'),
        ),
      },
      { random: seededRandom(7) },
    );
  });
  after(async () => {
    await tg?.close();
    for (const u of Object.values(ups)) await u.close();
  });

  it('ROUND_ROBIN over two endpoints alternates', async () => {
    const order: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await send(rrPort, `/rr/${i}`);
      assert.equal(r.status, 200);
      order.push(String(r.headers['x-upstream']));
    }
    for (let i = 1; i < order.length; i++) assert.notEqual(order[i], order[i - 1], `order ${order.join(' ')}`);
    assert.equal(ups['rr-a']!.requests.length, 10);
    assert.equal(ups['rr-b']!.requests.length, 10);
  });

  it('LEAST_REQUEST sends new requests away from the endpoint holding slow requests', async () => {
    const slow = ups['lr-slow']!;
    const fast = ups['lr-fast']!;
    const activeOn = (port: number) =>
      Object.values(tg.gw.primaryClusters.stats())
        .flatMap((c) => c.endpoints)
        .filter((e) => e.port === port)
        .reduce((n, e) => n + e.activeRequests, 0);
    const pending: Array<Promise<Answer>> = [];
    // One at a time: each request either answers at once (fast) or sits on the slow endpoint.
    for (let i = 0; i < 40; i++) {
      const before = slow.requests.length;
      const p = send(lrPort, `/lr/${i}`);
      pending.push(p);
      let settled = false;
      void p.then(() => {
        settled = true;
      });
      await waitFor(() => settled || slow.requests.length > before, Boolean, { what: `request ${i} to land` });
      // The gateway has accounted for the finished request (its endpoint's active count) before the next pick.
      await waitFor(
        () => activeOn(fast.port),
        (n) => n === 0,
        { what: 'the fast endpoint to be idle' },
      );
    }
    slow.release();
    const answers = await Promise.all(pending);
    for (const a of answers) assert.equal(a.status, 200);
    const s = slow.requests.length;
    const f = fast.requests.length;
    assert.equal(s + f, 40);
    // Power of two choices: the slow endpoint only wins when both draws land on it (~25%).
    assert.ok(f >= 24, `fast got ${f}, slow got ${s}`);
    assert.ok(s <= 16, `fast got ${f}, slow got ${s}`);
  });
});

// ---------------------------------------------------------------------------------------------

describe('admin listener', () => {
  let port: number;
  let up: TestUpstream;
  let tg: TestGateway;

  before(async () => {
    port = await freePort();
    up = await startUpstream('admin-v1');
    tg = await startGateway({ 'svc.yaml': serviceYaml('adm', port, [{ upstream: up, labels: { version: 'v1' } }]) });
  });
  after(async () => {
    await tg?.close();
    await up?.close();
  });

  async function admin(path: string): Promise<{ status: number; body: string; type: string }> {
    const res = await request(`http://${tg.gw.adminAddress}${path}`, { dispatcher: client });
    return { status: res.statusCode, body: await res.body.text(), type: String(res.headers['content-type']) };
  }

  it('GET /ready and /healthz answer 200', async () => {
    assert.equal((await admin('/ready')).status, 200);
    assert.equal((await admin('/healthz')).status, 200);
  });

  it('GET /config_dump is JSON with hash, listeners, clusters and problems', async () => {
    const r = await admin('/config_dump');
    assert.equal(r.status, 200);
    assert.match(r.type, /application\/json/);
    const dump = JSON.parse(r.body) as {
      hash: string;
      listeners: Array<{ port: number; virtualHosts: Array<{ host: string }> }>;
      clusters: Record<string, { endpoints: Array<{ port: number }> }>;
      problems: unknown[];
    };
    assert.match(dump.hash, /^[0-9a-f]{64}$/);
    assert.equal(dump.hash, tg.gw.snapshot.hash);
    const listener = dump.listeners.find((l) => l.port === port);
    assert.ok(listener, 'the service port is a listener');
    assert.deepEqual(
      listener.virtualHosts.map((v) => v.host),
      [FQDN('adm')],
    );
    const v1 = dump.clusters[clusterOf('adm', port, 'v1')];
    assert.ok(v1, `clusters: ${Object.keys(dump.clusters).join(', ')}`);
    assert.deepEqual(
      v1.endpoints.map((e) => e.port),
      [up.port],
    );
    assert.ok(dump.clusters[clusterOf('adm', port)], 'the subset-less cluster exists');
    assert.ok(Array.isArray(dump.problems));
  });

  it('an unknown admin path is 404', async () => {
    assert.equal((await admin('/nope')).status, 404);
  });
});
