// TLSRoute beyond the conformance suite: the CRDs' validation rules at field paths (v1 and v1alpha2), listener status
// in files (kinds, protocol conflicts, UnsupportedProtocol), ReferenceGrants, and on real sockets a TLS Passthrough
// listener beside an HTTPS Terminate one on one port (SNI picks; listener isolation), the oldest of two routes naming one
// SNI, and a malformed ClientHello refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { loadSnapshot, type Snapshot } from '../src/config/index.js';
import { type Certs, makeCa, opensslMissing } from './harness/certs.js';
import { client, freePort, startGateway, type TestGateway } from './harness/gateway.js';
import { backendsYaml } from './harness/gateway-api.js';
import { type HttpsUpstream, httpsUpstream } from './harness/https-upstream.js';
import { fingerprintOf, passthroughConnections, tlsGet } from './harness/tls-client.js';
import { startUpstream, type TestUpstream } from './harness/upstream.js';

const NS = 'apps';
const BIN = join(fileURLToPath(new URL('../..', import.meta.url)), 'bin', 'shadowgate.js');
const TLS_PORT = { number: 443, portName: 'tls', protocol: 'TLS', ns: NS };

after(() => client.close());

function gateway(listeners: string, name = 'edge'): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ${name}, namespace: ${NS}}
spec:
  gatewayClassName: shadowgate
  listeners:
${listeners}`;
}

function tlsRoute(name: string, spec: string, o: { ns?: string; version?: string; created?: string } = {}): string {
  const created = o.created ? `, creationTimestamp: "${o.created}"` : '';
  return `apiVersion: gateway.networking.k8s.io/${o.version ?? 'v1'}
kind: TLSRoute
metadata: {name: ${name}, namespace: ${o.ns ?? NS}${created}}
spec:
${spec}`;
}

function load(...docs: string[]): Snapshot {
  return loadSnapshot(docs.map((text, i) => ({ path: `f${i}.yaml`, text })));
}

const problems = (s: Snapshot, resource: string) => s.problems.filter((p) => p.resource === resource).map((p) => `${p.code} ${p.path}`);
type Cond = { type: string; status: string; reason: string };
const parentConditions = (s: Snapshot, name: string): string[] =>
  ((s.resources.find((r) => r.kind === 'TLSRoute' && r.name === name)?.status?.parents ?? []) as Array<{ conditions: Cond[] }>).flatMap((p) =>
    p.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`),
  );
type ListenerStatus = { name: string; attachedRoutes: number; supportedKinds: Array<{ kind: string }>; conditions: Cond[] };
const listener = (s: Snapshot, name: string, gw = 'edge'): ListenerStatus =>
  ((s.resources.find((r) => r.kind === 'Gateway' && r.name === gw)?.status?.listeners ?? []) as ListenerStatus[]).find((l) => l.name === name)!;
const cond = (l: ListenerStatus, type: string) => {
  const c = l.conditions.find((x) => x.type === type)!;
  return `${c.status}/${c.reason}`;
};

describe('TLSRoute: validation with field paths', () => {
  it('v1: hostnames required, no IP addresses, one rule, backendRefs with a port and no filters; the route is disabled', () => {
    const s = load(
      tlsRoute(
        'bad',
        `  parentRefs: [{name: edge}]
  hostnames: ["10.0.0.1", "Bad_Name"]
  rules:
  - backendRefs: [{name: a, filters: []}]
  - backendRefs: [{name: b, port: 443, weight: -1}]
`,
      ),
      tlsRoute('nohosts', '  parentRefs: [{name: edge}]\n  rules: [{backendRefs: [{name: a, port: 443}]}]\n'),
      tlsRoute('norules', '  parentRefs: [{name: edge}]\n  hostnames: [a.example.com]\n  rules: [{backendRefs: []}]\n'),
    );
    assert.deepEqual(problems(s, `TLSRoute ${NS}/bad`).sort(), [
      'invalid-hostname spec.hostnames[0]',
      'invalid-hostname spec.hostnames[1]',
      'missing-field spec.rules[0].backendRefs[0].port',
      'out-of-range spec.rules[1].backendRefs[0].weight',
      'too-many spec.rules',
      'unknown-field spec.rules[0].backendRefs[0].filters',
    ]);
    assert.deepEqual(problems(s, `TLSRoute ${NS}/nohosts`), ['missing-field spec.hostnames']);
    assert.deepEqual(problems(s, `TLSRoute ${NS}/norules`), ['missing-field spec.rules[0].backendRefs']);
    assert.ok(s.problems.filter((p) => p.resource === `TLSRoute ${NS}/bad`).every((p) => p.file === 'f0.yaml' && typeof p.line === 'number'));
    for (const name of ['bad', 'nohosts', 'norules']) assert.equal(s.resources.find((r) => r.name === name)?.accepted, false, name);
  });

  it('v1alpha2 (experimental channel): hostnames optional, several rules of which the first takes every connection', () => {
    const s = load(
      backendsYaml([{ name: 'a', port: 1 }], TLS_PORT),
      gateway('  - {name: tls, port: 18443, protocol: TLS, hostname: "*.example.com", tls: {mode: Passthrough}}\n'),
      tlsRoute('old', '  parentRefs: [{name: edge}]\n  rules: [{backendRefs: [{name: a, port: 443}]}, {backendRefs: [{name: a, port: 443}]}]\n', {
        version: 'v1alpha2',
      }),
    );
    assert.deepEqual(problems(s, `TLSRoute ${NS}/old`), ['unreachable-route spec.rules[1]']);
    assert.deepEqual(parentConditions(s, 'old'), ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']);
    // Without hostnames the route takes the listener's.
    assert.deepEqual(
      s.listeners[0]!.passthrough!.map((r) => r.sniHosts),
      [['*.example.com'], ['*.example.com']],
    );
    assert.equal(s.listeners[0]!.passthrough![0]!.destinations[0]!.cluster, 'outbound|443||a.apps.svc.cluster.local');
  });

  it("Gateway: HTTPS in Passthrough mode and TLS without a mode break the CRD's listener rules", () => {
    const s = load(
      gateway(`  - {name: a, port: 18443, protocol: HTTPS, tls: {mode: Passthrough}}
  - {name: b, port: 18444, protocol: TLS}
  - {name: c, port: 18445, protocol: TLS, tls: {certificateRefs: [{name: x}]}}
`),
    );
    assert.deepEqual(problems(s, `Gateway ${NS}/edge`), [
      'invalid-value spec.listeners[0].tls.mode',
      'missing-field spec.listeners[1].tls',
      'missing-field spec.listeners[2].tls.mode',
    ]);
  });
});

describe('TLSRoute: status in files', () => {
  it('kinds per protocol, TLS beside HTTP on one port, TCP, ReferenceGrants, a Service parent', () => {
    const s = load(
      backendsYaml([{ name: 'a', port: 1 }], TLS_PORT),
      backendsYaml([{ name: 'b', port: 1 }], { ...TLS_PORT, ns: 'other' }),
      gateway(`  - {name: tls, port: 18443, protocol: TLS, hostname: "*.example.com", tls: {mode: Passthrough}}
  - {name: web, port: 18080, protocol: HTTP, allowedRoutes: {kinds: [{kind: HTTPRoute}, {kind: TLSRoute}]}}
  - {name: clash, port: 18080, protocol: TLS, hostname: clash.example.com, tls: {mode: Passthrough}}
  - {name: tcp, port: 18000, protocol: TCP}
`),
      tlsRoute('ok', '  parentRefs: [{name: edge, sectionName: tls}]\n  hostnames: [a.example.com]\n  rules: [{backendRefs: [{name: a, port: 443}]}]\n'),
      tlsRoute(
        'cross',
        '  parentRefs: [{name: edge, namespace: apps, port: 18443}]\n  hostnames: [b.example.com]\n  rules: [{backendRefs: [{name: b, namespace: other, port: 443}]}]\n',
      ),
      tlsRoute('to-web', '  parentRefs: [{name: edge, sectionName: web}]\n  hostnames: [w.example.com]\n  rules: [{backendRefs: [{name: a, port: 443}]}]\n'),
      tlsRoute(
        'to-service',
        '  parentRefs: [{group: "", kind: Service, name: a, port: 443}]\n  hostnames: [a.example.com]\n  rules: [{backendRefs: [{name: a, port: 443}]}]\n',
      ),
    );
    const tls = listener(s, 'tls');
    assert.deepEqual(
      [tls.supportedKinds.map((k) => k.kind), tls.attachedRoutes, cond(tls, 'Accepted'), cond(tls, 'Programmed')],
      [['TLSRoute'], 2, 'True/Accepted', 'True/Programmed'],
    );
    // An HTTP listener cannot take TLSRoutes: listed, it is an invalid kind (HTTPRoute still attaches there).
    const web = listener(s, 'web');
    assert.deepEqual([web.supportedKinds.map((k) => k.kind), cond(web, 'ResolvedRefs')], [['HTTPRoute'], 'False/InvalidRouteKinds']);
    // One port is plain HTTP or TLS: the later listener conflicts.
    assert.equal(cond(listener(s, 'clash'), 'Conflicted'), 'True/ProtocolConflict');
    assert.equal(cond(listener(s, 'tcp'), 'Accepted'), 'False/UnsupportedProtocol');
    assert.deepEqual(parentConditions(s, 'ok'), ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']);
    assert.deepEqual(parentConditions(s, 'cross'), ['Accepted=True/Accepted', 'ResolvedRefs=False/RefNotPermitted']);
    assert.deepEqual(problems(s, `TLSRoute ${NS}/cross`), ['ref-not-permitted spec.rules[0].backendRefs[0]']);
    assert.deepEqual(parentConditions(s, 'to-web'), ['Accepted=False/NotAllowedByListeners', 'ResolvedRefs=True/ResolvedRefs']);
    assert.deepEqual(parentConditions(s, 'to-service')[0], 'Accepted=False/UnsupportedValue');

    // With a ReferenceGrant the cross-namespace backend resolves.
    const granted = load(
      backendsYaml([{ name: 'b', port: 1 }], { ...TLS_PORT, ns: 'other' }),
      gateway('  - {name: tls, port: 18443, protocol: TLS, tls: {mode: Passthrough}}\n'),
      tlsRoute('cross', '  parentRefs: [{name: edge}]\n  hostnames: [b.example.com]\n  rules: [{backendRefs: [{name: b, namespace: other, port: 443}]}]\n'),
      `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: tls, namespace: other}
spec:
  from: [{group: gateway.networking.k8s.io, kind: TLSRoute, namespace: ${NS}}]
  to: [{group: "", kind: Service}]
`,
    );
    assert.deepEqual(parentConditions(granted, 'cross'), ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']);
    assert.equal(granted.listeners[0]!.passthrough![0]!.destinations[0]!.cluster, 'outbound|443||b.other.svc.cluster.local');
  });

  it('an invalid backend keeps its share of connections (refused), weight 0 drops one', () => {
    const s = load(
      backendsYaml([{ name: 'a', port: 1 }], TLS_PORT),
      gateway('  - {name: tls, port: 18443, protocol: TLS, tls: {mode: Passthrough}}\n'),
      tlsRoute(
        'split',
        `  parentRefs: [{name: edge}]
  hostnames: [a.example.com]
  rules:
  - backendRefs: [{name: a, port: 443, weight: 80}, {name: gone, port: 443, weight: 20}, {name: a, port: 443, weight: 0}]
`,
      ),
    );
    assert.deepEqual(
      s.listeners[0]!.passthrough![0]!.destinations.map((d) => [d.cluster, d.weight]),
      [
        ['outbound|443||a.apps.svc.cluster.local', 80],
        ['unresolved|BackendNotFound|apps/gone', 20],
      ],
    );
    assert.deepEqual(parentConditions(s, 'split'), ['Accepted=True/Accepted', 'ResolvedRefs=False/BackendNotFound']);
  });
});

describe('TLSRoute on real sockets: beside an HTTPS listener, isolation, precedence', { skip: opensslMissing() }, () => {
  let certs: Certs;
  let secure: HttpsUpstream;
  let older: HttpsUpstream;
  let newer: HttpsUpstream;
  let web: TestUpstream;
  let tg: TestGateway;
  let port: number;
  let ca: Buffer;

  before(async () => {
    certs = makeCa();
    for (const name of ['secure', 'older', 'newer']) certs.issue(name, name, ['DNS:*.example.com']);
    certs.issue('web', 'web', ['DNS:web.test']);
    secure = await httpsUpstream(certs, 'secure', false);
    older = await httpsUpstream(certs, 'older', false);
    newer = await httpsUpstream(certs, 'newer', false);
    web = await startUpstream('web', { kind: 'answer', body: 'web, decrypted at the gateway' });
    ca = readFileSync(certs.path('ca.crt'));
    port = await freePort();
    tg = await startGateway({
      'backends.yaml': [
        backendsYaml([{ name: 'secure', port: secure.port }], TLS_PORT),
        backendsYaml([{ name: 'older', port: older.port }], TLS_PORT),
        backendsYaml([{ name: 'newer', port: newer.port }], TLS_PORT),
        backendsYaml([{ name: 'web', port: web.port }], { ns: NS }),
      ].join('---\n'),
      // An HTTPS listener with no hostname (it answers any SNI no other listener of the port owns) and a TLS one.
      'gateway.yaml': gateway(`  - name: https
    port: ${port}
    protocol: HTTPS
    tls:
      mode: Terminate
      options: {shadowgate.dev/certificate-file: ${certs.path('web.crt')}, shadowgate.dev/private-key-file: ${certs.path('web.key')}}
  - {name: tls, port: ${port}, protocol: TLS, hostname: "*.example.com", tls: {mode: Passthrough}}
`),
      'routes.yaml': [
        `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web, namespace: ${NS}}
spec:
  parentRefs: [{name: edge, sectionName: https}]
  rules: [{backendRefs: [{name: web, port: 8080}]}]
`,
        tlsRoute(
          'secure',
          '  parentRefs: [{name: edge, sectionName: tls}]\n  hostnames: [secure.example.com]\n  rules: [{backendRefs: [{name: secure, port: 443}]}]\n',
        ),
        // Two routes name shared.example.com: the older one (creationTimestamp) takes it.
        tlsRoute('z-older', '  parentRefs: [{name: edge}]\n  hostnames: [shared.example.com]\n  rules: [{backendRefs: [{name: older, port: 443}]}]\n', {
          created: '2026-01-01T00:00:00Z',
        }),
        tlsRoute('a-newer', '  parentRefs: [{name: edge}]\n  hostnames: [shared.example.com]\n  rules: [{backendRefs: [{name: newer, port: 443}]}]\n', {
          created: '2026-06-01T00:00:00Z',
        }),
      ].join('---\n'),
    });
  });

  after(async () => {
    await tg?.close();
    for (const u of [secure, older, newer]) await u?.close();
    await web?.close();
    certs?.remove();
  });

  const metric = (result: string) => passthroughConnections(tg.gw.metrics.registry, port, result);

  it('SNI picks: the TLS listener passes its routes through, the HTTPS listener decrypts the rest', async () => {
    assert.deepEqual(
      tg.gw.snapshot.problems.filter((p) => p.severity !== 'info').map((p) => `${p.resource} ${p.code}`),
      [`TLSRoute ${NS}/a-newer hostname-conflict`],
    );
    const a = await tlsGet(port, 'secure.example.com', ca);
    assert.equal(a.body, 'secure over TLS', a.error);
    assert.equal(a.fingerprint, fingerprintOf(certs, 'secure'));
    assert.equal(secure.seen.at(-1)!.sni, 'secure.example.com');
    const b = await tlsGet(port, 'web.test', ca);
    assert.equal(b.body, 'web, decrypted at the gateway', b.error);
    assert.equal(b.fingerprint, fingerprintOf(certs, 'web'));
    assert.equal(web.requests.length, 1);
    // A name under the TLS listener's *.example.com that no route takes belongs to that listener: refused there,
    // never decrypted by the HTTPS listener that answers every other name (listener isolation).
    assert.ok((await tlsGet(port, 'nobody.example.com', ca, true)).error, 'refused');
    assert.equal(web.requests.length, 1);
    assert.deepEqual([await metric('forwarded'), await metric('terminated'), await metric('no_route')], [1, 1, 1]);
    const gw = tg.gw.snapshot.resources.find((r) => r.kind === 'Gateway')!.status!;
    const ls = gw.listeners as ListenerStatus[];
    assert.deepEqual(
      ls.map((l) => [l.name, l.attachedRoutes, cond(l, 'Conflicted')]),
      [
        ['https', 1, 'False/NoConflicts'],
        ['tls', 3, 'False/NoConflicts'],
      ],
    );
  });

  it('the status is data in /config_dump and in `validate -o json`, the same as in the snapshot', async () => {
    type Resource = { kind: string; name: string; status?: { parents?: Array<{ conditions: Cond[] }> } };
    const dump = (await (await request(`http://${tg.gw.adminAddress}/config_dump`, { dispatcher: client })).body.json()) as { resources: Resource[] };
    const conditions = (list: Resource[]) =>
      list
        .filter((r) => r.kind === 'TLSRoute')
        .map((r) => [r.name, ...(r.status?.parents?.[0]?.conditions.map((c) => `${c.type}=${c.status}`) ?? [])])
        .sort();
    const expected = [
      ['a-newer', 'Accepted=True', 'ResolvedRefs=True'],
      ['secure', 'Accepted=True', 'ResolvedRefs=True'],
      ['z-older', 'Accepted=True', 'ResolvedRefs=True'],
    ];
    assert.deepEqual(conditions(dump.resources), expected);
    const r = spawnSync(process.execPath, [BIN, 'validate', '-f', tg.dir, '-o', 'json'], { encoding: 'utf8', timeout: 20_000 });
    const out = JSON.parse(r.stdout) as { resources: Resource[]; problems: Array<{ code: string; path: string; resource: string }> };
    assert.deepEqual(conditions(out.resources), expected);
    assert.deepEqual(
      out.problems.filter((p) => p.resource.startsWith('TLSRoute')).map((p) => `${p.resource} ${p.code} ${p.path}`),
      [`TLSRoute ${NS}/a-newer hostname-conflict spec.hostnames`],
    );
  });

  it('two routes naming one SNI: the older one takes its connections', async () => {
    for (let i = 0; i < 3; i++) {
      const a = await tlsGet(port, 'shared.example.com', ca);
      assert.equal(a.body, 'older over TLS', a.error);
    }
    assert.equal(newer.connections, 0);
  });

  it('a malformed ClientHello is refused without reaching any backend, and the gateway keeps serving', async () => {
    const before = secure.connections + older.connections + newer.connections;
    // A handshake record whose ClientHello claims a session id longer than the message: not readable, refused.
    const hello = Buffer.from([0x01, 0x00, 0x00, 0x23, 0x03, 0x03, ...Buffer.alloc(32), 0xff]);
    const record = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, hello.length]), hello]);
    const closed = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => s.write(record));
      s.on('data', () => resolve(false));
      s.on('close', () => resolve(true));
      s.on('error', () => {});
    });
    assert.equal(closed, true);
    assert.equal(await metric('not_tls'), 1);
    assert.equal(secure.connections + older.connections + newer.connections, before);
    assert.equal((await tlsGet(port, 'secure.example.com', ca)).body, 'secure over TLS');
  });
});
