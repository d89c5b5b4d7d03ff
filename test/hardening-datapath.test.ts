// Issue 15, data path: every attack that got past the gateway, replayed on real sockets and refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { type AddressInfo, createServer, Socket as NetSocket, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { DownstreamRejectReason } from '../src/proxy/index.js';
import { skipContinue } from '../src/upstream/index.js';
import { freePort, send, serviceYaml, startGateway, type TestGateway } from './harness/gateway.js';
import { closedByServer, rawConnect, rawRequest, readResponse } from './harness/raw.js';
import { startUpstream, type TestUpstream } from './harness/upstream.js';
import { waitFor, waitForCount } from './harness/wait.js';

const VS = `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app}
spec:
  hosts: [app]
  http:
  - name: admin
    match: [{uri: {prefix: /admin}}]
    directResponse: {status: 403, body: {string: forbidden}}
  - name: rest
    route: [{destination: {host: app, subset: v1}}]
    mirror: {host: app, subset: v2}
`;

async function rejected(tg: TestGateway, reason: DownstreamRejectReason): Promise<number> {
  const { values } = await tg.gw.handler.stats.rejected.get();
  return values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

function get(target: string, headers = 'Host: app\r\n', method = 'GET'): string {
  return `${method} ${target} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`;
}

async function setup(limits: Parameters<typeof startGateway>[1] = {}) {
  const port = await freePort();
  const v1 = await startUpstream('v1');
  const v2 = await startUpstream('v2');
  const tg = await startGateway(
    {
      'app.yaml':
        serviceYaml('app', port, [
          { upstream: v1, labels: { version: 'v1' } },
          { upstream: v2, labels: { version: 'v2' } },
        ]) + VS,
    },
    limits,
  );
  return {
    port,
    v1,
    v2,
    tg,
    async close() {
      await tg.close();
      await v1.close();
      await v2.close();
    },
  };
}

describe('path rules cannot be bypassed by spelling (normalised as Istio: RFC 3986, merge slashes)', () => {
  let s: Awaited<ReturnType<typeof setup>>;
  before(async () => {
    s = await setup();
  });
  after(() => s.close());

  it('every spelling of /admin meets the /admin rule: 403, nothing reaches an upstream', async () => {
    const targets = [
      '/admin',
      '/public/../admin',
      '/public/%2e%2e/admin',
      '/public/%2E%2e/admin',
      '/./admin',
      '/%2e/admin',
      '//admin',
      '///admin/x',
      '/%61dmin',
      '/%61%64%6D%69%6E',
      '/public/..\\admin',
      '/../../admin',
      'http://app/admin',
      `HTTP://APP:${s.port}/public/../admin`,
    ];
    for (const t of targets) {
      const r = await rawRequest(s.port, get(t));
      assert.equal(r.status, 403, `${t} → ${r.status}`);
    }
    assert.equal(s.v1.requests.length, 0);
    assert.equal(s.v2.requests.length, 0);
  });

  it('the upstreams receive the normalised path; the query is kept byte for byte; a fragment is dropped', async () => {
    const r = await rawRequest(s.port, get('/a/./b/../c%7e%41//d?x=%2e%2e/../y&z=%41#frag'));
    assert.equal(r.status, 200);
    await s.v2.waitForRequests(1);
    assert.equal(s.v1.requests.at(-1)!.url, '/a/c~A/d?x=%2e%2e/../y&z=%41');
    assert.equal(s.v2.requests.at(-1)!.url, '/a/c~A/d?x=%2e%2e/../y&z=%41', 'the shadow gets the same path');
    const entry = s.tg.access.entries.at(-1)!;
    assert.equal(entry.path, '/a/c~A/d?x=%2e%2e/../y&z=%41');
  });

  it('absolute-form: routed and forwarded on its authority, in origin form (RFC 9112 §3.2.2)', async () => {
    const before = s.v1.requests.length;
    const r = await rawRequest(s.port, get(`http://app:${s.port}/x/../y?q=1`, 'Host: ignored.example\r\n'));
    assert.equal(r.status, 200);
    const got = s.v1.requests[before]!;
    assert.equal(got.url, '/y?q=1');
    assert.equal(got.headers.host, `app:${s.port}`);
  });

  it('a NUL is 400, userinfo 400; a target that is no path is 404; none reaches an upstream', async () => {
    const before = s.v1.requests.length;
    assert.equal((await rawRequest(s.port, get('/a%00b'))).status, 400);
    assert.equal((await rawRequest(s.port, get('http://user@app/'))).status, 400);
    assert.equal((await rawRequest(s.port, get('*', 'Host: app\r\n', 'OPTIONS'))).status, 404);
    assert.equal(s.v1.requests.length, before);
    assert.equal(await rejected(s.tg, 'invalid_path'), 1);
  });
});

describe('path normalisation switches', () => {
  it("BASE (Istio's default) keeps //, still resolves dot segments; NONE forwards the path as sent", async () => {
    const base = await setup({ downstream: { pathNormalization: 'BASE' } });
    try {
      assert.equal((await rawRequest(base.port, get('/public/%2e%2e/admin'))).status, 403);
      assert.equal((await rawRequest(base.port, get('//x/./y'))).status, 200);
      assert.equal(base.v1.requests.at(-1)!.url, '//x/y');
    } finally {
      await base.close();
    }
    const none = await setup({ downstream: { pathNormalization: 'NONE' } });
    try {
      assert.equal((await rawRequest(none.port, get('/public/../admin'))).status, 200);
      assert.equal(none.v1.requests.at(-1)!.url, '/public/../admin');
    } finally {
      await none.close();
    }
  });
});

describe('the shadow marker header comes only from Shadowgate', () => {
  let s: Awaited<ReturnType<typeof setup>>;
  before(async () => {
    s = await setup();
  });
  after(() => s.close());

  it('a client-sent x-shadowgate-mirror never reaches the primary; the copy carries "true"', async () => {
    const r = await send(s.port, '/order', {
      method: 'POST',
      headers: { host: 'app', 'x-shadowgate-mirror': 'true', 'X-Shadowgate-Mirror': 'true' },
      body: 'buy',
    });
    assert.equal(r.status, 200);
    await s.v2.waitForRequests(1);
    assert.equal(s.v1.requests[0]!.headers['x-shadowgate-mirror'], undefined);
    assert.equal(s.v1.requests[0]!.body.toString(), 'buy');
    assert.equal(s.v2.requests[0]!.headers['x-shadowgate-mirror'], 'true');
  });
});

describe('request heads: header count, Host', () => {
  let s: Awaited<ReturnType<typeof setup>>;
  before(async () => {
    s = await setup();
  });
  after(() => s.close());

  const headers = (n: number) => Array.from({ length: n }, (_, i) => `x-h${i}: ${i}\r\n`).join('');

  it('100 headers pass, 101 get 431 (Envoy max_headers_count), nothing reaches an upstream', async () => {
    assert.equal((await rawRequest(s.port, get('/ok', `Host: app\r\n${headers(98)}`))).status, 200, '98 + Host + Connection = 100');
    assert.equal((await rawRequest(s.port, get('/no', `Host: app\r\n${headers(99)}`))).status, 431);
    assert.deepEqual(
      s.v1.requests.map((r) => r.url),
      ['/ok'],
    );
    await s.v2.waitForRequests(1); // its copy, so later counts start from a settled shadow
  });

  it('a Content-Length, Transfer-Encoding or Host after 2,000 headers is never lost: 431, no empty POST upstream', async () => {
    const before = s.v1.requests.length;
    const shadowBefore = s.v2.requests.length;
    const tails: Array<[string, string]> = [
      ['Content-Length: 5', 'hello'],
      ['Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\n\r\n'],
      ['Host: evil', ''],
    ];
    for (const [last, body] of tails) {
      const head = `POST /upload HTTP/1.1\r\nHost: app\r\n${headers(2_001)}${last}\r\n\r\n`;
      const r = await rawRequest(s.port, head, body);
      assert.equal(r.status, 431, last);
      assert.equal(r.headers.connection, 'close');
    }
    assert.equal(s.v1.requests.length, before);
    assert.equal(s.v2.requests.length, shadowBefore);
    assert.equal(await rejected(s.tg, 'too_many_headers'), 4);
  });

  it('two Host headers: 400 (RFC 9112 §3.2); a Host naming another port: 404 (Istio domains)', async () => {
    const before = s.v1.requests.length;
    assert.equal((await rawRequest(s.port, get('/', 'Host: app\r\nHost: evil\r\n'))).status, 400);
    assert.equal((await rawRequest(s.port, get('/', 'Host: app\r\nhost: app\r\n'))).status, 400);
    assert.equal((await rawRequest(s.port, get('/', 'Host: app:1\r\n'))).status, 404);
    assert.equal((await rawRequest(s.port, get('/', 'Host: a b\r\n'))).status, 400);
    assert.equal(s.v1.requests.length, before);
    assert.equal((await rawRequest(s.port, get('/', `Host: app:${s.port}\r\n`))).status, 200);
    assert.equal(await rejected(s.tg, 'duplicate_host'), 2);
  });

  it('Transfer-Encoding in an HTTP/1.0 request: 400 and close (RFC 9112 §6.1), whatever its body; with a Content-Length served', async () => {
    const before = s.v1.requests.length;
    for (const [head, body] of [
      ['POST /upload HTTP/1.0\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n'],
      ['GET / HTTP/1.0\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n', '0\r\n\r\n'],
    ] as const) {
      const r = await rawRequest(s.port, head, body);
      assert.equal(r.status, 400, head);
      assert.equal(r.headers.connection, 'close');
    }
    assert.equal(s.v1.requests.length, before);
    assert.equal(await rejected(s.tg, 'invalid_framing'), 2);
    // HTTP/1.0 with a Content-Length is served as before.
    const ok = await rawRequest(s.port, 'POST /upload HTTP/1.0\r\nHost: app\r\nContent-Length: 5\r\n\r\n', 'hello');
    assert.equal(ok.status, 200);
    await s.v1.waitForRequests(before + 1);
    assert.equal(s.v1.requests.at(-1)!.body.toString(), 'hello');
  });

  it('a request line saying HTTP/2.0 on an HTTP/1 connection: 505 and close (it was served as HTTP/2 and failed with 500)', async () => {
    const before = s.v1.requests.length;
    const shadowBefore = s.v2.requests.length;
    for (const version of ['2.0', '2.0']) {
      const socket = await rawConnect(s.port);
      try {
        const answer = readResponse(socket);
        socket.write(`GET / HTTP/${version}\r\nHost: app\r\n\r\n`);
        const r = await answer;
        assert.equal(r.status, 505, version);
        assert.equal(r.headers.connection, 'close');
        await closedByServer(socket);
      } finally {
        socket.destroy();
      }
    }
    assert.equal(s.v1.requests.length, before);
    assert.equal(s.v2.requests.length, shadowBefore);
    assert.equal(await rejected(s.tg, 'unsupported_version'), 2);
    // Other versions (HTTP/3.1, HTTP/1.2) Node's parser refuses itself.
    assert.equal((await rawRequest(s.port, 'GET / HTTP/3.1\r\nHost: app\r\n\r\n')).status, 400);
    assert.equal(s.v1.requests.length, before);
  });
});

describe('slow clients: head and body timeouts', () => {
  let s: Awaited<ReturnType<typeof setup>>;
  before(async () => {
    s = await setup({ downstream: { headerTimeoutMs: 200, bodyIdleTimeoutMs: 200 } });
  });
  after(() => s.close());

  it('a head that never completes gets 408 and the connection closes', async () => {
    const socket = await rawConnect(s.port);
    const answer = readResponse(socket);
    socket.write('GET / HTTP/1.1\r\nHost: app\r\nX-Slow: a');
    assert.equal((await answer).status, 408);
    await closedByServer(socket);
    assert.equal(await rejected(s.tg, 'header_timeout'), 1);
  });

  it('a connection that sends nothing is closed', async () => {
    const socket = await rawConnect(s.port);
    await closedByServer(socket);
    assert.equal(await rejected(s.tg, 'header_timeout'), 2);
  });

  it('a connection that only trickles blank lines (no request starts, so Node times nothing) is closed', async () => {
    const before = await rejected(s.tg, 'header_timeout');
    const socket = await rawConnect(s.port);
    const drip = setInterval(() => socket.write('\r\n'), 20);
    try {
      await closedByServer(socket);
    } finally {
      clearInterval(drip);
    }
    assert.equal(await rejected(s.tg, 'header_timeout'), before + 1);
  });

  it('a body that stops arriving gets 408 and the connection closes; no upstream gets a whole request', async () => {
    const socket = await rawConnect(s.port);
    const answer = readResponse(socket);
    socket.write('POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: 10\r\n\r\nabc');
    const r = await answer;
    assert.equal(r.status, 408);
    await closedByServer(socket);
    assert.equal(await rejected(s.tg, 'body_timeout'), 1);
    assert.equal(s.v1.requests.length, 0);
    const entry = s.tg.access.entries.find((e) => e.response_code === 408)!;
    assert.match(entry.response_flags, /SI/);
  });
});

describe('downstream connection cap', () => {
  let s: Awaited<ReturnType<typeof setup>>;
  before(async () => {
    s = await setup({ downstream: { maxConnections: 4 } });
  });
  after(() => s.close());

  it('beyond the cap new connections are closed and counted; the admin listener keeps answering', async () => {
    const held: Socket[] = [];
    for (let i = 0; i < 4; i++) held.push(await rawConnect(s.port));
    // The server counts a connection when it accepts it: wait for that, not for time.
    await waitForCount(() => s.tg.gw.handler.stats.connections, 4, { what: 'connections accepted' });
    const extra = await rawConnect(s.port);
    await closedByServer(extra);
    assert.equal(await rejected(s.tg, 'connection_limit'), 1);

    const admin = `http://${s.tg.gw.adminAddress}`;
    const ready = await request(`${admin}/ready`);
    assert.equal(ready.statusCode, 200);
    await ready.body.dump();
    const metrics = await request(`${admin}/metrics`);
    const text = await metrics.body.text();
    assert.match(text, /shadowgate_downstream_connections 4/);
    assert.match(text, /shadowgate_downstream_rejected_total\{reason="connection_limit"\} 1/);

    for (const socket of held) socket.destroy();
    await waitFor(
      () => s.tg.gw.handler.stats.connections,
      (n) => n === 0,
      { what: 'every connection closed' },
    );
    assert.equal((await rawRequest(s.port, get('/after'))).status, 200);
  });
});

describe('one-byte chunks', () => {
  it('100,000 one-byte chunks arrive whole, in few writes upstream; other requests are served meanwhile', async () => {
    let dataEvents = 0;
    let received = '';
    const upstream = http.createServer((req, res) => {
      req.setEncoding('latin1');
      req.on('data', (d: string) => {
        dataEvents++;
        received += d;
      });
      req.on('end', () => res.end('ok'));
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const fake = { port: (upstream.address() as AddressInfo).port } as TestUpstream;
    const port = await freePort();
    const tg = await startGateway({
      'app.yaml': serviceYaml('app', port, [{ upstream: fake, labels: { version: 'v1' } }]) + VS.replace('    mirror: {host: app, subset: v2}\n', ''),
    });
    try {
      const n = 100_000;
      const socket = await rawConnect(port);
      const answer = readResponse(socket, 30_000);
      socket.write(`POST /chunks HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${'1\r\nx\r\n'.repeat(n)}0\r\n\r\n`);
      const other = await rawRequest(port, get('/admin'));
      assert.equal(other.status, 403, 'a local answer while the chunks are read');
      const r = await answer;
      socket.destroy();
      assert.equal(r.status, 200);
      assert.equal(received.length, n);
      assert.ok(/^x+$/.test(received));
      // Before: one upstream write (and one chunk event) per downstream chunk, 100,000 of them.
      assert.ok(dataEvents < 1_000, `${dataEvents} chunks upstream`);
    } finally {
      await tg.close();
      upstream.closeAllConnections();
      upstream.close();
    }
  });
});

describe('upstream 1xx', () => {
  it('a 100 Continue before the answer is skipped (RFC 9110 §15.2), the final answer is served', async () => {
    const upstream = createServer((socket) => {
      let seen = '';
      socket.on('data', (d) => {
        seen += d.toString('latin1');
        if (!seen.includes('\r\n\r\n')) return;
        seen = '';
        socket.write('HTTP/1.1 100 Continue\r\n\r\n');
        socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\nX-A: b\r\n\r\n');
        socket.write('HTTP/1.1 201 Created\r\nContent-Length: 7\r\n\r\ncreated');
      });
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const fake = { port: (upstream.address() as AddressInfo).port } as TestUpstream;
    const port = await freePort();
    const tg = await startGateway({
      'app.yaml': serviceYaml('app', port, [{ upstream: fake, labels: { version: 'v1' } }]) + VS.replace('    mirror: {host: app, subset: v2}\n', ''),
    });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await send(port, '/x', { method: 'POST', headers: { host: 'app' }, body: 'data' });
        assert.equal(r.status, 201);
        assert.equal(r.body, 'created');
      }
    } finally {
      await tg.close();
      upstream.close();
    }
  });
});

describe('serve flags for the downstream limits', () => {
  const bin = join(fileURLToPath(new URL('../..', import.meta.url)), 'bin', 'shadowgate.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, 'serve', '-f', '/nonexistent', ...args], { encoding: 'utf8', timeout: 20_000 });

  it('bad values are usage errors (exit 2) naming the flag', () => {
    for (const [flag, value] of [
      ['--path-normalization', 'SOMETIMES'],
      ['--max-request-headers', '0'],
      ['--header-timeout', 'soon'],
      ['--body-idle-timeout', '-1s'],
      ['--max-connections', 'many'],
    ] as const) {
      const r = run(flag, value);
      assert.equal(r.status, 2, `${flag} ${value}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(flag));
    }
  });
});

describe('skipping 100 Continue byte by byte', () => {
  /** A socket as undici leaves it between two responses, fed `pieces` as reads; what undici would read. */
  function feed(pieces: string[], parser = { statusCode: 0, headers: [] as unknown[] }): string {
    const socket = new NetSocket();
    (socket as unknown as Record<symbol, unknown>)[Symbol('parser')] = parser;
    skipContinue(socket);
    for (const p of pieces) socket.push(Buffer.from(p, 'latin1'));
    socket.push(null);
    // Chunk by chunk: Node 26's read() returns the first buffered chunk only, earlier lines all of them.
    let out = '';
    for (let c = socket.read() as Buffer | null; c !== null; c = socket.read() as Buffer | null) out += c.toString('latin1');
    socket.destroy();
    return out;
  }
  const final = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

  it('drops a 100 split anywhere across reads, keeps 103 and the final answer', () => {
    const whole = `HTTP/1.1 100 Continue\r\nX-A: b\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.0 100 Continue\r\n\r\n${final}`;
    const want = `HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n${final}`;
    for (let cut = 1; cut < whole.length; cut++) {
      assert.equal(feed([whole.slice(0, cut), whole.slice(cut)]), want, `cut at ${cut}`);
    }
    assert.equal(feed([...whole]), want, 'one byte per read');
  });

  it('never touches a body, nor bytes read while a response is being parsed', () => {
    assert.equal(feed(['HTTP/1.1 100 Continue\r\n\r\n'], { statusCode: 200, headers: [] }), 'HTTP/1.1 100 Continue\r\n\r\n');
    assert.equal(feed([final]), final);
    assert.equal(feed(['HTTP/1.1 1000 x\r\n\r\n']), 'HTTP/1.1 1000 x\r\n\r\n', 'not a 1xx status line: left to the parser');
  });
});
