// Issue 17: Istio Gateway `tls.mode: PASSTHROUGH`: connections sent by the SNI of their ClientHello, undecrypted, to a
// VirtualService `tls:` route's destination; real https upstreams hold the only certificates.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { clientHelloSni } from '../src/proxy/index.js';
import { type Certs, makeCa, opensslMissing } from './harness/certs.js';
import { freePort, startGateway, type TestGateway } from './harness/gateway.js';
import { type HttpsUpstream, httpsUpstream } from './harness/https-upstream.js';

const skip = opensslMissing();

function get(
  port: number,
  servername: string | undefined,
  ca: Buffer,
  anyName = false,
): Promise<{ status?: number; body?: string; fingerprint?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port,
        path: '/through',
        ca,
        agent: false,
        headers: { host: servername ?? 'x' },
        // '' sends no SNI at all (Node would otherwise take the Host header's name).
        servername: servername ?? '',
        // Chain still verified: only the name check is off, to see which upstream's certificate answered.
        ...(anyName ? { checkServerIdentity: () => undefined } : {}),
      },
      (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body, fingerprint }));
      },
    );
    req.on('error', (e) => resolve({ error: e.message }));
  });
}

describe('TLS PASSTHROUGH on an Istio Gateway server', { skip }, () => {
  let certs: Certs;
  let secure: HttpsUpstream;
  let other: HttpsUpstream;
  let tg: TestGateway;
  let port: number;
  let deadPort: number;

  before(async () => {
    certs = makeCa();
    certs.issue('secure', 'secure', ['DNS:secure.example.com']);
    certs.issue('other', 'other', ['DNS:other.example.com']);
    secure = await httpsUpstream(certs, 'secure', false);
    other = await httpsUpstream(certs, 'other', false);
    port = await freePort();
    // Nothing listens here: the dial fails.
    deadPort = await freePort();
    const yaml = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: secure, annotations: {shadowgate.dev/listen: "false"}}
spec:
  hosts: [secure.example.com]
  ports: [{number: 8443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tls: ${secure.port}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: other, annotations: {shadowgate.dev/listen: "false"}}
spec:
  hosts: [other.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tls: ${other.port}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: down, annotations: {shadowgate.dev/listen: "false"}}
spec:
  hosts: [down.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tls: ${deadPort}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: down}
spec:
  hosts: [down.example.com]
  gateways: [edge]
  tls:
  - match: [{sniHosts: [down.example.com]}]
    route: [{destination: {host: down.example.com}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers:
  - port: {number: ${port}, name: tls, protocol: TLS}
    hosts: ["*.example.com"]
    tls: {mode: PASSTHROUGH}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: secure}
spec:
  hosts: [secure.example.com]
  gateways: [edge]
  tls:
  - match: [{port: ${port}, sniHosts: [secure.example.com]}]
    route: [{destination: {host: secure.example.com, port: {number: 8443}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: other}
spec:
  hosts: ["*.example.com"]
  gateways: [edge]
  tls:
  - match: [{sniHosts: ["*.example.com"]}]
    route: [{destination: {host: other.example.com}}]
`;
    tg = await startGateway({ 'passthrough.yaml': yaml });
  });

  after(async () => {
    await tg?.close();
    await secure?.close();
    await other?.close();
    certs?.remove();
  });

  it("sends each connection by its SNI to the tls route's destination, undecrypted: the upstream's own certificate answers", async () => {
    const ca = readFileSync(certs.path('ca.crt'));
    assert.deepEqual(tg.gw.snapshot.problems, []);
    const a = await get(port, 'secure.example.com', ca);
    assert.equal(a.status, 200, a.error);
    assert.equal(a.body, 'secure over TLS');
    assert.equal(a.fingerprint, new X509Certificate(readFileSync(certs.path('secure.crt'))).fingerprint256);
    assert.equal(secure.seen.length, 1);
    assert.equal(secure.seen[0]!.sni, 'secure.example.com');
    assert.equal(secure.seen[0]!.url, '/through');
    // The exact name wins over the other route's wildcard; the wildcard takes the rest.
    const b = await get(port, 'www.example.com', ca, true);
    assert.equal(b.body, 'other over TLS', b.error);
    assert.equal(b.fingerprint, new X509Certificate(readFileSync(certs.path('other.crt'))).fingerprint256);
    assert.equal(other.seen[0]!.sni, 'www.example.com');
    assert.equal(secure.seen.length, 1);
  });

  it('a ClientHello no route takes, or one without SNI, is closed; nothing reaches an upstream; counted by reason', async () => {
    const ca = readFileSync(certs.path('ca.crt'));
    const before = secure.connections + other.connections;
    const none = await get(port, 'secure.example.org', ca);
    assert.ok(none.error, 'refused');
    const noSni = await get(port, undefined, ca);
    assert.ok(noSni.error, 'refused');
    assert.equal(secure.connections + other.connections, before);
    const text = await tg.gw.metrics.registry.metrics();
    assert.match(text, new RegExp(`shadowgate_tls_passthrough_connections_total\\{port="${port}",result="no_route"\\} 1`));
    assert.match(text, new RegExp(`shadowgate_tls_passthrough_connections_total\\{port="${port}",result="no_sni"\\} 1`));
    assert.match(text, new RegExp(`shadowgate_tls_passthrough_connections_total\\{port="${port}",result="forwarded"\\} 2`));
  });

  it('plain HTTP on the port is closed (not_tls); an upstream that refuses the dial closes the client connection', async () => {
    const plain = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => s.write('GET / HTTP/1.1\r\nhost: secure.example.com\r\n\r\n'));
      let got = '';
      s.on('data', (d) => {
        got += d;
      });
      s.on('close', () => resolve(got));
      s.on('error', () => {});
    });
    assert.equal(plain, '', 'closed without an answer');
    const down = await get(port, 'down.example.com', readFileSync(certs.path('ca.crt')));
    assert.ok(down.error, 'the client sees the connection closed');
    const text = await tg.gw.metrics.registry.metrics();
    assert.match(text, new RegExp(`shadowgate_tls_passthrough_connections_total\\{port="${port}",result="not_tls"\\} 1`));
    assert.match(text, new RegExp(`shadowgate_tls_passthrough_connections_total\\{port="${port}",result="forwarded"\\} 3`));
  });
});

describe('clientHelloSni', () => {
  it('needs more bytes, refuses what is not a handshake, and never reads past the record', () => {
    assert.equal(clientHelloSni(Buffer.from([0x16, 0x03])), undefined);
    assert.equal(clientHelloSni(Buffer.from('GET / HTTP/1.1\r\n')), null);
    // A record claiming a ClientHello longer than itself.
    assert.equal(clientHelloSni(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0xff, 0xff])), null);
    // Truncated inside the session id: refused, not read out of bounds.
    const hello = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x27, 0x01, 0x00, 0x00, 0x23, 0x03, 0x03]), Buffer.alloc(32), Buffer.from([0xff])]);
    assert.equal(clientHelloSni(hello), null);
  });
});
