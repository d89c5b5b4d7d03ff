// The Gateway API conformance suite's TLSRoute cases, replayed with its own YAML (test/fixtures/gateway-api/) over real
// sockets: real TLS backends on loopback (certificates from a throw-away CA), real TLS clients sending SNI; which
// backend answered is told by its certificate and its body. The status-only cases are checked on the loaded snapshot.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { loadSnapshot } from '../src/config/index.js';
import { type Certs, makeCa, opensslMissing } from './harness/certs.js';
import { freePort, startGateway, type TestGateway } from './harness/gateway.js';
import { backendsYaml, fixture, gatewayListeners, listenerCondition, NS, parentConditions } from './harness/gateway-api.js';
import { type HttpsUpstream, httpsUpstream } from './harness/https-upstream.js';
import { fingerprintOf, passthroughConnections, tlsGet } from './harness/tls-client.js';

const APP_NS = 'gateway-conformance-app-backend';

/**
 * A fixture with the class filled in and each Gateway on its own port (`ports[i]` for the i-th Gateway): the suite
 * gives every Gateway its own address, while Shadowgate serves all Gateways on one set of ports.
 */
function withPorts(name: string, ports: readonly number[]): string {
  let i = 0;
  return fixture(name)
    .replaceAll('"{GATEWAY_CLASS_NAME}"', 'shadowgate')
    .split(/^---$/m)
    .map((doc) => (/^kind: Gateway$/m.test(doc) ? doc.replace(/port: \d+\n/g, `port: ${ports[i++]}\n`) : doc))
    .join('---');
}

const parents = parentConditions;
const listeners = gatewayListeners;
const condition = listenerCondition;

describe('Gateway API conformance: TLSRoute over real TLS connections', { skip: opensslMissing() }, () => {
  let certs: Certs;
  let ca: Buffer;
  const up: Record<string, HttpsUpstream> = {};
  /** The suite's backends as ServiceEntries: `tls-backend(-2)` port 443, `tcp-backend` port 8443 (TLS in passthrough). */
  let backends: string;

  before(async () => {
    certs = makeCa();
    for (const name of ['tls-backend', 'tls-backend-2', 'tcp-backend']) {
      certs.issue(name, name, ['DNS:*.example.com', 'DNS:example.com']);
      up[name] = await httpsUpstream(certs, name, false);
    }
    ca = readFileSync(certs.path('ca.crt'));
    const tls = { portName: 'tls', protocol: 'TLS' };
    backends = [
      backendsYaml([{ name: 'tls-backend', port: up['tls-backend']!.port }], { ...tls, number: 443 }),
      backendsYaml([{ name: 'tls-backend-2', port: up['tls-backend-2']!.port }], { ...tls, number: 443 }),
      backendsYaml([{ name: 'tcp-backend', port: up['tcp-backend']!.port }], { ...tls, number: 8443 }),
      // The ReferenceGrant case's backend, in the namespace its grants do not open.
      backendsYaml([{ name: 'tls-backend', port: up['tls-backend']!.port }], { ...tls, number: 443, ns: APP_NS }),
    ].join('---\n');
  });

  after(async () => {
    for (const u of Object.values(up)) await u.close();
    certs?.remove();
  });

  /** Which backend answered a TLS connection with SNI `sni` (its certificate and body agree), or 'refused'. */
  async function reached(port: number, sni: string): Promise<string> {
    const a = await tlsGet(port, sni, ca, true);
    if (a.error) return 'refused';
    const name = Object.keys(up).find((n) => a.fingerprint === fingerprintOf(certs, n));
    assert.equal(a.body, `${name} over TLS`, 'the backend that answered the handshake answered the request');
    assert.equal(up[name!]!.seen.at(-1)?.sni, sni, 'the client hello reached the backend untouched');
    return name!;
  }

  const metric = (tg: TestGateway, port: number, result: string) => passthroughConnections(tg.gw.metrics.registry, port, result);

  it('TLSRouteSimpleSameNamespace: the SNI the route names reaches tcp-backend, undecrypted; another name is refused', async () => {
    const port = await freePort();
    const tg = await startGateway({ 'backends.yaml': backends, 'suite.yaml': withPorts('tlsroute-simple-same-namespace', [port]) });
    try {
      assert.deepEqual(
        tg.gw.snapshot.problems.filter((p) => p.severity !== 'info'),
        [],
      );
      assert.deepEqual(parents(tg.gw.snapshot, 'TLSRoute', 'gateway-conformance-infra-test'), [['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']]);
      assert.equal(await reached(port, 'abc.example.com'), 'tcp-backend');
      // The listener's *.example.com, but no route's: refused, not sent anywhere.
      assert.equal(await reached(port, 'other.example.com'), 'refused');
      assert.equal(await metric(tg, port, 'forwarded'), 1);
      assert.equal(await metric(tg, port, 'no_route'), 1);
      const l = listeners(tg.gw.snapshot, 'gateway-tlsroute')[0]!;
      assert.deepEqual([l.attachedRoutes, l.supportedKinds.map((k) => k.kind)], [1, ['TLSRoute']]);
    } finally {
      await tg.close();
    }
  });

  it('TLSRouteHostnameIntersection: routes take only the names they share with their listener, the most specific first', async () => {
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    const [exact, moreWc, lessWc, empty] = ports as [number, number, number, number];
    const tg = await startGateway({ 'backends.yaml': backends, 'suite.yaml': withPorts('tlsroute-hostname-intersection', ports) });
    try {
      assert.deepEqual(
        tg.gw.snapshot.problems.filter((p) => p.severity !== 'info'),
        [],
      );
      for (const r of tg.gw.snapshot.resources.filter((x) => x.kind === 'TLSRoute')) {
        assert.deepEqual(parents(tg.gw.snapshot, 'TLSRoute', r.name), [['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']], r.name);
      }
      // Listener abc.example.com, route *.example.com.
      assert.equal(await reached(exact, 'abc.example.com'), 'tls-backend');
      assert.equal(await reached(exact, 'non.matching.com'), 'refused');
      // Listener *.example.com: abc.example.com exactly to tls-backend, *.com narrowed to *.example.com.
      assert.equal(await reached(moreWc, 'abc.example.com'), 'tls-backend');
      assert.equal(await reached(moreWc, 'other.example.com'), 'tls-backend-2');
      assert.equal(await reached(moreWc, 'non.matching.com'), 'refused');
      // Listener *.com: abc.example.com, then *.example.com; non.matching.com is the listener's but no route's.
      assert.equal(await reached(lessWc, 'abc.example.com'), 'tls-backend');
      assert.equal(await reached(lessWc, 'other.example.com'), 'tls-backend-2');
      assert.equal(await reached(lessWc, 'non.matching.com'), 'refused');
      // No listener hostname: the routes' own.
      assert.equal(await reached(empty, 'abc.example.com'), 'tls-backend');
      assert.equal(await reached(empty, 'other.example.com'), 'tls-backend-2');
      assert.equal(await reached(empty, 'non.matching.org'), 'refused');
    } finally {
      await tg.close();
    }
  });

  for (const [name, route, gateway, reason, refusal] of [
    ['tlsroute-invalid-reference-grant', 'gateway-conformance-infra-test', 'gateway-tlsroute-referencegrant', 'RefNotPermitted', 'abc.example.com'],
    [
      'tlsroute-invalid-backendref-nonexistent',
      'invalid-backend-ref-nonexistent',
      'gateway-tlsroute-invalid-backend-ref-nonexistent',
      'BackendNotFound',
      'example.com',
    ],
    [
      'tlsroute-invalid-backendref-unknown-kind',
      'invalid-backend-ref-unknown-kind',
      'gateway-tlsroute-invalid-backend-ref-unknown-kind',
      'InvalidKind',
      'example.com',
    ],
  ] as const) {
    it(`${name}: the route is accepted with ResolvedRefs False ${reason}, and its connections are refused`, async () => {
      const port = await freePort();
      const tg = await startGateway({ 'backends.yaml': backends, 'suite.yaml': withPorts(name, [port]) });
      try {
        assert.deepEqual(parents(tg.gw.snapshot, 'TLSRoute', route), [['Accepted=True/Accepted', `ResolvedRefs=False/${reason}`]]);
        assert.equal(listeners(tg.gw.snapshot, gateway)[0]!.attachedRoutes, 1);
        const problem = tg.gw.snapshot.problems.find((p) => p.resource === `TLSRoute ${NS}/${route}` && p.severity === 'error');
        assert.equal(problem?.path, 'spec.rules[0].backendRefs[0]');
        const before = Object.values(up).reduce((n, u) => n + u.connections, 0);
        assert.equal(await reached(port, refusal), 'refused');
        assert.equal(
          Object.values(up).reduce((n, u) => n + u.connections, 0),
          before,
          'no backend was reached',
        );
        assert.equal(await metric(tg, port, 'no_endpoint'), 1);
      } finally {
        await tg.close();
      }
    });
  }
});

describe('Gateway API conformance: TLSRoute status cases', () => {
  const load = (name: string, ports: number[]) =>
    loadSnapshot([
      { path: 'backends.yaml', text: backendsYaml([{ name: 'tls-backend', port: 1 }], { number: 443, portName: 'tls', protocol: 'TLS' }) },
      { path: `${name}.yaml`, text: withPorts(name, ports) },
    ]);

  it('TLSRouteInvalidNoMatchingListenerHostname: Accepted False NoMatchingListenerHostname, no route attached', () => {
    const s = load('tlsroute-invalid-no-matching-listener-hostname', [18443, 18444]);
    for (const route of ['tlsroute-hostname-mismatch-1', 'tlsroute-hostname-mismatch-2']) {
      assert.deepEqual(parents(s, 'TLSRoute', route)[0]![0], 'Accepted=False/NoMatchingListenerHostname', route);
    }
    for (const gw of ['gateway-tls-exact-hostname', 'gateway-tls-wildcard-hostname']) assert.equal(listeners(s, gw)[0]!.attachedRoutes, 0);
  });

  it('TLSRouteInvalidNoMatchingListener: HTTP and HTTPS listeners do not take TLSRoutes; an unknown sectionName is no parent', () => {
    const s = load('tlsroute-invalid-no-matching-listener', [18443, 18080, 18444]);
    assert.equal(parents(s, 'TLSRoute', 'tlsroute-not-allowed-protocol-http')[0]![0], 'Accepted=False/NotAllowedByListeners');
    assert.equal(parents(s, 'TLSRoute', 'tlsroute-not-allowed-protocol-https')[0]![0], 'Accepted=False/NotAllowedByListeners');
    assert.equal(parents(s, 'TLSRoute', 'tlsroute-no-matching-section-name')[0]![0], 'Accepted=False/NoMatchingParent');
    for (const gw of ['gateway-tlsroute-http-only', 'gateway-tlsroute-https-only']) {
      assert.equal(listeners(s, gw)[0]!.attachedRoutes, 0);
      assert.deepEqual(
        listeners(s, gw)[0]!.supportedKinds.map((k) => k.kind),
        ['HTTPRoute', 'GRPCRoute'],
      );
    }
    // The TLS listener without kinds takes TLSRoutes only.
    assert.deepEqual(listeners(s, 'gateway-tlsroute-tls-passthrough-only')[0]!.supportedKinds, [{ group: 'gateway.networking.k8s.io', kind: 'TLSRoute' }]);
  });

  it('TLSRouteListenerPassthroughSupportedKinds: TLSRoute listed, TCPRoute refused with InvalidRouteKinds', () => {
    const l = listeners(load('tlsroute-listener-passthrough-supported-kinds', [18443]), 'gateway-tlsroute-passthrough-supported-kind')[0]!;
    assert.deepEqual(l.supportedKinds, [{ group: 'gateway.networking.k8s.io', kind: 'TLSRoute' }]);
    assert.equal(condition(l, 'ResolvedRefs'), 'False/InvalidRouteKinds');
    assert.equal(l.attachedRoutes, 0);
  });

  it('TLSRouteListenerTerminateNotSupported: skipped by the suite now TLSRouteModeTerminate is claimed; the listener is accepted', () => {
    // The suite runs this case only for an implementation without TLSRoute termination (Accepted False
    // UnsupportedValue); Shadowgate terminates, so its listener is accepted and served (gateway-api-tls-terminate.test.ts).
    const s = load('tlsroute-listener-terminate-not-supported', [18443]);
    const l = listeners(s, 'gateway-tlsroute-terminate-unsupported')[0]!;
    assert.equal(condition(l, 'Accepted'), 'True/Accepted');
    assert.equal(condition(l, 'Programmed'), 'True/Programmed');
    assert.deepEqual([l.attachedRoutes, l.supportedKinds], [0, [{ group: 'gateway.networking.k8s.io', kind: 'TLSRoute' }]]);
    assert.equal(
      s.problems.find((x) => x.code === 'unsupported-value'),
      undefined,
    );
    assert.deepEqual(
      s.listeners.map((x) => [x.port, x.tls?.map((t) => t.credentialName), x.tunnel?.map((r) => r.sniHosts)]),
      [[18443, ['gateway-conformance-infra/tls-terminate-checks-certificate'], [['terminate.example.com']]]],
    );
  });
});
