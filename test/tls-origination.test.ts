// Issue 17, TLS origination: DestinationRule trafficPolicy.tls SIMPLE/MUTUAL to real https upstreams, primary and shadow.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Certs, makeCa, opensslMissing } from './harness/certs.js';
import { client, freePort, send, startGateway, type TestGateway } from './harness/gateway.js';
import { type HttpsUpstream, httpsUpstream } from './harness/https-upstream.js';

const skip = opensslMissing();

describe('TLS origination (DestinationRule trafficPolicy.tls)', { skip }, () => {
  let certs: Certs;
  let v1: HttpsUpstream;
  let v2: HttpsUpstream;
  let port: number;
  let tg: TestGateway;
  const logs: string[] = [];

  before(async () => {
    certs = makeCa();
    certs.issue('api', 'api', ['DNS:api.example.com']);
    certs.issue('client', 'shadowgate-client', []);
    v1 = await httpsUpstream(certs, 'api', false);
    v2 = await httpsUpstream(certs, 'api', true);
    port = await freePort();
    const ca = certs.path('ca.crt');
    const yaml = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.com]
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${v1.port}}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: ${v2.port}}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api.example.com
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: ${ca}}
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      tls: {mode: MUTUAL, caCertificates: ${ca}, clientCertificate: ${certs.path('client.crt')}, privateKey: ${certs.path('client.key')}}
  - name: wrongsan
    labels: {version: v1}
    trafficPolicy:
      tls: {mode: SIMPLE, caCertificates: ${ca}, subjectAltNames: [billing.example.com]}
  - name: nocert
    labels: {version: v2}
    trafficPolicy:
      tls: {mode: SIMPLE, caCertificates: ${ca}}
  - name: insecure
    labels: {version: v1}
    trafficPolicy:
      tls: {mode: SIMPLE, insecureSkipVerify: true, sni: other.example.org}
  - name: badkey
    labels: {version: v2}
    trafficPolicy:
      tls: {mode: MUTUAL, caCertificates: ${ca}, clientCertificate: ${certs.path('client.crt')}, privateKey: ${certs.path('api.key')}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  hosts: [api.example.com]
  http:
  - {name: wrongsan, match: [{uri: {prefix: /wrongsan}}], route: [{destination: {host: api.example.com, subset: wrongsan}}]}
  - {name: nocert, match: [{uri: {prefix: /nocert}}], route: [{destination: {host: api.example.com, subset: nocert}}]}
  - {name: insecure, match: [{uri: {prefix: /insecure}}], route: [{destination: {host: api.example.com, subset: insecure}}]}
  - {name: badkey, match: [{uri: {prefix: /badkey}}], route: [{destination: {host: api.example.com, subset: badkey}}]}
  - name: main
    route: [{destination: {host: api.example.com, subset: v1}}]
    mirror: {host: api.example.com, subset: v2}
`;
    tg = await startGateway({ 'api.yaml': yaml }, { log: (line: string) => logs.push(line) });
  });
  after(async () => {
    await tg?.close();
    await v1?.close();
    await v2?.close();
    certs?.remove();
    await client.close();
  });

  const host = { host: 'api.example.com' };

  it('SIMPLE to the primary (SNI = the service host, chain and name verified), MUTUAL to the shadow subset', async () => {
    const r = await send(port, '/orders?id=7', { headers: host });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'api over TLS');
    assert.equal(v1.seen.length, 1);
    assert.equal(v1.seen[0]!.url, '/orders?id=7');
    assert.equal(v1.seen[0]!.sni, 'api.example.com');
    await v2.waitFor(1);
    assert.equal(v2.seen[0]!.url, '/orders?id=7');
    assert.equal(v2.seen[0]!.clientCn, 'shadowgate-client', 'the shadow presented the client certificate');
    assert.equal(v2.seen[0]!.headers['x-shadowgate-mirror'], 'true');
  });

  it('a certificate that does not carry subjectAltNames fails the handshake: 503 UF, nothing reaches the upstream', async () => {
    const before = v1.seen.length;
    const r = await send(port, '/wrongsan', { headers: host });
    assert.equal(r.status, 503);
    assert.equal(v1.seen.length, before);
    const entry = tg.access.entries.find((e) => e.route_name === 'wrongsan')!;
    // Istio's default retry policy retries connect failures: UF after the retries (URX).
    assert.match(entry.response_flags, /^UF/);
  });

  it('MUTUAL upstream refuses a SIMPLE client without a certificate: 503, nothing served', async () => {
    const before = v2.seen.length;
    const r = await send(port, '/nocert', { headers: host });
    assert.ok(r.status === 503, `status ${r.status}`);
    assert.equal(v2.seen.length, before);
  });

  it('insecureSkipVerify: no CA, another SNI, still served; the SNI sent is the one configured', async () => {
    const r = await send(port, '/insecure', { headers: host });
    assert.equal(r.status, 200);
    assert.equal(v1.seen.at(-1)!.sni, 'other.example.org');
  });

  it("a private key that is not the client certificate's: one log line naming both files, that subset 503 UH, the rest serve", async () => {
    const r = await send(port, '/badkey', { headers: host });
    assert.equal(r.status, 503);
    assert.equal(tg.access.entries.find((e) => e.route_name === 'badkey')!.response_flags, 'UH');
    const line = logs.find((l) => l.includes('badkey'));
    assert.ok(line, logs.join('\n'));
    assert.match(line, /tls\.privateKey .*api\.key is not the key of tls\.clientCertificate .*client\.crt/);
    assert.equal((await send(port, '/', { headers: host })).status, 200);
  });
});

describe('trafficPolicy.tls in the config (no sockets)', () => {
  const yaml = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 8443, name: https, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api.example.com
  trafficPolicy:
    portLevelSettings:
    - port: {number: 8443}
      tls: {mode: SIMPLE, sni: api.example.com}
  subsets:
  - name: v1
    labels: {version: v1}
  - name: off
    labels: {version: v1}
    trafficPolicy:
      portLevelSettings:
      - port: {number: 8443}
        tls: {mode: DISABLE}
`;

  it('portLevelSettings apply to their port only; a subset (or its port) overrides; MUTUAL without a client certificate is an error', async () => {
    const { loadSnapshot } = await import('../src/config/index.js');
    const s = loadSnapshot([{ path: 'api.yaml', text: yaml }]);
    const c = s.clusters;
    assert.equal(c['outbound|80|v1|api.example.com']!.policy.tls, undefined);
    assert.deepEqual(c['outbound|8443|v1|api.example.com']!.policy.tls, {
      mode: 'SIMPLE',
      sni: 'api.example.com',
      subjectAltNames: [],
      insecureSkipVerify: false,
    });
    assert.equal(c['outbound|8443|off|api.example.com']!.policy.tls, undefined);
    assert.deepEqual(s.problems, []);
    // A DestinationRule with an error disables itself (its subsets with it), as any bad resource.
    const bad = yaml.replace('tls: {mode: DISABLE}', 'tls: {mode: MUTUAL, caCertificates: /ca.pem}');
    const problem = loadSnapshot([{ path: 'api.yaml', text: bad }]).problems.find((p) => p.code === 'missing-field' && p.message.includes('MUTUAL'));
    assert.ok(problem, JSON.stringify(s.problems));
    assert.equal(problem.severity, 'error');
  });
});
