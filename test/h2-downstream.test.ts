// Downstream HTTP/2 with prior knowledge (h2c) on the same ports as HTTP/1.1: routing, mirroring, bounds.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { client, freePort, send, serviceYaml, startGateway } from './harness/gateway.js';
import { startUpstream } from './harness/upstream.js';

after(() => client.close());

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - match: [{headers: {x-pick: {exact: v2}}}]
    route: [{destination: {host: web, subset: v2}}]
  - route: [{destination: {host: web, subset: v1}}]
    mirror: {host: web, subset: v2}
`;

async function setup() {
  const v1 = await startUpstream('v1', { kind: 'answer', body: 'This is version 1\n' });
  const v2 = await startUpstream('v2', { kind: 'answer', body: 'This is version 2\n' });
  const port = await freePort();
  const tg = await startGateway({
    'svc.yaml': serviceYaml('web', port, [
      { upstream: v1, labels: { version: 'v1' } },
      { upstream: v2, labels: { version: 'v2' } },
    ]),
    'vs.yaml': VS,
  });
  return {
    v1,
    v2,
    port,
    tg,
    async close() {
      await tg.close();
      await v1.close();
      await v2.close();
    },
  };
}

interface H2Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    if (body !== undefined) stream.end(body);
    let status = 0;
    let head: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      head = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status, headers: head, body: Buffer.concat(chunks).toString() }));
    stream.on('error', reject);
  });
}

describe('h2c downstream', () => {
  it('serves HTTP/2 with prior knowledge and HTTP/1.1 on the same port, through the same routes and mirrors', async () => {
    const s = await setup();
    try {
      const session = http2.connect(`http://127.0.0.1:${s.port}`);
      await once(session, 'remoteSettings');
      // Envoy's edge bounds: 100 streams, a 64 KiB stream window, a 60 KiB header list.
      assert.equal(session.remoteSettings.maxConcurrentStreams, 100);
      assert.equal(session.remoteSettings.initialWindowSize, 65_536);
      assert.equal(session.remoteSettings.maxHeaderListSize, 60 * 1024);
      const a = await h2request(session, { ':path': '/x?q=1', ':authority': 'web' });
      assert.equal(a.status, 200);
      assert.equal(a.body, 'This is version 1\n');
      // A header match routes HTTP/2 as it routes HTTP/1.1.
      const b = await h2request(session, { ':path': '/y', ':authority': 'web', 'x-pick': 'v2' });
      assert.equal(b.body, 'This is version 2\n');
      // A POST body reaches the primary and the shadow, without content-length on the HTTP/2 side.
      const c = await h2request(session, { ':path': '/post', ':method': 'POST', ':authority': 'web' }, 'hello h2');
      assert.equal(c.status, 200);
      session.close();
      const h1 = await send(s.port, '/h1', { headers: { host: 'web' } });
      assert.equal(h1.body, 'This is version 1\n');

      await s.v2.waitForRequests(4);
      const primary = s.v1.requests.map((r) => `${r.method} ${r.url} ${r.body.toString()}`);
      assert.deepEqual(primary, ['GET /x?q=1 ', 'POST /post hello h2', 'GET /h1 ']);
      const shadow = s.v2.requests.map((r) => `${r.method} ${r.url}`).sort();
      assert.deepEqual(shadow, ['GET /h1', 'GET /x?q=1', 'GET /y', 'POST /post']);
      const post = s.v1.requests[1]!;
      assert.equal(post.headers.host, 'web', ':authority becomes Host upstream');
      assert.equal(
        Object.keys(post.headers).some((k) => k.startsWith(':')),
        false,
        'no pseudo-header crosses',
      );
      const log = s.tg.access.entries.map((e) => (e as { protocol: string }).protocol);
      assert.ok(log.includes('HTTP/2.0') && log.includes('HTTP/1.1'));
      // Answered streams are not mistaken for clients that went away (DC), and the client address is logged.
      for (const e of s.tg.access.entries) {
        assert.equal(e.response_flags, '-');
        assert.match(e.downstream_remote_address, /^127\.0\.0\.1:\d+$/);
      }
    } finally {
      await s.close();
    }
  });

  it('curl --http2-prior-knowledge gets the answer', async () => {
    const s = await setup();
    try {
      const out = await new Promise<string>((resolve, reject) =>
        execFile('curl', ['-sS', '--http2-prior-knowledge', '-H', 'Host: web', '-w', ' %{http_version}', `http://127.0.0.1:${s.port}/curl`], (err, stdout) =>
          err ? reject(err) : resolve(stdout),
        ),
      );
      assert.equal(out, 'This is version 1\n 2');
    } finally {
      await s.close();
    }
  });

  it('a client that does not read a large answer cannot make the gateway buffer it', async () => {
    // The upstream writes until the gateway stops reading; a client that reads nothing holds the stream.
    let written = 0;
    let blocked!: () => void;
    const stalled = new Promise<void>((r) => {
      blocked = r;
    });
    const big = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024);
      const pump = () => {
        while (written < 256 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) {
            // Back-pressure reached the upstream: wait for the gateway to read more (it never will).
            res.once('drain', pump);
            blocked();
            return;
          }
        }
        res.end();
      };
      pump();
    });
    big.listen(0, '127.0.0.1');
    await once(big, 'listening');
    const port = await freePort();
    const tg = await startGateway({
      'svc.yaml': serviceYaml('big', port, [
        { upstream: { name: 'big', port: (big.address() as AddressInfo).port, host: '127.0.0.1' } as never, labels: { version: 'v1' } },
      ]),
    });
    try {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      const stream = session.request({ ':path': '/', ':authority': 'big' });
      stream.pause();
      await once(stream, 'response');
      await stalled;
      // Let the event loop settle at the stall point, then check nothing grows: 256 MiB was on offer.
      const first = written;
      await new Promise((r) => setImmediate(r));
      assert.equal(written, first);
      assert.ok(written < 32 * 1024 * 1024, `upstream wrote ${written} bytes before back-pressure stopped it`);
      stream.destroy();
      session.destroy();
    } finally {
      await tg.close();
      big.closeAllConnections();
      big.close();
    }
  });
});
