// Issue 17: a Gateway server's `credentialName` read from a watched Secret, as Istio reads it, on the API server double.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { Gateway } from '../src/gateway/index.js';
import { MemoryAccessLog } from '../src/telemetry/index.js';
import { type Certs, makeCa, opensslMissing } from './harness/certs.js';
import { freePort } from './harness/gateway.js';
import { FakeKubeApiServer, type KObject } from './harness/kube-apiserver.js';
import { startUpstream, type TestUpstream } from './harness/upstream.js';

const NS = 'edge';

function handshake(
  port: number,
  servername: string,
  ca: Buffer,
  client?: { cert: Buffer; key: Buffer },
): Promise<{ fingerprint?: string; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca, ...(client ?? {}), ALPNProtocols: ['http/1.1'] }, () => {
      const fingerprint = s.getPeerCertificate().fingerprint256;
      s.write(`GET /k HTTP/1.1\r\nhost: ${servername}\r\nconnection: close\r\n\r\n`);
      let text = '';
      s.on('data', (d) => {
        text += d;
      });
      // The status and the body's text (chunked or not): `200 shop`.
      s.on('end', () =>
        resolve({ fingerprint, body: `${text.slice(9, 12)} ${text.slice(text.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n|\r\n0\r\n\r\n$/g, '')}` }),
      );
    });
    s.on('error', (e) => resolve({ error: e.message }));
  });
}

const pem = (c: Certs, f: string) => readFileSync(c.path(f)).toString('base64');

describe('credentialName from Kubernetes Secrets', { skip: opensslMissing() }, () => {
  let certs: Certs;
  let api: FakeKubeApiServer;
  let up: TestUpstream;
  let gw: Gateway;
  let port: number;
  let mport: number;
  const logs: string[] = [];

  before(async () => {
    certs = makeCa();
    certs.issue('s1', 'shop.example.com', ['DNS:shop.example.com']);
    certs.issue('s2', 'shop.example.com', ['DNS:shop.example.com']);
    certs.issue('mt', 'mtls.example.com', ['DNS:mtls.example.com']);
    certs.issue('client', 'client', []);
    up = await startUpstream('shop', { kind: 'answer', body: 'shop' });
    [port, mport] = [await freePort(), await freePort()];
    api = await FakeKubeApiServer.start({ extraKinds: [{ group: 'networking.istio.io', kind: 'Gateway', plural: 'gateways' }] });
    const objects: KObject[] = [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: { name: 'shop-cert', namespace: NS },
        data: { 'tls.crt': pem(certs, 's1.crt'), 'tls.key': pem(certs, 's1.key') },
      },
      // Istio's generic form, and its separate `<name>-cacert` Secret for MUTUAL.
      {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: { name: 'mt', namespace: NS },
        data: { cert: pem(certs, 'mt.crt'), key: pem(certs, 'mt.key') },
      },
      { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'mt-cacert', namespace: NS }, data: { cacert: pem(certs, 'ca.crt') } },
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'ServiceEntry',
        metadata: { name: 'shop', namespace: NS, annotations: { 'shadowgate.dev/listen': 'false' } },
        spec: {
          hosts: ['shop.internal'],
          ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
          resolution: 'STATIC',
          endpoints: [{ address: '127.0.0.1', ports: { http: up.port } }],
        },
      },
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'Gateway',
        metadata: { name: 'edge', namespace: NS },
        spec: {
          servers: [
            { port: { number: port, name: 'https', protocol: 'HTTPS' }, hosts: ['shop.example.com'], tls: { mode: 'SIMPLE', credentialName: 'shop-cert' } },
            { port: { number: mport, name: 'mtls', protocol: 'HTTPS' }, hosts: ['mtls.example.com'], tls: { mode: 'MUTUAL', credentialName: 'mt' } },
          ],
        },
      },
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'shop', namespace: NS },
        spec: { hosts: ['*'], gateways: ['edge'], http: [{ route: [{ destination: { host: 'shop.internal' } }] }] },
      },
    ];
    for (const o of objects) api.apply(o);
    gw = await Gateway.start({
      files: [],
      bind: '127.0.0.1',
      admin: '127.0.0.1:0',
      accessLog: new MemoryAccessLog(),
      watch: false,
      log: (l) => logs.push(l),
      kubernetes: { namespace: NS, kubeconfig: api.kubeConfig() },
    });
    // Secrets are watched once a server names one: not ready until they are listed and the certificates loaded.
    while (!gw.isReady()) await once(gw.tls, 'refreshed');
    assert.equal(gw.tls.certificates().filter((c) => c.fingerprint).length, 2);
  });

  after(async () => {
    await gw?.shutdown();
    await api?.close();
    await up?.close();
    certs?.remove();
  });

  it('serves the certificate of a kubernetes.io/tls Secret, and the rotated one once the Secret changes', async () => {
    const ca = readFileSync(certs.path('ca.crt'));
    const first = await handshake(port, 'shop.example.com', ca);
    assert.equal(first.body, '200 shop', first.error ?? logs.join('\n'));
    const want = new X509Certificate(readFileSync(certs.path('s2.crt'))).fingerprint256;
    const rotated = (async () => {
      while (!gw.tls.certificates().some((c) => c.fingerprint === want)) await once(gw.tls, 'refreshed');
    })();
    api.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: 'shop-cert', namespace: NS },
      data: { 'tls.crt': pem(certs, 's2.crt'), 'tls.key': pem(certs, 's2.key') },
    });
    await rotated;
    const second = await handshake(port, 'shop.example.com', ca);
    assert.equal(second.fingerprint, want);
    assert.equal(second.body, '200 shop');
  });

  it('MUTUAL with a generic Secret and its -cacert Secret: a client certificate is required', async () => {
    const ca = readFileSync(certs.path('ca.crt'));
    const without = await handshake(mport, 'mtls.example.com', ca);
    assert.notEqual(without.body, '200 shop');
    const withCert = await handshake(mport, 'mtls.example.com', ca, {
      cert: readFileSync(certs.path('client.crt')),
      key: readFileSync(certs.path('client.key')),
    });
    assert.equal(withCert.body, '200 shop', withCert.error);
  });

  it('names a Secret that is missing in one line; the other servers keep serving', async () => {
    api.delete('Secret', NS, 'mt');
    const said = () => logs.some((l) => l.includes('[credential-not-found]') && l.includes('Secret edge/mt not found'));
    while (!said()) await once(gw.tls, 'refreshed');
    const line = logs.find((l) => l.includes('Secret edge/mt not found'))!;
    assert.match(
      line,
      /Gateway edge\/edge spec\.servers\[1\]\.tls\.credentialName: Secret edge\/mt not found \[credential-not-found\] \(the previous certificate keeps serving\)/,
    );
    const ok = await handshake(port, 'shop.example.com', readFileSync(certs.path('ca.crt')));
    assert.equal(ok.body, '200 shop');
  });
});

describe('Gateway API HTTPS listener with a Secret certificateRef, in a cluster', { skip: opensslMissing() }, () => {
  it('serves the Secret the listener names; status says the refs resolved', async () => {
    const certs = makeCa();
    certs.issue('web', 'web.example.com', ['DNS:web.example.com']);
    const up = await startUpstream('web', { kind: 'answer', body: 'web' });
    const port = await freePort();
    const api = await FakeKubeApiServer.start({
      extraKinds: [
        { group: 'gateway.networking.k8s.io', versions: ['v1'], kind: 'Gateway', plural: 'gateways' },
        { group: 'gateway.networking.k8s.io', versions: ['v1'], kind: 'HTTPRoute', plural: 'httproutes' },
      ],
    });
    const objects: KObject[] = [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: { name: 'web-cert', namespace: NS },
        data: { 'tls.crt': pem(certs, 'web.crt'), 'tls.key': pem(certs, 'web.key') },
      },
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'ServiceEntry',
        metadata: { name: 'web', namespace: NS, annotations: { 'shadowgate.dev/listen': 'false' } },
        spec: {
          hosts: [`web.${NS}.svc.cluster.local`],
          ports: [{ number: 8080, name: 'http', protocol: 'HTTP' }],
          resolution: 'STATIC',
          endpoints: [{ address: '127.0.0.1', ports: { http: up.port } }],
        },
      },
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        metadata: { name: 'edge', namespace: NS },
        spec: {
          gatewayClassName: 'shadowgate',
          listeners: [
            { name: 'https', port, protocol: 'HTTPS', hostname: 'web.example.com', tls: { mode: 'Terminate', certificateRefs: [{ name: 'web-cert' }] } },
          ],
        },
      },
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: 'web', namespace: NS },
        spec: { parentRefs: [{ name: 'edge' }], rules: [{ backendRefs: [{ name: 'web', port: 8080 }] }] },
      },
    ];
    for (const o of objects) api.apply(o);
    const gw = await Gateway.start({
      files: [],
      bind: '127.0.0.1',
      admin: '127.0.0.1:0',
      accessLog: new MemoryAccessLog(),
      watch: false,
      log: () => {},
      kubernetes: { namespace: NS, kubeconfig: api.kubeConfig() },
    });
    try {
      while (!gw.isReady()) await once(gw.tls, 'refreshed');
      const r = await handshake(port, 'web.example.com', readFileSync(certs.path('ca.crt')));
      assert.equal(r.body, '200 web', r.error);
      const status = gw.snapshot.resources.find((x) => x.kind === 'Gateway')?.status as {
        listeners: Array<{ conditions: Array<{ type: string; reason: string }> }>;
      };
      assert.equal(status.listeners[0]!.conditions.find((c) => c.type === 'ResolvedRefs')?.reason, 'ResolvedRefs');
    } finally {
      await gw.shutdown();
      await api.close();
      await up.close();
      certs.remove();
    }
  });
});
