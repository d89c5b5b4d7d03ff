// TLSRoute on TLS listeners in Terminate mode (GEP-2643 TLSRouteModeTerminate, and TLSRouteModeMixed beside a
// Passthrough listener on the same port), over real TLS on loopback: the client gets the listener's certificate, no
// ALPN protocol is negotiated, and its plaintext reaches a plain TCP backend decrypted. The suite's Terminate and mixed
// cases are replayed with its YAML (test/fixtures/gateway-api/, the Secret given as certificate files); then weights,
// an HTTPS listener on the same port, an invalid backend, and status in files.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { loadSnapshot, type Snapshot } from '../src/config/index.js';
import { type Certs, makeCa, opensslMissing } from './harness/certs.js';
import { freePort, startGateway, type TestGateway } from './harness/gateway.js';
import { fixture, gatewayListeners, listenerCondition, NS, parentConditions } from './harness/gateway-api.js';
import { type HttpsUpstream, httpsUpstream } from './harness/https-upstream.js';
import { fingerprintOf, passthroughConnections, tlsGet } from './harness/tls-client.js';
import { startUpstream, type TestUpstream } from './harness/upstream.js';

/**
 * A plain TCP backend speaking the suite's echo protocol (its tcpserver): a welcome line naming it first, then `PING` →
 * `PONG`, `IS_TLS` → whether the connection began with a TLS handshake record, `TEST` → a JSON line naming it; any
 * other line is echoed.
 */
interface TcpBackend {
  name: string;
  port: number;
  connections: number;
  close(): Promise<void>;
}

async function tcpBackend(name: string): Promise<TcpBackend> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    b.connections++;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.write(`WELCOME ${name}\n`);
    let first: number | undefined;
    let buffered = '';
    s.on('data', (d: Buffer) => {
      first ??= d[0];
      buffered += d.toString('latin1');
      for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 1);
        if (line === 'PING') s.write('PONG\n');
        else if (line === 'IS_TLS') s.write(`${first === 0x16}\n`);
        else if (line === 'TEST') s.write(`${JSON.stringify({ pod: name })}\n`);
        else s.write(`${line}\n`);
      }
    });
  });
  const b: TcpBackend = {
    name,
    port: 0,
    connections: 0,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  b.port = (server.address() as AddressInfo).port;
  return b;
}

/** A TLS client connection to the gateway, with the server's answers read line by line. */
interface Session {
  socket: TLSSocket;
  /** The ALPN protocol negotiated (false: none). */
  alpn: string | false;
  fingerprint: string;
  /** The next line the server sends (undefined: it closed first). */
  line(): Promise<string | undefined>;
  /** Sends `text` and a newline, and reads the answer's line. */
  ask(text: string): Promise<string | undefined>;
}

/**
 * Opens TLS to `port` with SNI `servername`, offering ALPN `h2` and `http/1.1` as an HTTP client would; the chain and
 * the name are checked against `ca`. Resolves with the session, or with the error when the handshake is refused.
 */
function tlsSession(port: number, servername: string, ca: Buffer): Promise<Session | { error: string }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols: ['h2', 'http/1.1'] });
    let buffered = '';
    let ended = false;
    const waiting: Array<() => void> = [];
    const wake = () => {
      for (const w of waiting.splice(0)) w();
    };
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('utf8');
      wake();
    });
    socket.on('close', () => {
      ended = true;
      wake();
    });
    // Before the handshake an error is the answer; after it, the session's end (line() says undefined).
    socket.on('error', (e) => resolve({ error: e.message }));
    const line = async (): Promise<string | undefined> => {
      for (;;) {
        const i = buffered.indexOf('\n');
        if (i >= 0) {
          const out = buffered.slice(0, i);
          buffered = buffered.slice(i + 1);
          return out;
        }
        if (ended) return undefined;
        await new Promise<void>((r) => waiting.push(r));
      }
    };
    socket.once('secureConnect', () => {
      resolve({
        socket,
        alpn: socket.alpnProtocol ?? false,
        fingerprint: socket.getPeerCertificate().fingerprint256,
        line,
        ask: (text) => {
          socket.write(`${text}\n`);
          return line();
        },
      });
    });
  });
}

function session(s: Session | { error: string }): Session {
  if ('error' in s) assert.fail(`the handshake failed: ${s.error}`);
  return s;
}

/** The suite's tcpserver exchange on a terminated connection: which backend answered, and that it saw no TLS. */
async function exchange(port: number, sni: string, ca: Buffer): Promise<{ backend: string; alpn: string | false; fingerprint: string }> {
  const s = session(await tlsSession(port, sni, ca));
  try {
    const welcome = await s.line();
    assert.match(welcome ?? '', /^WELCOME /);
    assert.equal(await s.ask('PING'), 'PONG');
    assert.equal(await s.ask('IS_TLS'), 'false', 'the backend gets the decrypted bytes');
    const test = JSON.parse((await s.ask('TEST')) ?? '{}') as { pod?: string };
    assert.equal(test.pod, welcome!.slice('WELCOME '.length));
    return { backend: test.pod!, alpn: s.alpn, fingerprint: s.fingerprint };
  } finally {
    s.socket.end();
  }
}

const listeners = gatewayListeners;
const condition = listenerCondition;
const parents = (s: Snapshot, name: string): string[] => parentConditions(s, 'TLSRoute', name).flat();
const TLS_ROUTE_KIND = [{ group: 'gateway.networking.k8s.io', kind: 'TLSRoute' }];

/**
 * A suite fixture with the class filled in, each Gateway's listeners on `ports[i]` (the i-th Gateway), and the Secret
 * its Terminate listeners name given as certificate files (Shadowgate's `tls.options`; files have no Secrets).
 */
function suiteYaml(name: string, ports: readonly number[], certs: Certs, cert: string): string {
  let i = 0;
  return fixture(name)
    .replaceAll('"{GATEWAY_CLASS_NAME}"', 'shadowgate')
    .split(/^---$/m)
    .map((doc) => (/^kind: Gateway$/m.test(doc) ? doc.replace(/port: \d+\n/g, `port: ${ports[i++]}\n`) : doc))
    .join('---')
    .replace(
      /^( +)certificateRefs:\n/gm,
      (all, indent: string) =>
        `${indent}options:\n${indent}  shadowgate.dev/certificate-file: ${certs.path(`${cert}.crt`)}\n${indent}  shadowgate.dev/private-key-file: ${certs.path(`${cert}.key`)}\n${all}`,
    );
}

describe('Gateway API conformance: TLSRoute Terminate and mixed modes over real TLS', { skip: opensslMissing() }, () => {
  let certs: Certs;
  let ca: Buffer;
  let plain: TcpBackend;
  let tls: HttpsUpstream;
  /** The suite's tcp-backend Service: port 3000 plain TCP, port 8443 TLS (its certificate for abc.example.com). */
  let backends: string;

  before(async () => {
    certs = makeCa();
    // The suite's tls-terminate-checks-certificate is issued for tls.example.com by its CA.
    certs.issue('tls-terminate', 'tls.example.com', ['DNS:tls.example.com']);
    certs.issue('tcp-backend', 'abc.example.com', ['DNS:abc.example.com']);
    ca = readFileSync(certs.path('ca.crt'));
    plain = await tcpBackend('tcp-backend');
    tls = await httpsUpstream(certs, 'tcp-backend', false);
    backends = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: tcp-backend
  namespace: ${NS}
  annotations: {shadowgate.dev/listen: "false"}
spec:
  hosts: [tcp-backend.${NS}.svc.cluster.local]
  ports: [{number: 3000, name: echo-tcp-plain, protocol: TCP}, {number: 8443, name: echo-tcp-tls, protocol: TLS}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {echo-tcp-plain: ${plain.port}, echo-tcp-tls: ${tls.port}}}]
`;
  });

  after(async () => {
    await plain?.close();
    await tls?.close();
    certs?.remove();
  });

  const metric = (tg: TestGateway, port: number, result: string) => passthroughConnections(tg.gw.metrics.registry, port, result);

  it('TLSRouteTerminateSimpleSameNamespace: the listener certificate answers, no ALPN, tcp-backend gets the plaintext', async () => {
    const port = await freePort();
    const tg = await startGateway({
      'backends.yaml': backends,
      'suite.yaml': suiteYaml('tlsroute-terminate-simple-same-namespace', [port], certs, 'tls-terminate'),
    });
    try {
      assert.deepEqual(
        tg.gw.snapshot.problems.filter((p) => p.severity !== 'info'),
        [],
      );
      assert.deepEqual(parents(tg.gw.snapshot, 'tlsroute-terminated-test'), ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']);
      const l = listeners(tg.gw.snapshot, 'gateway-tlsroute-terminate')[0]!;
      assert.deepEqual(
        [l.attachedRoutes, l.supportedKinds, condition(l, 'Accepted'), condition(l, 'ResolvedRefs'), condition(l, 'Programmed')],
        [1, TLS_ROUTE_KIND, 'True/Accepted', 'True/ResolvedRefs', 'True/Programmed'],
      );
      const got = await exchange(port, 'tls.example.com', ca);
      assert.deepEqual(got, { backend: 'tcp-backend', alpn: false, fingerprint: fingerprintOf(certs, 'tls-terminate') });
      // A name the listener does not take: refused before any handshake, no backend dialled.
      const before = plain.connections;
      const other = await tlsSession(port, 'other.example.com', ca);
      assert.ok('error' in other, 'refused');
      assert.equal(plain.connections, before);
      assert.deepEqual([await metric(tg, port, 'tunneled'), await metric(tg, port, 'no_route')], [1, 1]);
    } finally {
      await tg.close();
    }
  });

  it('TLSRouteMixedTerminationSameNamespace: one port, a Terminate and a Passthrough listener, each SNI to its route', async () => {
    const port = await freePort();
    const tg = await startGateway({
      'backends.yaml': backends,
      'suite.yaml': suiteYaml('tlsroute-mixed-termination-same-namespace', [port], certs, 'tls-terminate'),
    });
    try {
      assert.deepEqual(
        tg.gw.snapshot.problems.filter((p) => p.severity !== 'info'),
        [],
      );
      for (const route of ['gateway-conformance-mixed-terminateroute', 'gateway-conformance-mixed-passthroughroute']) {
        assert.deepEqual(parents(tg.gw.snapshot, route), ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs'], route);
      }
      assert.deepEqual(
        listeners(tg.gw.snapshot, 'gateway-tlsroute-mixed-termination').map((l) => [l.name, l.attachedRoutes, l.supportedKinds, condition(l, 'Accepted')]),
        [
          ['tls-terminate', 1, TLS_ROUTE_KIND, 'True/Accepted'],
          ['tls-passthrough', 1, TLS_ROUTE_KIND, 'True/Accepted'],
        ],
      );
      // Terminated: the gateway's certificate, tcp-backend's plain port.
      assert.deepEqual(await exchange(port, 'tls.example.com', ca), {
        backend: 'tcp-backend',
        alpn: false,
        fingerprint: fingerprintOf(certs, 'tls-terminate'),
      });
      // Passed through: tcp-backend's TLS port answers with its own certificate, the SNI untouched.
      const a = await tlsGet(port, 'abc.example.com', ca);
      assert.equal(a.body, 'tcp-backend over TLS', a.error);
      assert.equal(a.fingerprint, fingerprintOf(certs, 'tcp-backend'));
      assert.equal(tls.seen.at(-1)?.sni, 'abc.example.com');
      assert.deepEqual([await metric(tg, port, 'tunneled'), await metric(tg, port, 'forwarded')], [1, 1]);
    } finally {
      await tg.close();
    }
  });

  it('TLSRouteListenerTerminateSupportedKinds: the Terminate listener is accepted and lists TLSRoute', () => {
    const s = loadSnapshot([{ path: 'suite.yaml', text: suiteYaml('tlsroute-listener-terminate-supported-kinds', [18443], certs, 'tls-terminate') }]);
    const l = listeners(s, 'gateway-tlsroute-terminate-supported')[0]!;
    assert.deepEqual([l.name, l.supportedKinds, condition(l, 'Accepted'), l.attachedRoutes], ['tls-terminate', TLS_ROUTE_KIND, 'True/Accepted', 0]);
  });
});

describe('TLSRoute Terminate beyond the suite', { skip: opensslMissing() }, () => {
  let certs: Certs;
  let ca: Buffer;
  let a: TcpBackend;
  let b: TcpBackend;
  let web: TestUpstream;
  let tg: TestGateway;
  let port: number;
  /** What the gateway's random draws return next (a weighted backend is picked with it). */
  let draw = 0;

  const entry = (name: string, p: number) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: apps, annotations: {shadowgate.dev/listen: "false"}}
spec:
  hosts: [${name}.apps.svc.cluster.local]
  ports: [{number: ${name === 'web' ? 8080 : 3000}, name: ${name === 'web' ? 'http' : 'tcp'}, protocol: ${name === 'web' ? 'HTTP' : 'TCP'}}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {${name === 'web' ? 'http' : 'tcp'}: ${p}}}]
`;

  before(async () => {
    certs = makeCa();
    certs.issue('gateway', 'example.com', ['DNS:*.example.com', 'DNS:web.example.com']);
    ca = readFileSync(certs.path('ca.crt'));
    a = await tcpBackend('a');
    b = await tcpBackend('b');
    web = await startUpstream('web', { kind: 'answer', body: 'web, over HTTPS' });
    port = await freePort();
    const files = `shadowgate.dev/certificate-file: ${certs.path('gateway.crt')}, shadowgate.dev/private-key-file: ${certs.path('gateway.key')}`;
    tg = await startGateway(
      {
        'backends.yaml': [entry('a', a.port), entry('b', b.port), entry('web', web.port)].join('---\n'),
        'gateway.yaml': `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: apps}
spec:
  gatewayClassName: shadowgate
  listeners:
  - {name: web, port: ${port}, protocol: HTTPS, hostname: web.example.com, tls: {mode: Terminate, options: {${files}}}}
  - {name: tcp, port: ${port}, protocol: TLS, hostname: "*.example.com", tls: {mode: Terminate, options: {${files}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: apps}
spec:
  parentRefs: [{name: edge, sectionName: web}]
  rules: [{backendRefs: [{name: web, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: split, namespace: apps}
spec:
  parentRefs: [{name: edge, sectionName: tcp}]
  hostnames: [split.example.com]
  rules: [{backendRefs: [{name: a, port: 3000, weight: 1}, {name: b, port: 3000, weight: 3}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: broken, namespace: apps}
spec:
  parentRefs: [{name: edge, sectionName: tcp}]
  hostnames: [broken.example.com]
  rules: [{backendRefs: [{name: missing, port: 3000}]}]
`,
      },
      { random: () => draw },
    );
  });

  after(async () => {
    await tg?.close();
    await a?.close();
    await b?.close();
    await web?.close();
    certs?.remove();
  });

  const metric = (result: string) => passthroughConnections(tg.gw.metrics.registry, port, result);

  it('weights: a draw under 1/4 picks the weight-1 backend, above it the weight-3 one', async () => {
    draw = 0.1;
    assert.equal((await exchange(port, 'split.example.com', ca)).backend, 'a');
    draw = 0.5;
    assert.equal((await exchange(port, 'split.example.com', ca)).backend, 'b');
    draw = 0.9;
    assert.equal((await exchange(port, 'split.example.com', ca)).backend, 'b');
  });

  it('an HTTPS listener on the same port still serves HTTP, with ALPN h2 offered; its hostname is its own', async () => {
    const before = await metric('terminated');
    const got = await tlsGet(port, 'web.example.com', ca);
    assert.equal(got.body, 'web, over HTTPS', got.error);
    assert.equal(await metric('terminated'), before + 1);
    const s = session(await tlsSession(port, 'web.example.com', ca));
    assert.equal(s.alpn, 'h2');
    s.socket.destroy();
    // A request on the HTTPS listener's connection for a name of the TLS listener is misdirected (421).
    const misdirected = await new Promise<number>((resolve, reject) => {
      const c = tlsConnect({ host: '127.0.0.1', port, servername: 'web.example.com', ca }, () => {
        c.write('GET / HTTP/1.1\r\nhost: split.example.com\r\nconnection: close\r\n\r\n');
      });
      let text = '';
      c.on('data', (d: Buffer) => {
        text += d.toString('latin1');
      });
      c.on('end', () => resolve(Number(text.split(' ')[1])));
      c.on('error', reject);
    });
    assert.equal(misdirected, 421);
  });

  it('a name of the TLS listener no route takes is refused; an invalid backend is dialled never', async () => {
    const before = a.connections + b.connections;
    assert.ok('error' in (await tlsSession(port, 'nobody.example.com', ca)));
    assert.equal(await metric('no_route'), 1);
    // The broken route's backend does not resolve: the connection is closed after its handshake, nothing dialled.
    const s = session(await tlsSession(port, 'broken.example.com', ca));
    assert.equal(await s.line(), undefined);
    assert.equal(await metric('no_endpoint'), 1);
    assert.equal(a.connections + b.connections, before);
    assert.deepEqual(parents(tg.gw.snapshot, 'broken'), ['Accepted=True/Accepted', 'ResolvedRefs=False/BackendNotFound']);
  });
});

describe('TLSRoute Terminate: status in files', () => {
  const gateway = (listeners: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: apps}
spec:
  gatewayClassName: shadowgate
  listeners:
${listeners}`;

  it('certificateRefs are checked as an HTTPS listener’s; an HTTP listener on the port conflicts; Terminate and Passthrough share one', () => {
    const s = loadSnapshot([
      {
        path: 'g.yaml',
        text: gateway(`  - {name: ok, port: 18443, protocol: TLS, hostname: a.example.com, tls: {mode: Terminate, certificateRefs: [{name: cert}]}}
  - {name: pass, port: 18443, protocol: TLS, hostname: b.example.com, tls: {mode: Passthrough}}
  - {name: other-ns, port: 18444, protocol: TLS, tls: {mode: Terminate, certificateRefs: [{name: cert, namespace: certs}]}}
  - {name: cm, port: 18445, protocol: TLS, tls: {mode: Terminate, certificateRefs: [{kind: ConfigMap, name: cert}]}}
  - {name: web, port: 18446, protocol: HTTP}
  - {name: clash, port: 18446, protocol: TLS, hostname: c.example.com, tls: {mode: Terminate, certificateRefs: [{name: cert}]}}
`),
      },
    ]);
    const l = (name: string) => listeners(s, 'edge').find((x) => x.name === name)!;
    assert.deepEqual(
      [condition(l('ok'), 'Accepted'), condition(l('ok'), 'ResolvedRefs'), condition(l('ok'), 'Programmed')],
      ['True/Accepted', 'True/ResolvedRefs', 'True/Programmed'],
    );
    assert.equal(condition(l('pass'), 'Conflicted'), 'False/NoConflicts');
    assert.equal(condition(l('other-ns'), 'ResolvedRefs'), 'False/RefNotPermitted');
    assert.equal(condition(l('other-ns'), 'Programmed'), 'False/Invalid');
    assert.equal(condition(l('cm'), 'ResolvedRefs'), 'False/InvalidCertificateRef');
    assert.equal(condition(l('clash'), 'Conflicted'), 'True/ProtocolConflict');
    const tls = s.listeners.find((x) => x.port === 18443)!;
    assert.deepEqual(
      tls.tls!.map((t) => [t.hosts, t.credentialName, t.tunnel]),
      [[['a.example.com'], 'apps/cert', true]],
    );
    assert.deepEqual([tls.tunnel!.map((r) => r.sniHosts), tls.passthrough!.map((r) => r.sniHosts)], [[['a.example.com']], [['b.example.com']]]);
    assert.deepEqual(
      s.listeners.map((x) => x.port).filter((p) => p > 18000),
      [18443, 18446],
    );
  });
});
