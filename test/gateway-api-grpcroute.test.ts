// GRPCRoute beyond the conformance suite: the CRD's validation rules as field-path problems, status in files (kinds,
// UnsupportedProtocol, the HTTPRoute/GRPCRoute hostname rule), GRPCRoute's own precedence, h2c to backends whatever
// their port's HTTP protocol, RequestMirror over gRPC with the comparison, and error statuses, over real sockets.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { loadSnapshot, type Problem, type Snapshot } from '../src/config/index.js';
import { client, send } from './harness/gateway.js';
import { clean, NS } from './harness/gateway-api.js';
import { grpc } from './harness/grpc.js';
import { ECHO_SERVICE, type GrpcConformance, grpcConformance } from './harness/grpc-conformance.js';
import { waitFor } from './harness/wait.js';

after(() => client.close());

const G = 'gateway.networking.k8s.io';

function grpcRoute(name: string, spec: string, meta = ''): string {
  return `apiVersion: ${G}/v1
kind: GRPCRoute
metadata: {name: ${name}, namespace: ${NS}${meta}}
spec:
${spec}`;
}

function httpRoute(name: string, spec: string, meta = ''): string {
  return grpcRoute(name, spec, meta).replace('kind: GRPCRoute', 'kind: HTTPRoute');
}

const BASE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: backends, namespace: ${NS}}
spec:
  hosts: [v1.${NS}.svc.cluster.local]
  ports: [{number: 8080, name: http, protocol: HTTP}, {number: 9000, name: tcp, protocol: TCP}, {number: 9090, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: ${G}/v1
kind: Gateway
metadata: {name: gw, namespace: ${NS}}
spec:
  gatewayClassName: shadowgate
  listeners:
  - {name: http, port: 18080, protocol: HTTP}
  - {name: grpc-only, port: 18081, protocol: HTTP, allowedRoutes: {kinds: [{kind: GRPCRoute}, {kind: TCPRoute}]}}
  - {name: http-only, port: 18082, protocol: HTTP, allowedRoutes: {kinds: [{kind: HTTPRoute}]}}
`;

function load(...docs: string[]): Snapshot {
  return loadSnapshot([{ path: 'base.yaml', text: BASE }, ...docs.map((text, i) => ({ path: `f${i}.yaml`, text }))]);
}
const of = (s: Snapshot, resource: string): Problem[] => s.problems.filter((p) => p.resource === resource);
type Parent = { parentRef: { sectionName?: string }; conditions: Array<{ type: string; status: string; reason: string; message: string }> };
const parents = (s: Snapshot, kind: string, name: string) => (s.resources.find((r) => r.kind === kind && r.name === name)?.status?.parents ?? []) as Parent[];
const conditions = (s: Snapshot, kind: string, name: string) => parents(s, kind, name).map((p) => p.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`));
const ECHO = (method: string) => `{method: {service: ${ECHO_SERVICE}, method: ${method}}}`;

describe('GRPCRoute: the CRD validation rules', () => {
  it('reports each violation at its field, line and column, and disables the route', () => {
    const s = load(
      grpcRoute(
        'bad',
        `  parentRefs: [{name: gw}]
  rules:
  - name: twice
    matches:
    - method: {}
    - method: {service: "foo/bar"}
    - method: {method: "Echo!"}
    - method: {type: RegularExpression, service: "(["}
    - method: {type: Prefix, service: foo}
    - headers: [{name: "bad header", value: x}, {name: ok, value: ""}]
    filters:
    - {type: URLRewrite}
    - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: a, value: b}]}}
    - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: a, value: b}]}}
    - type: RequestMirror
      requestMirror: {backendRef: {name: v1, port: 8080}, percent: 5, fraction: {numerator: 1}}
    backendRefs: [{name: v1}]
    timeouts: {request: 1s}
  - name: twice
    backendRefs: [{name: v1, port: 8080}]
`,
      ),
    );
    const problems = of(s, `GRPCRoute ${NS}/bad`);
    const at = (path: string) => problems.find((p) => p.path === path && p.severity === 'error');
    const r = 'spec.rules[0]';
    assert.equal(at(`${r}.matches[0].method.service`)?.code, 'missing-field');
    assert.match(at(`${r}.matches[0].method.service`)!.message, /one or both of 'service' or 'method'/);
    assert.equal(at(`${r}.matches[1].method.service`)?.code, 'invalid-value');
    assert.equal(at(`${r}.matches[2].method.method`)?.code, 'invalid-value');
    assert.equal(at(`${r}.matches[3].method.service`)?.code, 'invalid-regex');
    assert.equal(at(`${r}.matches[4].method.type`)?.code, 'invalid-value');
    assert.equal(at(`${r}.matches[5].headers[0].name`)?.code, 'invalid-header-name');
    assert.equal(at(`${r}.matches[5].headers[1].value`)?.code, 'invalid-value');
    assert.match(at(`${r}.filters[0].type`)!.message, /not a GRPCRoute filter type/);
    assert.equal(at(`${r}.filters[2].type`)?.code, 'duplicate-filter');
    assert.equal(at(`${r}.filters[3].requestMirror.fraction`)?.code, 'conflicting-fields');
    assert.equal(at(`${r}.backendRefs[0].port`)?.code, 'missing-field');
    assert.equal(at(`${r}.timeouts`)?.code, 'unknown-field', 'GRPCRouteRule has no timeouts');
    assert.equal(at('spec.rules[1].name')?.code, 'duplicate-rule-name');
    // Every problem names the file and where in it (file:line:col).
    assert.ok(problems.every((p) => p.file === 'f0.yaml' && typeof p.line === 'number' && typeof p.column === 'number'));
    assert.equal(s.resources.find((x) => x.name === 'bad')?.accepted, false);
    assert.deepEqual(
      s.listeners.find((l) => l.port === 18080)?.virtualHosts.flatMap((v) => v.routes),
      [],
      'a disabled route serves nothing',
    );
  });

  it('a valid method match becomes the path GEP-1016 says; ExtensionRef and no valid backend are answered, never skipped', () => {
    const s = load(
      grpcRoute(
        'ok',
        `  parentRefs: [{name: gw, sectionName: http}]
  rules:
  - matches: [${ECHO('Echo')}, {method: {service: .pkg.Svc}}, {method: {method: Get}}, {method: {type: RegularExpression, service: "a|b", method: "Get.*"}}]
    backendRefs: [{name: v1, port: 8080}]
  - matches: [{method: {service: pkg.Ext}}]
    filters: [{type: ExtensionRef, extensionRef: {group: example.com, kind: Filter, name: f}}]
    backendRefs: [{name: v1, port: 8080}]
  - matches: [{method: {service: pkg.None}}]
    backendRefs: [{name: missing, port: 8080}]
`,
      ),
    );
    assert.deepEqual(
      of(s, `GRPCRoute ${NS}/ok`)
        .filter((p) => p.severity === 'error')
        .map((p) => p.code),
      ['backend-not-found'],
    );
    const routes = s.listeners.find((l) => l.port === 18080)!.virtualHosts.find((v) => v.host === '*')!.routes;
    assert.deepEqual(
      routes.filter((r) => r.name === 'ok.0').map((r) => r.matches[0]!.uri),
      [
        // Most specific first: service characters, then method characters.
        { kind: 'exact', value: `/${ECHO_SERVICE}/Echo` },
        { kind: 'prefix', value: '/pkg.Svc/' },
        { kind: 'regex', value: '/(?:a|b)/(?:Get.*)' },
        { kind: 'regex', value: '/[^/]+/Get' },
      ],
    );
    assert.deepEqual(routes.find((r) => r.name === 'ok.1')!.action, { kind: 'directResponse', response: { status: 500 } });
    // GRPCRouteRule.backendRefs: no valid backend → UNAVAILABLE (503 for a gRPC client).
    assert.deepEqual(routes.find((r) => r.name === 'ok.2')!.action, { kind: 'directResponse', response: { status: 503 } });
  });
});

describe('GRPCRoute: status in files', () => {
  it('listener kinds, attachedRoutes, UnsupportedProtocol and the h2c cluster GRPCRoute backends are reached by', () => {
    const s = load(
      grpcRoute(
        'g',
        `  parentRefs: [{name: gw, sectionName: http}, {name: gw, sectionName: grpc-only}, {name: gw, sectionName: http-only}]
  rules: [{backendRefs: [{name: v1, port: 8080}]}]`,
      ),
      grpcRoute('tcp', `  parentRefs: [{name: gw, sectionName: grpc-only}]\n  hostnames: [tcp.example]\n  rules: [{backendRefs: [{name: v1, port: 9000}]}]`),
      grpcRoute('h2', `  parentRefs: [{name: gw, sectionName: grpc-only}]\n  hostnames: [h2.example]\n  rules: [{backendRefs: [{name: v1, port: 9090}]}]`),
    );
    assert.deepEqual(conditions(s, 'GRPCRoute', 'g'), [
      ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs'],
      ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs'],
      ['Accepted=False/NotAllowedByListeners', 'ResolvedRefs=True/ResolvedRefs'],
    ]);
    assert.deepEqual(conditions(s, 'GRPCRoute', 'tcp'), [['Accepted=True/Accepted', 'ResolvedRefs=False/UnsupportedProtocol']]);
    assert.equal(of(s, `GRPCRoute ${NS}/tcp`)[0]?.code, 'unsupported-backend-protocol');
    const gw = s.resources.find((r) => r.kind === 'Gateway')!.status as {
      listeners: Array<{ name: string; attachedRoutes: number; supportedKinds: unknown; conditions: Array<{ type: string; status: string; reason: string }> }>;
    };
    const listener = (name: string) => gw.listeners.find((l) => l.name === name)!;
    assert.deepEqual(listener('http').supportedKinds, [
      { group: G, kind: 'HTTPRoute' },
      { group: G, kind: 'GRPCRoute' },
    ]);
    assert.deepEqual(listener('grpc-only').supportedKinds, [{ group: G, kind: 'GRPCRoute' }]);
    assert.deepEqual(listener('http-only').supportedKinds, [{ group: G, kind: 'HTTPRoute' }]);
    // TCPRoute is not served: ResolvedRefs InvalidRouteKinds, GRPCRoutes still attach (as the suite's GatewayInvalidRouteKind).
    assert.equal(listener('grpc-only').conditions.find((c) => c.type === 'ResolvedRefs')?.reason, 'InvalidRouteKinds');
    assert.deepEqual(
      gw.listeners.map((l) => [l.name, l.attachedRoutes]),
      [
        ['http', 1],
        ['grpc-only', 3],
        ['http-only', 0],
      ],
    );
    // An HTTP port gets an HTTP/2 twin for gRPC; a GRPC port is already HTTP/2; HTTP/1.1 traffic keeps its cluster.
    const h2c = s.clusters[`outbound|8080||v1.${NS}.svc.cluster.local|h2c`];
    assert.equal(h2c?.http2, true);
    assert.equal(s.clusters[`outbound|8080||v1.${NS}.svc.cluster.local`]?.http2, undefined);
    const dest = (host: string) => {
      const route = s.listeners.find((l) => l.port === 18081)!.virtualHosts.find((v) => v.host === host)!.routes[0]!;
      return route.action.kind === 'route' ? route.action.destinations[0]!.cluster : undefined;
    };
    assert.equal(dest('*'), h2c.name);
    assert.equal(dest('h2.example'), `outbound|9090||v1.${NS}.svc.cluster.local`);
  });

  it('an HTTPRoute and a GRPCRoute sharing a hostname on a listener: exactly one is accepted, the oldest, then by namespace/name', () => {
    const backend = '  rules: [{backendRefs: [{name: v1, port: 8080}]}]';
    const s = load(
      // Overlapping hostnames (a wildcard covers the other): the older GRPCRoute wins.
      httpRoute(
        'web',
        `  parentRefs: [{name: gw, sectionName: http}]\n  hostnames: ["*.example.com"]\n${backend}`,
        ', creationTimestamp: "2026-02-01T00:00:00Z"',
      ),
      grpcRoute(
        'api',
        `  parentRefs: [{name: gw, sectionName: http}]\n  hostnames: [api.example.com]\n${backend}`,
        ', creationTimestamp: "2026-01-01T00:00:00Z"',
      ),
      // Disjoint hostnames: both accepted.
      httpRoute('other', `  parentRefs: [{name: gw, sectionName: http}]\n  hostnames: [other.example.org]\n${backend}`),
      // Same age (none, as in files): namespace/name decides, "a-grpc" before "b-http".
      httpRoute('b-http', `  parentRefs: [{name: gw, sectionName: http}]\n  hostnames: [same.example.net]\n${backend}`),
      grpcRoute('a-grpc', `  parentRefs: [{name: gw, sectionName: http}]\n  hostnames: [same.example.net]\n${backend}`),
    );
    assert.deepEqual(conditions(s, 'GRPCRoute', 'api'), [['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']]);
    assert.deepEqual(conditions(s, 'HTTPRoute', 'web'), [['Accepted=False/NotAllowedByListeners', 'ResolvedRefs=True/ResolvedRefs']]);
    assert.match(parents(s, 'HTTPRoute', 'web')[0]!.conditions[0]!.message, /GRPCRoute gateway-conformance-infra\/api \(older\)/);
    assert.deepEqual(
      of(s, `HTTPRoute ${NS}/web`).map((p) => [p.code, p.path]),
      [['route-kind-conflict', 'spec.parentRefs[0]']],
    );
    assert.deepEqual(conditions(s, 'HTTPRoute', 'other'), [['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']]);
    assert.deepEqual(conditions(s, 'GRPCRoute', 'a-grpc'), [['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']]);
    assert.deepEqual(conditions(s, 'HTTPRoute', 'b-http'), [['Accepted=False/NotAllowedByListeners', 'ResolvedRefs=True/ResolvedRefs']]);
    // Only the accepted routes serve: no virtual host mixes the two kinds.
    const vhosts = s.listeners.find((l) => l.port === 18080)!.virtualHosts;
    const sources = (host: string) => vhosts.find((v) => v.host === host)?.routes.map((r) => r.source);
    assert.deepEqual(sources('api.example.com'), [`GRPCRoute ${NS}/api`]);
    assert.deepEqual(sources('same.example.net'), [`GRPCRoute ${NS}/a-grpc`]);
    assert.deepEqual(sources('*.example.com'), undefined);
    const gw = s.resources.find((r) => r.kind === 'Gateway')!.status as { listeners: Array<{ name: string; attachedRoutes: number }> };
    assert.equal(gw.listeners.find((l) => l.name === 'http')!.attachedRoutes, 3, 'the rejected routes do not count');
  });
});

async function withGrpc(
  files: Record<string, string>,
  fn: (c: GrpcConformance) => Promise<void>,
  opts: Parameters<typeof grpcConformance>[1] = {},
  warnings: string[] = [],
) {
  await clean(await grpcConformance(files, opts), fn, warnings);
}
const backend = (v: string, extra = '') => `{name: grpc-infra-backend-${v}, port: 8080${extra}}`;

describe('GRPCRoute over real sockets', () => {
  it("precedence as GRPCRoute's spec states: hostname, service characters, method characters, header matches, age, name, rule", () =>
    withGrpc(
      {
        'new.yaml': grpcRoute(
          'r-new',
          `  parentRefs: [{name: same-namespace}]
  hostnames: ["*.example.com"]
  rules:
  - matches: [{method: {service: ${ECHO_SERVICE}}}]
    backendRefs: [${backend('v1')}]
  - matches: [${ECHO('EchoTwo')}]
    backendRefs: [${backend('v2')}]
  - matches: [{method: {method: EchoThree}, headers: [{name: x-a, value: "1"}, {name: x-b, value: "1"}]}]
    backendRefs: [${backend('v3')}]
`,
          ', creationTimestamp: "2026-02-01T00:00:00Z"',
        ),
        'old.yaml': grpcRoute(
          'r-old',
          `  parentRefs: [{name: same-namespace}]
  hostnames: ["*.example.com"]
  rules:
  - matches: [{method: {service: ${ECHO_SERVICE}, method: Echo}, headers: [{name: x-old, value: "1"}]}]
    backendRefs: [${backend('v3')}]
  - matches: [{method: {type: RegularExpression, service: "gateway_api_conformance\\\\..*", method: "Echo.*"}}]
    backendRefs: [${backend('v2')}]
  - matches: [${ECHO('EchoTwo')}]
    backendRefs: [${backend('v3')}]
`,
          ', creationTimestamp: "2026-01-01T00:00:00Z"',
        ),
        'exact.yaml': grpcRoute(
          'r-exact',
          `  parentRefs: [{name: same-namespace}]
  hostnames: [grpc.example.com]
  rules: [{matches: [{method: {method: Echo}}], backendRefs: [${backend('v3')}]}]
`,
        ),
        'names.yaml': [
          grpcRoute('b-route', `  parentRefs: [{name: same-namespace}]\n  hostnames: [n.example.com]\n  rules: [{backendRefs: [${backend('v1')}]}]\n`),
          grpcRoute('a-route', `  parentRefs: [{name: same-namespace}]\n  hostnames: [n.example.com]\n  rules: [{backendRefs: [${backend('v2')}]}]\n`),
        ].join('---\n'),
      },
      async (c) => {
        const cases: Array<[string, 'Echo' | 'EchoTwo' | 'EchoThree', Record<string, string>, string]> = [
          // The longest service (r-new's exact one) beats the regular expression's shorter one.
          ['a.example.com', 'Echo', {}, 'v1'],
          // Same service, more method characters: r-old's header rule.
          ['a.example.com', 'Echo', { 'x-old': '1' }, 'v3'],
          // Equal service and method: the older route (r-old) over r-new.
          ['a.example.com', 'EchoTwo', {}, 'v3'],
          // Service characters come before header matches: r-new's service-only rule, not its two-header rule.
          ['a.example.com', 'EchoThree', { 'x-a': '1', 'x-b': '1' }, 'v1'],
          // The non-wildcard hostname first, though its match names no service.
          ['grpc.example.com', 'Echo', {}, 'v3'],
          ['grpc.example.com', 'EchoTwo', {}, 'v3'],
          // Equal everything, no creationTimestamp: namespace/name alphabetically.
          ['n.example.com', 'Echo', {}, 'v2'],
        ];
        for (const [authority, method, metadata, want] of cases) {
          const a = await c.call(method, { authority, metadata });
          assert.equal(a.backend, `grpc-infra-backend-${want}`, `${authority} ${method} ${JSON.stringify(metadata)}: ${a.details}`);
        }
      },
    ));

  it('reaches backends over HTTP/2 although their port says HTTP; answers UNAVAILABLE without a backend, UNKNOWN for an ExtensionRef', () =>
    withGrpc(
      {
        'route.yaml': grpcRoute(
          'r',
          `  parentRefs: [{name: same-namespace}]
  rules:
  - matches: [${ECHO('Echo')}]
    backendRefs: [${backend('v1')}]
  - matches: [${ECHO('EchoTwo')}]
    backendRefs: [${backend('v2', ', weight: 0')}]
  - matches: [${ECHO('EchoThree')}]
    filters: [{type: ExtensionRef, extensionRef: {group: example.com, kind: Auth, name: a}}]
    backendRefs: [${backend('v3')}]
`,
        ),
      },
      async (c) => {
        // grpc-js servers speak HTTP/2 only: the answer proves the h2c twin of the HTTP port.
        assert.equal((await c.call('Echo')).backend, 'grpc-infra-backend-v1');
        assert.equal((await c.call('EchoTwo')).code, grpc.status.UNAVAILABLE);
        assert.equal((await c.call('EchoThree')).code, grpc.status.UNKNOWN);
        assert.equal(c.backends.v2.calls.length + c.backends.v3.calls.length, 0);
        // The same rule answers a plain HTTP/1.1 request with the HTTP error the spec names.
        const a = await send(c.port, `/${ECHO_SERVICE}/EchoThree`, { headers: { host: 'gateway.example' } });
        assert.equal(a.status, 500);
      },
      { protocol: 'HTTP' },
      ['not-supported spec.rules[2].filters[0].type'],
    ));

  it('RequestMirror: the caller gets v1, v2 and v3 get a copy (percent 100 and fraction 1/1), 0% sends none; the answers are compared', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shadowgate-grpcroute-'));
    try {
      await withGrpc(
        {
          'route.yaml': grpcRoute(
            'mirrored',
            `  parentRefs: [{name: same-namespace}]
  rules:
  - name: echo
    matches: [${ECHO('Echo')}]
    filters:
    - {type: RequestMirror, requestMirror: {backendRef: ${backend('v2')}}}
    - {type: RequestMirror, requestMirror: {backendRef: ${backend('v3')}, fraction: {numerator: 1, denominator: 1}}}
    - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-set, value: "yes"}]}}
    backendRefs: [${backend('v1')}]
  - name: none
    matches: [${ECHO('EchoTwo')}]
    filters: [{type: RequestMirror, requestMirror: {backendRef: ${backend('v2')}, percent: 0}}]
    backendRefs: [${backend('v1')}]
`,
          ),
          'settings.yaml': `apiVersion: shadowgate.dev/v1alpha1
kind: ShadowgateConfig
metadata: {name: shadowgate}
spec:
  compare: {thresholds: {minSample: 5}}
`,
        },
        async (c) => {
          const n = 10;
          for (let i = 0; i < n; i++) {
            assert.equal((await c.call('Echo', { metadata: { 'x-call': String(i) } })).backend, 'grpc-infra-backend-v1');
            assert.equal((await c.call('EchoTwo')).backend, 'grpc-infra-backend-v1');
          }
          await c.backends.v2.waitForCalls(n);
          await c.backends.v3.waitForCalls(n);
          await c.tg.gw.shadows.idle();
          for (const b of [c.backends.v2, c.backends.v3]) {
            assert.deepEqual(new Set(b.calls.map((x) => x.method)), new Set(['Echo']), `${b.name}: copies of Echo only`);
            assert.equal(b.calls.length, n);
            assert.equal(b.calls[0]!.metadata['x-shadowgate-mirror'], 'true');
            assert.equal(b.calls[0]!.metadata['x-set'], 'yes', 'the rule filter reaches the copy too');
          }
          assert.equal(c.backends.v1.calls.length, 2 * n, 'the primary gets each call once');
          assert.equal(await c.tg.gw.metrics.total('shadowgate_shadow_requests_total', { response_code: '200' }), 2 * n);
          // The comparison takes gRPC answers as for Istio routes: the endpoint is the call's service/method.
          const api = async <T>(path: string): Promise<T> => (await (await fetch(`http://${c.tg.gw.adminAddress}/api/${path}`)).json()) as T;
          const eps = await waitFor(
            () => api<{ endpoints: Array<{ endpoint: string; compared: number }> }>('endpoints'),
            (e) => (e.endpoints[0]?.compared ?? 0) >= n,
            { what: `${n} compared exchanges` },
          );
          assert.deepEqual(
            eps.endpoints.map((e) => e.endpoint),
            [`POST /${ECHO_SERVICE}/Echo`],
          );
          // Status as data in /config_dump.
          const dump = (await (await request(`http://${c.tg.gw.adminAddress}/config_dump`, { dispatcher: client })).body.json()) as {
            resources: Array<{ kind: string; name: string; status?: { parents?: Parent[] } }>;
          };
          const route = dump.resources.find((r) => r.kind === 'GRPCRoute' && r.name === 'mirrored')!;
          assert.deepEqual(
            route.status!.parents![0]!.conditions.map((x) => `${x.type}=${x.status}`),
            ['Accepted=True', 'ResolvedRefs=True'],
          );
        },
        { store: join(dir, 'compare.db') },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
