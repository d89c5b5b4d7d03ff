// Issue 17: Istio Gateway `tls.mode: PASSTHROUGH`: connections sent by the SNI of their ClientHello, undecrypted, to a
// VirtualService `tls:` route's destination; real https upstreams hold the only certificates.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { ClientHelloReader, clientHelloSni } from '../src/proxy/index.js';
import { type Certs, makeCa, opensslMissing } from './harness/certs.js';
import { freePort, startGateway, type TestGateway } from './harness/gateway.js';
import { type HttpsUpstream, httpsUpstream } from './harness/https-upstream.js';
import { fingerprintOf, tlsGet as get } from './harness/tls-client.js';
import { startUpstream, type TestUpstream } from './harness/upstream.js';

const skip = opensslMissing();

/** A ServiceEntry for an upstream the gateway sends to and does not listen for (`shadowgate.dev/listen: "false"`). */
function upstreamEntry(name: string, host: string, port: number, protocol: 'TLS' | 'HTTP', endpointPort: number): string {
  const portName = protocol.toLowerCase();
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, annotations: {shadowgate.dev/listen: "false"}}
spec:
  hosts: [${host}]
  ports: [{number: ${port}, name: ${portName}, protocol: ${protocol}}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {${portName}: ${endpointPort}}}]
---
`;
}

/** Resolves with the first TLS record `socket` receives (Node sends its whole ClientHello in one) and what came after it. */
function firstRecord(socket: Socket): Promise<{ record: Buffer; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length < 5 || got.length < 5 + got.readUInt16BE(3)) return;
      socket.off('data', onData);
      socket.pause();
      const end = 5 + got.readUInt16BE(3);
      resolve({ record: got.subarray(0, end), rest: got.subarray(end) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** The handshake bytes of a one-record ClientHello re-framed as consecutive handshake records, cut at `cuts`. */
function reframe(record: Buffer, cuts: readonly number[]): Buffer[] {
  const message = record.subarray(5);
  const bounds = [0, ...cuts, message.length];
  return bounds.slice(1).map((end, i) => {
    const fragment = message.subarray(bounds[i], end);
    return Buffer.concat([Buffer.from([0x16, record[1]!, record[2]!, fragment.length >> 8, fragment.length & 0xff]), fragment]);
  });
}

/** A real ClientHello for `servername`, as Node's TLS client sends it, captured by a loopback server that then hangs up. */
async function captureClientHello(servername: string): Promise<Buffer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const captured = new Promise<Buffer>((resolve, reject) =>
    server.once('connection', (s: Socket) =>
      firstRecord(s).then(({ record }) => {
        s.destroy();
        resolve(record);
      }, reject),
    ),
  );
  const client = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername });
  client.on('error', () => {});
  try {
    return await captured;
  } finally {
    client.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/**
 * A loopback relay to `port` that re-frames each client's ClientHello as two handshake records cut inside the server
 * name `cutIn` (so the name is whole in neither), written one at a time, then copies bytes both ways.
 */
async function splittingRelay(port: number, cutIn: string): Promise<{ port: number; splits: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    void firstRecord(client).then(({ record, rest }) => {
      const at = record.subarray(5).indexOf(cutIn);
      assert.ok(at > 0, 'the server name is in the ClientHello');
      const [one, two] = reframe(record, [at + 3]);
      const up = connect({ host: '127.0.0.1', port }, () => {
        relay.splits++;
        up.write(one!);
        up.write(two!);
        if (rest.length > 0) up.write(rest);
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
      sockets.add(up);
      up.on('error', () => client.destroy());
      up.on('close', () => client.destroy());
      client.on('close', () => up.destroy());
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const relay = {
    port: (server.address() as AddressInfo).port,
    splits: 0,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return relay;
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
    const upstreams =
      upstreamEntry('secure', 'secure.example.com', 8443, 'TLS', secure.port) +
      upstreamEntry('other', 'other.example.com', 443, 'TLS', other.port) +
      upstreamEntry('down', 'down.example.com', 443, 'TLS', deadPort);
    const yaml = `${upstreams}apiVersion: networking.istio.io/v1
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
    assert.equal(a.fingerprint, fingerprintOf(certs, 'secure'));
    assert.equal(secure.seen.length, 1);
    assert.equal(secure.seen[0]!.sni, 'secure.example.com');
    assert.equal(secure.seen[0]!.url, '/through');
    // The exact name wins over the other route's wildcard; the wildcard takes the rest.
    const b = await get(port, 'www.example.com', ca, true);
    assert.equal(b.body, 'other over TLS', b.error);
    assert.equal(b.fingerprint, fingerprintOf(certs, 'other'));
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
  it('a ClientHello split over two handshake records (RFC 8446 §5.1) is reassembled and sent by its SNI', async () => {
    const relay = await splittingRelay(port, 'secure.example.com');
    try {
      const before = secure.seen.length;
      const a = await get(relay.port, 'secure.example.com', readFileSync(certs.path('ca.crt')));
      assert.equal(relay.splits, 1);
      assert.equal(a.status, 200, a.error);
      assert.equal(a.body, 'secure over TLS');
      assert.equal(a.fingerprint, fingerprintOf(certs, 'secure'));
      assert.equal(secure.seen.length, before + 1);
      assert.equal(secure.seen.at(-1)!.sni, 'secure.example.com');
      const text = await tg.gw.metrics.registry.metrics();
      assert.match(text, new RegExp(`shadowgate_tls_passthrough_connections_total\\{port="${port}",result="forwarded"\\} 4`));
    } finally {
      await relay.close();
    }
  });
});

describe('PASSTHROUGH and terminated servers on one port, chosen by SNI as Istio does', { skip }, () => {
  let certs: Certs;
  let secure: HttpsUpstream;
  let web: TestUpstream;
  let tg: TestGateway;
  let port: number;

  before(async () => {
    certs = makeCa();
    certs.issue('secure', 'secure', ['DNS:secure.example.com']);
    certs.issue('web', 'web', ['DNS:web.example.com']);
    secure = await httpsUpstream(certs, 'secure', false);
    web = await startUpstream('web', { kind: 'answer', body: 'web, decrypted at the gateway' });
    port = await freePort();
    const upstreams = upstreamEntry('secure', 'secure.example.com', 443, 'TLS', secure.port) + upstreamEntry('web', 'web.internal', 80, 'HTTP', web.port);
    const yaml = `${upstreams}apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  servers:
  - port: {number: ${port}, name: tls, protocol: TLS}
    hosts: ["*.example.com"]
    tls: {mode: PASSTHROUGH}
  - port: {number: ${port}, name: https, protocol: HTTPS}
    hosts: [web.example.com]
    tls: {mode: SIMPLE, serverCertificate: ${certs.path('web.crt')}, privateKey: ${certs.path('web.key')}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: passed}
spec:
  hosts: ["*.example.com"]
  gateways: [edge]
  tls:
  - match: [{sniHosts: ["*.example.com"]}]
    route: [{destination: {host: secure.example.com}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web.example.com]
  gateways: [edge]
  http: [{route: [{destination: {host: web.internal}}]}]
`;
    tg = await startGateway({ 'mixed.yaml': yaml });
  });

  after(async () => {
    await tg?.close();
    await secure?.close();
    await web?.close();
    certs?.remove();
  });

  it("an SNI a terminated server names is decrypted and routed; the rest goes by the tls route, the upstream's certificate answering", async () => {
    const ca = readFileSync(certs.path('ca.crt'));
    assert.deepEqual(tg.gw.snapshot.problems, []);
    // web.example.com: the terminated server's exact name before the tls route's wildcard.
    const a = await get(port, 'web.example.com', ca);
    assert.equal(a.status, 200, a.error);
    assert.equal(a.body, 'web, decrypted at the gateway');
    assert.equal(a.fingerprint, fingerprintOf(certs, 'web'));
    assert.equal(web.requests.length, 1);
    assert.equal(web.requests[0]!.url, '/through');
    assert.equal(secure.seen.length, 0);
    // Any other name under the wildcard is passed through, undecrypted.
    const b = await get(port, 'secure.example.com', ca);
    assert.equal(b.status, 200, b.error);
    assert.equal(b.body, 'secure over TLS');
    assert.equal(b.fingerprint, fingerprintOf(certs, 'secure'));
    assert.equal(secure.seen.length, 1);
    assert.equal(secure.seen[0]!.sni, 'secure.example.com');
    assert.equal(web.requests.length, 1);
    // No SNI: no passthrough chain takes it and no terminated server is `*`.
    assert.ok((await get(port, undefined, ca)).error, 'refused');
    const text = await tg.gw.metrics.registry.metrics();
    assert.match(text, new RegExp(`shadowgate_tls_passthrough_connections_total\\{port="${port}",result="terminated"\\} 1`));
    assert.match(text, new RegExp(`shadowgate_tls_passthrough_connections_total\\{port="${port}",result="forwarded"\\} 1`));
    assert.match(text, new RegExp(`shadowgate_tls_passthrough_connections_total\\{port="${port}",result="no_sni"\\} 1`));
  });

  it('a ClientHello split over two records is put back whole for the terminated server', async () => {
    const relay = await splittingRelay(port, 'web.example.com');
    try {
      const a = await get(relay.port, 'web.example.com', readFileSync(certs.path('ca.crt')));
      assert.equal(relay.splits, 1);
      assert.equal(a.status, 200, a.error);
      assert.equal(a.body, 'web, decrypted at the gateway');
      assert.equal(a.fingerprint, fingerprintOf(certs, 'web'));
    } finally {
      await relay.close();
    }
  });
});

describe('clientHelloSni', () => {
  it('needs more bytes, refuses what is not a handshake, and never reads past the ClientHello', () => {
    assert.equal(clientHelloSni(Buffer.from([0x16, 0x03])), undefined);
    assert.equal(clientHelloSni(Buffer.from('GET / HTTP/1.1\r\n')), null);
    // A ClientHello longer than its record waits for the next one; one longer than the bound is refused at once.
    assert.equal(clientHelloSni(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x01, 0x00])), undefined);
    assert.equal(clientHelloSni(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0xff, 0xff])), null);
    // Zero-length handshake records are forbidden (RFC 8446 §5.1); so is a record over 2^14 bytes.
    assert.equal(clientHelloSni(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00])), null);
    assert.equal(clientHelloSni(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x01])), null);
    // Truncated inside the session id: refused, not read out of bounds.
    const hello = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x27, 0x01, 0x00, 0x00, 0x23, 0x03, 0x03]), Buffer.alloc(32), Buffer.from([0xff])]);
    assert.equal(clientHelloSni(hello), null);
  });
  it('reassembles a real ClientHello cut into two records at any byte, or into many, however the bytes arrive', async () => {
    const record = await captureClientHello('secure.example.com');
    assert.equal(clientHelloSni(record), 'secure.example.com');
    const length = record.length - 5;
    for (let cut = 1; cut < length; cut++) {
      const [one, two] = reframe(record, [cut]);
      const stream = Buffer.concat([one!, two!]);
      assert.equal(clientHelloSni(stream), 'secure.example.com', `cut at ${cut}`);
      // Every prefix needs more bytes: nothing is decided before the last byte of the second record.
      assert.equal(clientHelloSni(stream.subarray(0, stream.length - 1)), undefined, `cut at ${cut}, short by one`);
    }
    // One record per byte of the message, fed one byte at a time.
    const many = Buffer.concat(
      reframe(
        record,
        Array.from({ length: length - 1 }, (_, i) => i + 1),
      ),
    );
    const reader = new ClientHelloReader();
    for (let i = 0; i < many.length - 1; i++) assert.equal(reader.push(many.subarray(i, i + 1)), undefined);
    assert.equal(reader.push(many.subarray(-1)), 'secure.example.com');
    assert.deepEqual(reader.bytes(), many);
  });

  it('refuses another record type between the fragments, and a ClientHello that does not fit in 64 KiB', async () => {
    const record = await captureClientHello('secure.example.com');
    const [one, two] = reframe(record, [40]);
    const appData = Buffer.from([0x17, 0x03, 0x03, 0x00, 0x01, 0x00]);
    assert.equal(clientHelloSni(Buffer.concat([one!, appData, two!])), null);
    // A second handshake record that is not the rest of a ClientHello but garbage: refused as before.
    assert.equal(clientHelloSni(Buffer.concat([one!, Buffer.from('GET / HTTP/1.1\r\n')])), null);
    // A ClientHello of 65,000 bytes (within the bound alone) in 100-byte records: the headers push it past 64 KiB.
    const message = Buffer.concat([Buffer.from([0x01, 0x00, 0xfd, 0xe8]), Buffer.alloc(65_000)]);
    const records = reframe(
      Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0, 0]), message]),
      Array.from({ length: 650 }, (_, i) => (i + 1) * 100),
    );
    const reader = new ClientHelloReader();
    let sent = 0;
    let result: string | null | undefined;
    for (const r of records) {
      result = reader.push(r);
      sent += r.length;
      if (result !== undefined) break;
    }
    assert.equal(result, null);
    assert.ok(sent >= 64 * 1024 && sent < 64 * 1024 + 105, `refused after ${sent} bytes`);
  });
});
