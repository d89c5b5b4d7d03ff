// Issue 18 (HTTPS listeners): a Gateway API HTTPS listener terminates TLS with the same code as Istio's Gateway servers.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { loadSnapshot, type Snapshot } from '../src/config/index.js';
import { type Certs, makeCa, opensslMissing } from './harness/certs.js';
import { freePort, startGateway, type TestGateway } from './harness/gateway.js';
import { startUpstream, type TestUpstream } from './harness/upstream.js';

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '20', ...args], { encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }));
  });
}

const backend = (port: number) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: store, namespace: apps, annotations: {shadowgate.dev/listen: "false"}}
spec:
  hosts: [store.apps.svc.cluster.local]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${port}}}]
`;

const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: store, namespace: apps}
spec:
  parentRefs: [{name: edge, sectionName: https}]
  hostnames: [store.example.com]
  rules: [{backendRefs: [{name: store, port: 8080}]}]
`;

type ListenerStatus = { name: string; attachedRoutes: number; conditions: Array<{ type: string; status: string; reason: string }> };
const listenerStatus = (s: Snapshot, name: string): ListenerStatus =>
  (s.resources.find((r) => r.kind === 'Gateway')!.status!.listeners as ListenerStatus[]).find((l) => l.name === name)!;
const reason = (l: ListenerStatus, type: string) => l.conditions.find((c) => c.type === type)?.reason;

describe('Gateway API HTTPS listeners', { skip: opensslMissing() }, () => {
  let certs: Certs;
  let up: TestUpstream;
  let port: number;
  let tg: TestGateway;

  before(async () => {
    certs = makeCa();
    certs.issue('store', 'store.example.com', ['DNS:store.example.com']);
    up = await startUpstream('store', { kind: 'answer', body: 'store' });
    port = await freePort();
    tg = await startGateway({
      'backend.yaml': backend(up.port),
      'gateway.yaml': `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: apps}
spec:
  gatewayClassName: shadowgate
  listeners:
  - name: https
    port: ${port}
    protocol: HTTPS
    hostname: store.example.com
    tls:
      mode: Terminate
      options:
        shadowgate.dev/certificate-file: ${certs.path('store.crt')}
        shadowgate.dev/private-key-file: ${certs.path('store.key')}
`,
      'route.yaml': route,
    });
  });

  after(async () => {
    await tg?.close();
    await up?.close();
    certs?.remove();
  });

  it('terminates TLS with the certificate files of tls.options and routes the attached HTTPRoute', async () => {
    const r = await curl([
      '--cacert',
      certs.path('ca.crt'),
      '--resolve',
      `store.example.com:${port}:127.0.0.1`,
      '-w',
      ' %{http_version}',
      `https://store.example.com:${port}/items`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^store (1\.1|2)$/);
    assert.equal(up.requests.at(-1)!.url, '/items');
    assert.equal(up.requests.at(-1)!.headers['x-forwarded-proto'], 'https');
    const l = listenerStatus(tg.gw.snapshot, 'https');
    assert.equal(l.attachedRoutes, 1);
    assert.equal(reason(l, 'Programmed'), 'Programmed');
    assert.equal(reason(l, 'ResolvedRefs'), 'ResolvedRefs');
  });

  it('checks certificateRefs as the spec says: Secrets only, a ReferenceGrant across namespaces, one protocol per port', () => {
    const gateway = (listeners: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: apps}
spec:
  gatewayClassName: shadowgate
  listeners:
${listeners}`;
    const s = loadSnapshot([
      { path: 'b.yaml', text: backend(1) },
      {
        path: 'g.yaml',
        text: gateway(`  - {name: https, port: 18443, protocol: HTTPS, tls: {certificateRefs: [{name: store-cert}]}}
  - {name: other-ns, port: 18444, protocol: HTTPS, tls: {certificateRefs: [{name: cert, namespace: certs}]}}
  - {name: cm, port: 18445, protocol: HTTPS, tls: {certificateRefs: [{kind: ConfigMap, name: x}]}}
  - {name: plain, port: 18443, protocol: HTTP}
`),
      },
    ]);
    const https = s.listeners.find((l) => l.port === 18443)!;
    assert.equal(https.protocol, 'HTTPS');
    assert.deepEqual(https.tls![0]!.credentialName, 'apps/store-cert');
    assert.equal(https.tls![0]!.source.path, 'spec.listeners[0].tls');
    assert.equal(reason(listenerStatus(s, 'other-ns'), 'ResolvedRefs'), 'RefNotPermitted');
    assert.equal(reason(listenerStatus(s, 'cm'), 'ResolvedRefs'), 'InvalidCertificateRef');
    assert.equal(reason(listenerStatus(s, 'plain'), 'Conflicted'), 'ProtocolConflict');
    assert.deepEqual(
      s.listeners.map((l) => l.port).filter((p) => p > 18000),
      [18443],
    );

    const granted = loadSnapshot([
      {
        path: 'g.yaml',
        text: `${gateway('  - {name: other-ns, port: 18444, protocol: HTTPS, tls: {certificateRefs: [{name: cert, namespace: certs}]}}\n')}---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: certs-for-edge, namespace: certs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: apps}]
  to: [{group: "", kind: Secret}]
`,
      },
    ]);
    assert.equal(reason(listenerStatus(granted, 'other-ns'), 'ResolvedRefs'), 'ResolvedRefs');
    assert.equal(granted.listeners.find((l) => l.port === 18444)?.tls?.[0]?.credentialName, 'certs/cert');
  });

  it('refuses an HTTPS listener without tls, as the CRD does', () => {
    const s = loadSnapshot([
      {
        path: 'g.yaml',
        text: `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: apps}
spec:
  gatewayClassName: shadowgate
  listeners: [{name: https, port: 18443, protocol: HTTPS}]
`,
      },
    ]);
    assert.ok(s.problems.some((p) => p.severity === 'error' && p.path === 'spec.listeners[0].tls' && p.code === 'missing-field'));
  });
});
