// Issue 17: Istio Gateway servers and how VirtualServices bind to them (spec.gateways, hosts intersected), as Istio decides.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSnapshot, type Snapshot } from '../src/config/index.js';

const SERVICE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: shop}
spec:
  hosts: [web.shop.svc.cluster.local]
  ports: [{number: 8000, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`;

function gateway(name: string, ns: string, servers: string): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ${name}, namespace: ${ns}}
spec:
  selector: {istio: ingressgateway}
  servers:
${servers}`;
}

function vs(name: string, ns: string, hosts: string[], gateways?: string[]): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: ${ns}}
spec:
  hosts: ${JSON.stringify(hosts)}
${gateways ? `  gateways: ${JSON.stringify(gateways)}\n` : ''}  http:
  - route: [{destination: {host: web.shop.svc.cluster.local}}]
`;
}

function load(...docs: string[]): Snapshot {
  return loadSnapshot(docs.map((text, i) => ({ path: `f${i}.yaml`, text })));
}

const hostsOn = (s: Snapshot, port: number) =>
  s.listeners
    .find((l) => l.port === port)
    ?.virtualHosts.map((v) => `${v.host}<-${[...new Set(v.routes.map((r) => r.source))].join('+')}`)
    .sort();

describe('Istio Gateway binding', () => {
  const GW = gateway(
    'public',
    'ingress',
    `  - port: {number: 18080, name: http, protocol: HTTP}
    hosts: ["*/*.example.com", "shop/admin.internal"]
`,
  );

  it('binds a VirtualService by name or namespace/name; without gateways it stays on the mesh', () => {
    const s = load(
      SERVICE,
      GW,
      vs('by-ref', 'shop', ['a.example.com'], ['ingress/public']),
      vs('short', 'ingress', ['b.example.com'], ['public']),
      vs('mesh-only', 'shop', ['web']),
      vs('both', 'shop', ['c.example.com', 'web'], ['ingress/public', 'mesh']),
    );
    assert.deepEqual(hostsOn(s, 18080), [
      'a.example.com<-VirtualService shop/by-ref',
      'b.example.com<-VirtualService ingress/short',
      'c.example.com<-VirtualService shop/both',
    ]);
    // The mesh port: the first VirtualService of the mesh routes web (mesh-only), the gateway-only ones never.
    const mesh = s.listeners.find((l) => l.port === 8000)!;
    assert.deepEqual(
      mesh.virtualHosts.map((v) => v.routes[0]!.source),
      ['VirtualService shop/mesh-only'],
    );
    assert.equal(s.listeners.find((l) => l.port === 18080)!.strictHost, true);
  });

  it('intersects hosts: the more specific name wins, and a server host admits only its namespace', () => {
    const s = load(SERVICE, GW, vs('wild', 'shop', ['*'], ['ingress/public']), vs('admin-elsewhere', 'other', ['admin.internal'], ['ingress/public']));
    // `*` meets `*.example.com` and `admin.internal` (shop/ admits namespace shop).
    assert.deepEqual(hostsOn(s, 18080), ['*.example.com<-VirtualService shop/wild', 'admin.internal<-VirtualService shop/wild']);
    const warn = s.problems.find((p) => p.resource === 'VirtualService other/admin-elsewhere' && p.code === 'no-gateway-hosts');
    assert.ok(warn, JSON.stringify(s.problems));
  });

  it('merges the routes of VirtualServices bound to the same gateway host, in order', () => {
    const s = load(SERVICE, GW, vs('first', 'shop', ['a.example.com'], ['ingress/public']), vs('second', 'shop', ['a.example.com'], ['ingress/public']));
    assert.deepEqual(hostsOn(s, 18080), ['a.example.com<-VirtualService shop/first+VirtualService shop/second']);
  });

  /** A PASSTHROUGH server and a terminated one on port 18443 (namespace shop's Gateway gw). */
  const PASSTHROUGH_AND_HTTPS = `  - port: {number: 18443, name: tls, protocol: TLS}
    hosts: ["*.example.com"]
    tls: {mode: PASSTHROUGH}
  - port: {number: 18443, name: https, protocol: HTTPS}
    hosts: ["a.example.com"]
    tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}
`;

  it('one port: PASSTHROUGH beside HTTPS is one listener with both (chosen by SNI); plain HTTP beside TLS is refused', () => {
    const s = load(
      SERVICE,
      gateway(
        'gw',
        'shop',
        `${PASSTHROUGH_AND_HTTPS}  - port: {number: 18443, name: http, protocol: HTTP}
    hosts: ["b.example.com"]
`,
      ),
    );
    const codes = s.problems.filter((p) => p.severity === 'warning').map((p) => `${p.path}:${p.code}`);
    assert.deepEqual(
      codes.filter((c) => c.includes('port-unavailable')),
      ['spec.servers[2].port:port-unavailable'],
    );
    const l = s.listeners.find((x) => x.port === 18443)!;
    assert.equal(l.protocol, 'HTTPS');
    assert.deepEqual(
      l.tls!.map((t) => t.hosts),
      [['a.example.com']],
    );
    assert.deepEqual(l.passthrough, []);
    // The same name in a tls route and a terminated server: the route takes it, and the config says so.
    const tie = load(
      SERVICE,
      gateway('gw', 'shop', PASSTHROUGH_AND_HTTPS),
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: passed, namespace: shop}
spec:
  hosts: [a.example.com]
  gateways: [gw]
  tls: [{match: [{sniHosts: [a.example.com]}], route: [{destination: {host: a.example.com}}]}]
`,
    );
    const conflicts = tie.problems.filter((p) => p.code === 'hostname-conflict');
    assert.equal(conflicts.length, 1, JSON.stringify(tie.problems));
    assert.equal(conflicts[0]!.path, 'spec.servers[1].hosts[0]');
    assert.match(conflicts[0]!.message, /passed through, not terminated/);
  });

  it('warns about an unknown gateway, a port taken by a ServiceEntry, mixed HTTP and HTTPS, passthrough', () => {
    const s = load(
      SERVICE,
      gateway(
        'gw',
        'shop',
        `  - port: {number: 8000, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: 18443, name: https, protocol: HTTPS}
    hosts: ["a.example.com"]
    tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem, minProtocolVersion: TLSV1_2, cipherSuites: [ECDHE-ECDSA-AES128-GCM-SHA256]}
  - port: {number: 18443, name: http-on-https, protocol: HTTP}
    hosts: ["b.example.com"]
  - port: {number: 18444, name: tls, protocol: TLS}
    hosts: ["p.example.com"]
    tls: {mode: AUTO_PASSTHROUGH}
`,
      ),
      vs('nowhere', 'shop', ['a.example.com'], ['missing']),
    );
    const codes = s.problems.filter((p) => p.severity === 'warning').map((p) => `${p.path}:${p.code}`);
    assert.ok(codes.includes('spec.servers[0].port:port-unavailable'), codes.join('\n'));
    assert.ok(codes.includes('spec.servers[2].port:port-unavailable'), codes.join('\n'));
    assert.ok(codes.includes('spec.servers[3].tls.mode:not-supported'), codes.join('\n'));
    assert.ok(codes.includes('spec.gateways[0]:unknown-gateway'), codes.join('\n'));
    const https = s.listeners.find((l) => l.port === 18443)!;
    assert.equal(https.protocol, 'HTTPS');
    assert.deepEqual(https.tls![0], {
      mode: 'SIMPLE',
      hosts: ['a.example.com'],
      cipherSuites: ['ECDHE-ECDSA-AES128-GCM-SHA256'],
      serverCertificate: '/c.pem',
      privateKey: '/k.pem',
      minProtocolVersion: 'TLSv1.2',
      source: { resource: 'Gateway shop/gw', gateway: 'shop/gw', server: 'servers[1]', path: 'spec.servers[1].tls', file: 'f1.yaml', line: 11 },
    });
  });

  it("checks servers with Istio's rules", () => {
    const s = load(
      gateway(
        'bad',
        'shop',
        `  - port: {number: 18443, name: https, protocol: HTTPS}
    hosts: ["a.example.com"]
  - port: {number: 18444, name: m, protocol: HTTPS}
    hosts: ["bad host"]
    tls: {mode: MUTUAL, serverCertificate: /c.pem, privateKey: /k.pem, maxProtocolVersion: TLSV1_1, minProtocolVersion: TLSV1_3}
  - port: {number: 18445, name: h, protocol: HTTP}
    hosts: ["x.example.com"]
    tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}
`,
      ),
    );
    const errors = s.problems.filter((p) => p.severity === 'error').map((p) => `${p.path}:${p.code}`);
    assert.deepEqual(errors.sort(), [
      'spec.servers[0].tls:missing-field',
      'spec.servers[1].hosts[0]:invalid-hostname',
      'spec.servers[1].tls.caCertificates:missing-field',
      'spec.servers[1].tls.minProtocolVersion:invalid-value',
      'spec.servers[2].tls.mode:invalid-value',
    ]);
  });
});
