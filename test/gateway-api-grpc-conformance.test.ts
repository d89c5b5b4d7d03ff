// The Gateway API conformance suite's GRPCRoute cases (method and header matching, listener hostnames, weights, named
// rules, header modifiers, and the mesh weight case), replayed over real sockets with the suite's own YAML
// (test/fixtures/gateway-api/) and its expectations: real grpc-js backends reached over HTTP/2, real gRPC clients.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freePort, seededRandom, startGateway } from './harness/gateway.js';
import { backendsYaml, clean, fixture } from './harness/gateway-api.js';
import { grpc } from './harness/grpc.js';
import { callEcho, type EchoMethod, type GrpcConformance, grpcConformance, startEchoBackend } from './harness/grpc-conformance.js';

type Backend = 'v1' | 'v2' | 'v3';
interface Case {
  method?: EchoMethod;
  authority?: string;
  metadata?: Record<string, string>;
  /** Which grpc-infra-backend answers; undefined with `code`. */
  backend?: Backend;
  code?: grpc.status;
}

async function expectCases(c: GrpcConformance, cases: readonly Case[]): Promise<void> {
  for (const k of cases) {
    const label = `${k.method ?? 'Echo'} ${k.authority ?? ''} ${JSON.stringify(k.metadata ?? {})}`;
    const a = await c.call(k.method ?? 'Echo', { ...(k.authority ? { authority: k.authority } : {}), ...(k.metadata ? { metadata: k.metadata } : {}) });
    if (k.code !== undefined) assert.equal(a.code, k.code, `${label}: ${a.details}`);
    else {
      assert.equal(a.code, grpc.status.OK, `${label}: ${a.details}`);
      assert.equal(a.backend, `grpc-infra-backend-${k.backend}`, label);
    }
  }
}

async function withRoutes(files: Record<string, string>, fn: (c: GrpcConformance) => Promise<void>, opts = {}): Promise<void> {
  await clean(await grpcConformance(files, opts), fn);
}
const suite = (...names: string[]) => Object.fromEntries(names.map((n) => [`${n}.yaml`, fixture(n)]));

describe('Gateway API conformance: GRPCRoute', () => {
  it('GRPCExactMethodMatching: service and method exactly; a method no rule names is UNIMPLEMENTED', () =>
    withRoutes(suite('grpcroute-exact-method-matching'), (c) =>
      expectCases(c, [
        { method: 'Echo', backend: 'v1' },
        { method: 'EchoTwo', backend: 'v2' },
        { method: 'EchoThree', code: grpc.status.UNIMPLEMENTED },
      ]),
    ));

  it('GRPCRouteHeaderMatching: metadata matches, all must hold, more matches first, ORed matches', () =>
    withRoutes(suite('grpcroute-header-matching'), (c) =>
      expectCases(c, [
        { metadata: { Version: 'one' }, backend: 'v1' },
        { metadata: { Version: 'two' }, backend: 'v2' },
        { metadata: { Version: 'two', Color: 'orange' }, backend: 'v1' },
        { metadata: { Version: 'two', Color: 'blue' }, backend: 'v2' },
        { metadata: { Color: 'orange' }, code: grpc.status.UNIMPLEMENTED },
        { metadata: { 'Some-Other-Header': 'one' }, code: grpc.status.UNIMPLEMENTED },
        { metadata: { Color: 'blue' }, backend: 'v1' },
        { metadata: { Color: 'green' }, backend: 'v1' },
        { metadata: { Color: 'red' }, backend: 'v2' },
        { metadata: { Color: 'yellow' }, backend: 'v2' },
        { metadata: { Color: 'purple' }, code: grpc.status.UNIMPLEMENTED },
      ]),
    ));

  it('GRPCRouteListenerHostnameMatching: listeners sharing a port, each with its own GRPCRoute, by :authority', async () => {
    const port = await freePort();
    // The suite's Gateway listens on 80 and names the class by a placeholder: both replaced, nothing else.
    const yaml = fixture('grpcroute-listener-hostname-matching').replaceAll('port: 80\n', `port: ${port}\n`).replace('"{GATEWAY_CLASS_NAME}"', 'shadowgate');
    await withRoutes({ 'hostnames.yaml': yaml }, async (c) => {
      const cases: Array<[string, Backend | undefined]> = [
        ['bar.com', 'v1'],
        ['foo.bar.com', 'v2'],
        ['baz.bar.com', 'v3'],
        ['boo.bar.com', 'v3'],
        ['multiple.prefixes.bar.com', 'v3'],
        ['multiple.prefixes.foo.com', 'v3'],
        ['foo.com', undefined],
        ['no.matching.host', undefined],
      ];
      for (const [authority, backend] of cases) {
        const a = await callEcho(port, 'Echo', authority);
        if (backend) assert.equal(a.backend, `grpc-infra-backend-${backend}`, authority);
        else assert.equal(a.code, grpc.status.UNIMPLEMENTED, authority);
      }
      assert.deepEqual([c.backends.v1.calls.length, c.backends.v2.calls.length, c.backends.v3.calls.length], [1, 1, 4]);
    });
  });

  it('GRPCRouteWeight: 70/30/0 over 500 calls, within the suite tolerance; weight 0 gets nothing', () =>
    withRoutes(
      suite('grpcroute-weight'),
      async (c) => {
        const n = 500;
        for (let i = 0; i < n; i++) assert.equal((await c.call('Echo')).code, grpc.status.OK);
        const v1 = c.backends.v1.calls.length;
        assert.equal(c.backends.v3.calls.length, 0);
        assert.equal(v1 + c.backends.v2.calls.length, n);
        // The suite's tolerance: 3 binomial standard deviations.
        assert.ok(Math.abs(v1 - 0.7 * n) <= 3 * Math.sqrt(n * 0.7 * 0.3), `v1 got ${v1} of ${n}`);
      },
      { random: seededRandom(7) },
    ));

  it('GRPCRouteNamedRouteRule: a named rule routes as an unnamed one, and names its route', () =>
    withRoutes(suite('grpcroute-named-rule'), async (c) => {
      await expectCases(c, [
        { method: 'Echo', backend: 'v1' },
        { method: 'EchoTwo', backend: 'v2' },
      ]);
      const names = c.tg.gw.snapshot.listeners.flatMap((l) => l.virtualHosts.flatMap((v) => v.routes.map((r) => r.name)));
      assert.deepEqual(names.sort(), ['grpc-named-rules.1', 'grpc-named-rules.named-rule']);
    }));

  it('GRPCRouteRequestHeaderModifier: set, add and remove reach the backend as the first matching rule says', () =>
    withRoutes(suite('grpcroute-request-header-modifier'), async (c) => {
      // Three rules match Echo alike: the first (set) takes it, as precedence says (rule order breaks the tie).
      await expectCases(c, [{ method: 'Echo', metadata: { 'X-Header-Set': 'overwritten', 'Some-Other-Header': 'kept' }, backend: 'v1' }]);
      const echo = c.backends.v1.calls[0]!.metadata;
      assert.equal(echo['x-header-set'], 'set-overwrites-values');
      assert.equal(echo['some-other-header'], 'kept');
      await expectCases(c, [
        {
          method: 'EchoTwo',
          metadata: { 'X-Header-Set-2': 'set-header-2', 'X-Header-Add-2': 'add-header-2', 'X-Header-Remove-2': 'gone', 'Some-Other-Header': 'kept' },
          backend: 'v2',
        },
      ]);
      const two = c.backends.v2.calls[0]!.metadata;
      assert.equal(two['x-header-set-1'], 'header-set-1');
      assert.equal(two['x-header-set-2'], 'header-set-2');
      assert.equal(two['x-header-add-1'], 'header-add-1');
      assert.equal(two['x-header-add-2'], 'add-header-2, header-add-2');
      assert.equal(two['x-header-remove-2'], undefined);
      assert.equal(two['some-other-header'], 'kept');
    }));

  it('MeshGRPCRouteWeight: a GRPCRoute bound to a Service (GAMMA) splits its calls 70/30/0', async () => {
    const ns = 'gateway-conformance-mesh';
    const [v1, v2, v3] = await Promise.all(['echo-v1', 'echo-v2', 'echo-v3'].map((n) => startEchoBackend(n)));
    const port = await freePort();
    // The suite's Service `echo` (port 7070), taken over by the gateway on a free port: the route replaces its default route.
    const service = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: ${ns}}
spec:
  hosts: [echo.${ns}.svc.cluster.local]
  ports: [{number: ${port}, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {grpc: ${v1!.port}}}]
`;
    const tg = await startGateway(
      {
        'echo.yaml': service,
        'versions.yaml': backendsYaml([v1!, v2!, v3!], { ns, number: port, portName: 'grpc', protocol: 'HTTP2' }),
        'route.yaml': fixture('mesh-grpcroute-weight').replaceAll('7070', String(port)),
      },
      { random: seededRandom(3) },
    );
    try {
      assert.deepEqual(
        tg.gw.snapshot.problems.filter((p) => p.severity !== 'info'),
        [],
      );
      const n = 500;
      for (let i = 0; i < n; i++) assert.equal((await callEcho(port, 'Echo', `echo.${ns}.svc.cluster.local`)).code, grpc.status.OK);
      assert.equal(v3!.calls.length, 0);
      assert.equal(v1!.calls.length + v2!.calls.length, n);
      assert.ok(Math.abs(v1!.calls.length - 0.7 * n) <= 3 * Math.sqrt(n * 0.7 * 0.3), `echo-v1 got ${v1!.calls.length} of ${n}`);
    } finally {
      await tg.close();
      for (const b of [v1!, v2!, v3!]) b.close();
    }
  });
});
