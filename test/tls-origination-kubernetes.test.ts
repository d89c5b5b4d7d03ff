// Issue 17: DestinationRule `trafficPolicy.tls.credentialName` in --kubernetes: the client certificate (and CA) of
// origination read from a watched Secret as Istio reads it, on the API server double, to real mutual-TLS upstreams.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Gateway } from '../src/gateway/index.js';
import { MemoryAccessLog } from '../src/telemetry/index.js';
import { type Certs, makeCa, opensslMissing } from './harness/certs.js';
import { client, freePort, send, startGateway } from './harness/gateway.js';
import { type HttpsUpstream, httpsUpstream } from './harness/https-upstream.js';
import { FakeKubeApiServer, type KObject } from './harness/kube-apiserver.js';

const NS = 'shop';
const skip = opensslMissing();
const pem = (c: Certs, f: string) => readFileSync(c.path(f)).toString('base64');

after(() => client.close());

describe('DestinationRule credentialName from Kubernetes Secrets (origination)', { skip }, () => {
  let certs: Certs;
  let v1: HttpsUpstream;
  let v2: HttpsUpstream;
  let api: FakeKubeApiServer;
  let gw: Gateway;
  let port: number;
  const access = new MemoryAccessLog();
  const logs: string[] = [];
  const host = { host: 'api.example.com' };

  before(async () => {
    certs = makeCa();
    certs.issue('api', 'api', ['DNS:api.example.com']);
    certs.issue('one', 'client-one', []);
    certs.issue('two', 'client-two', []);
    certs.issue('rotated', 'client-rotated', []);
    // Both upstreams refuse a handshake without a client certificate signed by the CA.
    v1 = await httpsUpstream(certs, 'api', true);
    v2 = await httpsUpstream(certs, 'api', true);
    port = await freePort();
    api = await FakeKubeApiServer.start();
    const objects: KObject[] = [
      // Istio's generic form: cert/key/cacert in one Secret.
      {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: { name: 'api-client', namespace: NS },
        data: { cert: pem(certs, 'one.crt'), key: pem(certs, 'one.key'), cacert: pem(certs, 'ca.crt') },
      },
      // The kubernetes.io/tls form, its CA in the separate `<name>-cacert` Secret.
      {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: { name: 'api-client-two', namespace: NS },
        data: { 'tls.crt': pem(certs, 'two.crt'), 'tls.key': pem(certs, 'two.key') },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: { name: 'api-client-two-cacert', namespace: NS },
        data: { 'ca.crt': pem(certs, 'ca.crt') },
      },
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'ServiceEntry',
        metadata: { name: 'api', namespace: NS },
        spec: {
          hosts: ['api.example.com'],
          ports: [{ number: port, name: 'http', protocol: 'HTTP' }],
          resolution: 'STATIC',
          endpoints: [
            { address: '127.0.0.1', ports: { http: v1.port }, labels: { version: 'v1' } },
            { address: '127.0.0.1', ports: { http: v2.port }, labels: { version: 'v2' } },
          ],
        },
      },
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'api', namespace: NS },
        spec: {
          host: 'api.example.com',
          trafficPolicy: { tls: { mode: 'MUTUAL', credentialName: 'api-client' } },
          subsets: [
            { name: 'v1', labels: { version: 'v1' } },
            // A subset's portLevelSettings override the top level for that port (Istio's merge order).
            {
              name: 'v2',
              labels: { version: 'v2' },
              trafficPolicy: { portLevelSettings: [{ port: { number: port }, tls: { mode: 'MUTUAL', credentialName: 'api-client-two' } }] },
            },
            { name: 'gone', labels: { version: 'v1' }, trafficPolicy: { tls: { mode: 'MUTUAL', credentialName: 'no-such-secret' } } },
          ],
        },
      },
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'api', namespace: NS },
        spec: {
          hosts: ['api.example.com'],
          http: [
            { name: 'to-v2', match: [{ headers: { 'x-version': { exact: 'v2' } } }], route: [{ destination: { host: 'api.example.com', subset: 'v2' } }] },
            { name: 'gone', match: [{ uri: { prefix: '/gone' } }], route: [{ destination: { host: 'api.example.com', subset: 'gone' } }] },
            { name: 'main', route: [{ destination: { host: 'api.example.com', subset: 'v1' } }], mirror: { host: 'api.example.com', subset: 'v2' } },
          ],
        },
      },
    ];
    for (const o of objects) api.apply(o);
    gw = await Gateway.start({
      files: [],
      bind: '127.0.0.1',
      admin: '127.0.0.1:0',
      accessLog: access,
      watch: false,
      log: (l) => logs.push(l),
      kubernetes: { namespace: NS, kubeconfig: api.kubeConfig() },
    });
    // The Secret watch starts once a DestinationRule names one: not ready until they are listed and read.
    while (!gw.isReady()) await once(gw.tls, 'refreshed');
  });

  after(async () => {
    await gw?.shutdown();
    await api?.close();
    await v1?.close();
    await v2?.close();
    certs?.remove();
  });

  it("MUTUAL with the generic Secret's client certificate to the primary, the kubernetes.io/tls one (CA from -cacert) to the shadow", async () => {
    const r = await send(port, '/orders?id=7', { headers: host });
    assert.equal(r.status, 200, logs.join('\n'));
    assert.equal(r.body, 'api over TLS');
    assert.equal(v1.seen.length, 1);
    assert.equal(v1.seen[0]!.clientCn, 'client-one');
    assert.equal(v1.seen[0]!.sni, 'api.example.com');
    await v2.waitFor(1);
    assert.equal(v2.seen[0]!.url, '/orders?id=7');
    assert.equal(v2.seen[0]!.clientCn, 'client-two', 'the shadow presented the Secret of its subset and port');
    assert.equal(v2.seen[0]!.headers['x-shadowgate-mirror'], 'true');
  });

  it('a change to another Secret keeps the pools (and their connections) as they are', async () => {
    const refreshed = once(gw.tls, 'refreshed');
    api.apply({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'unrelated', namespace: NS }, data: { token: 'eA==' } });
    await refreshed;
    const [seen, conns] = [v1.seen.length, v1.connections];
    assert.equal((await send(port, '/same-pool', { headers: host })).status, 200);
    assert.equal(v1.seen.length, seen + 1);
    assert.equal(v1.connections, conns, 'the kept connection served it');
  });

  it('a changed Secret is used by new connections', async () => {
    const refreshed = once(gw.tls, 'refreshed');
    api.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name: 'api-client', namespace: NS },
      data: { cert: pem(certs, 'rotated.crt'), key: pem(certs, 'rotated.key'), cacert: pem(certs, 'ca.crt') },
    });
    await refreshed;
    const before = v1.seen.length;
    const r = await send(port, '/after-rotation', { headers: host });
    assert.equal(r.status, 200);
    assert.equal(v1.seen.length, before + 1);
    assert.equal(v1.seen.at(-1)!.clientCn, 'client-rotated');
  });

  it('a Secret that does not exist: one line naming it, that cluster answers 503 UH (never plain HTTP), the others serve', async () => {
    const [b1, b2, e1] = [v1.seen.length, v2.seen.length, v1.handshakeErrors];
    const r = await send(port, '/gone', { headers: host });
    assert.equal(r.status, 503);
    assert.equal(access.entries.find((e) => e.route_name === 'gone')?.response_flags, 'UH');
    const lines = logs.filter((l) => l.includes('Secret shop/no-such-secret not found'));
    assert.equal(lines.length, 1, logs.join('\n'));
    assert.match(lines[0]!, /cluster outbound\|\d+\|gone\|api\.example\.com: tls\.credentialName: Secret shop\/no-such-secret not found/);
    assert.equal(v1.seen.length, b1, 'nothing reached the upstream');
    assert.equal(v1.handshakeErrors, e1, 'no connection was even tried');
    assert.equal((await send(port, '/still', { headers: host })).status, 200);
    await v2.waitFor(b2 + 1);
  });

  it('a Secret deleted: the cluster reading it stops (503 UH) with one line; created again, it serves again', async () => {
    const gone = once(gw.tls, 'refreshed');
    api.delete('Secret', NS, 'api-client-two');
    await gone;
    const r = await send(port, '/v2', { headers: { ...host, 'x-version': 'v2' } });
    assert.equal(r.status, 503);
    assert.equal(access.entries.find((e) => e.path === '/v2')?.response_flags, 'UH');
    assert.ok(
      logs.some((l) => /cluster outbound\|\d+\|v2\|api\.example\.com: tls\.credentialName: Secret shop\/api-client-two not found/.test(l)),
      logs.join('\n'),
    );
    const back = once(gw.tls, 'refreshed');
    api.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: 'api-client-two', namespace: NS },
      data: { 'tls.crt': pem(certs, 'two.crt'), 'tls.key': pem(certs, 'two.key') },
    });
    await back;
    const before = v2.seen.length;
    const ok = await send(port, '/v2-again', { headers: { ...host, 'x-version': 'v2' } });
    assert.equal(ok.status, 200, logs.join('\n'));
    await v2.waitFor(before + 1);
    assert.equal(v2.seen.at(-1)!.clientCn, 'client-two');
  });
});

describe('DestinationRule credentialName without a cluster (files)', { skip }, () => {
  it('is said in one line, and that cluster answers 503 UH instead of plain HTTP', async () => {
    const certs = makeCa();
    certs.issue('api', 'api', ['DNS:api.example.com']);
    const up = await httpsUpstream(certs, 'api', false);
    const port = await freePort();
    const logs: string[] = [];
    const yaml = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.com]
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${up.port}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api.example.com
  trafficPolicy:
    tls: {mode: SIMPLE, credentialName: api-ca}
`;
    const tg = await startGateway({ 'api.yaml': yaml }, { log: (line: string) => logs.push(line) });
    try {
      const r = await send(port, '/', { headers: { host: 'api.example.com' } });
      assert.equal(r.status, 503);
      assert.equal(tg.access.entries.at(-1)?.response_flags, 'UH');
      assert.equal(up.seen.length, 0);
      assert.equal(up.handshakeErrors, 0, 'not even a plain-text connection was tried');
      const lines = logs.filter((l) => l.includes('credentialName'));
      assert.equal(lines.length, 1, logs.join('\n'));
      assert.match(lines[0]!, /tls\.credentialName default\/api-ca: Secrets are read only with serve --kubernetes/);
    } finally {
      await tg.close();
      await up.close();
      certs.remove();
    }
  });

  it("credentialName with certificate files is refused as Istio refuses it; a bare name is the DestinationRule's namespace", async () => {
    const { loadSnapshot } = await import('../src/config/index.js');
    const yaml = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: shop}
spec:
  host: api.example.com
  trafficPolicy:
    tls: {mode: MUTUAL, credentialName: c, clientCertificate: /c.pem, privateKey: /k.pem}
  subsets:
  - name: v1
    trafficPolicy:
      tls: {mode: MUTUAL, credentialName: other/c}
`;
    const s = loadSnapshot([{ path: 'dr.yaml', text: yaml }]);
    const p = s.problems.find((x) => x.code === 'conflicting-fields');
    assert.ok(p, JSON.stringify(s.problems));
    assert.equal(p.severity, 'error');
    assert.equal(p.path, 'spec.trafficPolicy.tls.credentialName');
    const ok = loadSnapshot([{ path: 'dr.yaml', text: yaml.replace(', clientCertificate: /c.pem, privateKey: /k.pem', '') }]);
    assert.deepEqual(
      ok.problems.filter((x) => x.severity !== 'info'),
      [],
    );
    assert.equal(ok.clusters['outbound|443||api.example.com']?.policy.tls?.credentialName, 'shop/c');
    assert.equal(ok.clusters['outbound|443|v1|api.example.com']?.policy.tls?.credentialName, 'other/c');
  });
});
