// Issue 17: TLS origination to HTTP/2 upstreams (a GRPC/HTTP2 port with DestinationRule tls): h2 by ALPN, names verified.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { type Certs, makeCa, opensslMissing } from './harness/certs.js';
import { client, freePort, send, startGateway, type TestGateway } from './harness/gateway.js';

after(() => client.close());

interface H2Upstream {
  port: number;
  seen: Array<{ path: string; version: string; alpn: string | false; sni: string | false; mirrored: boolean }>;
  waitFor(n: number): Promise<void>;
  close(): Promise<void>;
}

/** An HTTP/2-only TLS server (no HTTP/1.1 fallback): only a client that negotiates h2 by ALPN gets an answer. */
async function h2Upstream(certs: Certs, name: string): Promise<H2Upstream> {
  const seen: H2Upstream['seen'] = [];
  const waiters: Array<() => void> = [];
  const server = http2.createSecureServer({ key: readFileSync(certs.path(`${name}.key`)), cert: readFileSync(certs.path(`${name}.crt`)) }, (req, res) => {
    const socket = req.socket as unknown as TLSSocket;
    seen.push({
      path: req.url,
      version: req.httpVersion,
      alpn: socket.alpnProtocol ?? false,
      sni: socket.servername ?? false,
      mirrored: req.headers['x-shadowgate-mirror'] !== undefined,
    });
    for (const w of waiters.splice(0)) w();
    req.resume();
    req.on('end', () => res.end(`${name} over h2`));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    async waitFor(n) {
      while (seen.length < n) await new Promise<void>((r) => waiters.push(r));
    },
    async close() {
      for (const s of sessions) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('TLS origination to HTTP/2 upstreams', { skip: opensslMissing() }, () => {
  let certs: Certs;
  let v1: H2Upstream;
  let v2: H2Upstream;
  let port: number;
  let tg: TestGateway;

  before(async () => {
    certs = makeCa();
    certs.issue('grpc', 'grpc', ['DNS:grpc.example.com']);
    v1 = await h2Upstream(certs, 'grpc');
    v2 = await h2Upstream(certs, 'grpc');
    port = await freePort();
    const ca = certs.path('ca.crt');
    tg = await startGateway({
      'api.yaml': `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: grpc}
spec:
  hosts: [grpc.example.com]
  ports: [{number: ${port}, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {grpc: ${v1.port}}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {grpc: ${v2.port}}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: grpc}
spec:
  host: grpc.example.com
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: ${ca}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - name: wrongsan
    labels: {version: v1}
    trafficPolicy:
      tls: {mode: SIMPLE, caCertificates: ${ca}, subjectAltNames: [billing.example.com]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: grpc}
spec:
  hosts: [grpc.example.com]
  http:
  - {match: [{uri: {prefix: /wrongsan}}], route: [{destination: {host: grpc.example.com, subset: wrongsan}}]}
  - route: [{destination: {host: grpc.example.com, subset: v1}}]
    mirror: {host: grpc.example.com, subset: v2}
`,
    });
  });

  after(async () => {
    await tg?.close();
    await v1?.close();
    await v2?.close();
    certs?.remove();
  });

  it('speaks h2 over TLS to the primary and the shadow, with the service host as SNI', async () => {
    const r = await send(port, '/pkg.Service/Method', { headers: { host: 'grpc.example.com' } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'grpc over h2');
    await v2.waitFor(1);
    assert.deepEqual(v1.seen[0], { path: '/pkg.Service/Method', version: '2.0', alpn: 'h2', sni: 'grpc.example.com', mirrored: false });
    assert.deepEqual(v2.seen[0], { path: '/pkg.Service/Method', version: '2.0', alpn: 'h2', sni: 'grpc.example.com', mirrored: true });
  });

  it('refuses an upstream whose certificate does not carry the subjectAltNames: 503 UF, nothing sent', async () => {
    const before = v1.seen.length;
    const r = await send(port, '/wrongsan', { headers: { host: 'grpc.example.com' } });
    assert.equal(r.status, 503);
    assert.equal(v1.seen.length, before);
    assert.ok(
      tg.access.entries.some((e) => e.path === '/wrongsan' && String(e.response_flags).includes('UF')),
      JSON.stringify(tg.access.entries.at(-1)),
    );
  });
});
