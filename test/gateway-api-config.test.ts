// Gateway API in config/: field-path problems, attachment and status reasons, precedence ties, no effect on Istio's rules.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSnapshot, type Problem, type Route, type Snapshot, withAddresses, withCertificateChecks } from '../src/config/index.js';
import { fixture, gatewayYaml } from './harness/gateway-api.js';

const BACKENDS = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: backends, namespace: apps}
spec:
  hosts: [v1.apps.svc.cluster.local, v2.apps.svc.cluster.local]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: apps}
spec:
  gatewayClassName: shadowgate
  listeners:
  - {name: http, port: 18080, protocol: HTTP, hostname: "*.example.com"}
  - {name: open, port: 18081, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
  - {name: https, port: 18443, protocol: TLS, tls: {mode: Terminate, certificateRefs: [{name: cert}]}}
  - {name: taken, port: 8080, protocol: HTTP}
`;

function load(...docs: string[]): Snapshot {
  return loadSnapshot([{ path: 'base.yaml', text: BACKENDS }, ...docs.map((text, i) => ({ path: `f${i}.yaml`, text }))]);
}

function route(name: string, spec: string, ns = 'apps', meta = ''): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: ${ns}${meta}}
spec:
${spec}`;
}

const of = (s: Snapshot, resource: string): Problem[] => s.problems.filter((p) => p.resource === resource);

function parentConditions(s: Snapshot, name: string): Array<[string, string, string]> {
  const status = s.resources.find((r) => r.kind === 'HTTPRoute' && r.name === name)?.status;
  const parents = (status?.parents ?? []) as Array<{ conditions: Array<{ type: string; status: string; reason: string }> }>;
  return parents.flatMap((p) => p.conditions.map((c): [string, string, string] => [c.type, c.status, c.reason]));
}

function routesOn(s: Snapshot, port: number, host = '*'): Route[] {
  return s.listeners.find((l) => l.port === port)?.virtualHosts.find((v) => v.host === host)?.routes ?? [];
}

describe('Gateway API: validation with field paths', () => {
  it('reports CRD rule violations at their field, line and column, and disables the route', () => {
    const s = load(
      route(
        'bad',
        `  parentRefs: [{name: gw}]
  hostnames: ["Not_A_Host"]
  rules:
  - matches:
    - path: {type: PathPrefix, value: "/a/../b"}
      method: FETCH
      headers: [{name: "bad header", value: x}]
    filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: v2, port: 8080}, percent: 50, fraction: {numerator: 1}}
    - type: URLRewrite
      requestRedirect: {statusCode: 302}
    backendRefs: [{name: v1, weight: 2000000}]
    timeouts: {request: 10 seconds}
    retry: {attempts: 2, codes: [503, 200]}
`,
      ),
    );
    const problems = of(s, 'HTTPRoute apps/bad');
    const at = (path: string) => problems.find((p) => p.path === path);
    assert.equal(at('spec.hostnames[0]')?.code, 'invalid-hostname');
    assert.equal(at('spec.rules[0].matches[0].path.value')?.code, 'invalid-path');
    assert.equal(at('spec.rules[0].matches[0].method')?.code, 'invalid-value');
    assert.equal(at('spec.rules[0].matches[0].headers[0].name')?.code, 'invalid-header-name');
    assert.equal(at('spec.rules[0].filters[0].requestMirror.fraction')?.code, 'conflicting-fields');
    assert.equal(at('spec.rules[0].filters[1].requestRedirect')?.code, 'conflicting-fields');
    assert.equal(at('spec.rules[0].backendRefs[0].port')?.code, 'missing-field');
    assert.equal(at('spec.rules[0].backendRefs[0].weight')?.code, 'out-of-range');
    assert.equal(at('spec.rules[0].timeouts.request')?.code, 'bad-duration');
    assert.equal(at('spec.rules[0].retry.codes[1]')?.code, 'out-of-range');
    assert.ok(problems.every((p) => p.file === 'f0.yaml' && typeof p.line === 'number'));
    assert.equal(s.resources.find((r) => r.name === 'bad')?.accepted, false);
    // A disabled route serves nothing.
    assert.deepEqual(routesOn(s, 18081), []);
  });

  it('refuses header values and rewrite paths that would split a request or a Location header', () => {
    const s = load(
      route(
        'inject',
        `  parentRefs: [{name: gw, sectionName: open}]
  rules:
  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x, value: "a\\r\\nHost: evil"}]}
    - type: URLRewrite
      urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: "/a b\\r\\nX: y"}}
    backendRefs: [{name: v1, port: 8080}]
`,
      ),
    );
    assert.deepEqual(
      of(s, 'HTTPRoute apps/inject').map((p) => [p.code, p.path]),
      [
        ['invalid-header-value', 'spec.rules[0].filters[0].requestHeaderModifier.set[0].value'],
        ['invalid-path', 'spec.rules[0].filters[1].urlRewrite.path.replaceFullPath'],
      ],
    );
  });

  it('unknown kinds of the group and unknown versions are reported, not guessed', () => {
    const s = loadSnapshot([
      {
        path: 'x.yaml',
        text: `apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: {name: t}
spec: {}
---
apiVersion: gateway.networking.k8s.io/v2
kind: HTTPRoute
metadata: {name: h}
spec: {}
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: GRPCRoute
metadata: {name: g}
spec: {}
`,
      },
    ]);
    assert.deepEqual(
      s.problems.map((p) => [p.severity, p.code]),
      [
        ['warning', 'not-supported'],
        ['error', 'unknown-version'],
        // v1alpha2 is no longer served by the GRPCRoute CRD.
        ['error', 'unknown-version'],
      ],
    );
  });
});

describe('Gateway API: attachment and status', () => {
  it('writes Accepted/ResolvedRefs with the reasons the spec names', () => {
    const s = load(
      route('ok', '  parentRefs: [{name: gw, sectionName: open}]\n  rules: [{backendRefs: [{name: v1, port: 8080}]}]'),
      route('no-listener', '  parentRefs: [{name: gw, sectionName: nope}]\n  rules: [{backendRefs: [{name: v1, port: 8080}]}]'),
      route('no-gateway', '  parentRefs: [{name: missing}]\n  rules: [{backendRefs: [{name: v1, port: 8080}]}]'),
      route('wrong-port', '  parentRefs: [{name: gw, sectionName: open, port: 18080}]\n  rules: [{backendRefs: [{name: v1, port: 8080}]}]'),
      route('hostname', '  parentRefs: [{name: gw, sectionName: http}]\n  hostnames: [shop.example.org]\n  rules: [{backendRefs: [{name: v1, port: 8080}]}]'),
      route(
        'other-ns',
        '  parentRefs: [{name: gw, namespace: apps, sectionName: http}]\n  rules: [{backendRefs: [{name: v1, namespace: apps, port: 8080}]}]',
        'team',
      ),
      route('missing-backend', '  parentRefs: [{name: gw, sectionName: open}]\n  rules: [{backendRefs: [{name: v9, port: 8080}]}]'),
      route('https', '  parentRefs: [{name: gw, sectionName: https}]\n  rules: [{backendRefs: [{name: v1, port: 8080}]}]'),
    );
    assert.deepEqual(parentConditions(s, 'ok'), [
      ['Accepted', 'True', 'Accepted'],
      ['ResolvedRefs', 'True', 'ResolvedRefs'],
    ]);
    assert.equal(parentConditions(s, 'no-listener')[0]![2], 'NoMatchingParent');
    assert.equal(parentConditions(s, 'no-gateway')[0]![2], 'NoMatchingParent');
    assert.equal(parentConditions(s, 'wrong-port')[0]![2], 'NoMatchingParent');
    assert.equal(parentConditions(s, 'hostname')[0]![2], 'NoMatchingListenerHostname');
    assert.equal(parentConditions(s, 'other-ns')[0]![2], 'NotAllowedByListeners');
    assert.deepEqual(parentConditions(s, 'other-ns')[1], ['ResolvedRefs', 'False', 'RefNotPermitted']);
    assert.deepEqual(parentConditions(s, 'missing-backend')[1], ['ResolvedRefs', 'False', 'BackendNotFound']);
    assert.equal(parentConditions(s, 'https')[0]![2], 'NotAllowedByListeners');
    assert.equal(of(s, 'HTTPRoute apps/hostname')[0]?.path, 'spec.parentRefs[0]');

    const gw = s.resources.find((r) => r.kind === 'Gateway')!.status!;
    const listeners = gw.listeners as Array<{ name: string; attachedRoutes: number; conditions: Array<{ type: string; status: string; reason: string }> }>;
    const accepted = (name: string) => listeners.find((l) => l.name === name)!.conditions.find((c) => c.type === 'Accepted')!;
    // A TLS listener in Terminate mode serves TLSRoutes (TLSRouteModeTerminate): accepted, but no HTTPRoute's.
    assert.equal(accepted('https').reason, 'Accepted');
    assert.equal(accepted('taken').reason, 'PortUnavailable');
    assert.equal(listeners.find((l) => l.name === 'open')!.attachedRoutes, 2);
    assert.deepEqual(
      (gw.conditions as Array<{ reason: string }>).map((c) => c.reason),
      ['ListenersNotValid', 'Programmed'],
    );
    // Listeners on free ports are served, the TLS Terminate one too (as a TLS tunnel port).
    assert.deepEqual(
      s.listeners.map((l) => l.port).filter((p) => p > 18000),
      [18080, 18081, 18443],
    );
  });

  it('leaves Gateways of other controllers alone and answers for its own GatewayClass', () => {
    const s = load(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec: {controllerName: istio.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: theirs, namespace: apps}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 18090, protocol: HTTP}]
`);
    assert.equal(
      s.listeners.some((l) => l.port === 18090),
      false,
    );
    assert.equal(s.resources.find((r) => r.name === 'theirs')!.status, undefined);
    assert.ok(s.problems.some((p) => p.code === 'not-our-gateway'));
  });
});

describe('Gateway API: precedence', () => {
  it('across routes: the oldest creationTimestamp, then namespace/name, then rule order, whatever the file order', () => {
    const rule = (b: string) =>
      `  parentRefs: [{name: gw, namespace: apps, sectionName: open}]\n  rules:\n  - matches: [{path: {type: PathPrefix, value: /a}}]\n    backendRefs: [{name: ${b}, namespace: apps, port: 8080}]`;
    const s = load(
      route('zz-newer', rule('v2'), 'apps', ', creationTimestamp: "2026-01-02T00:00:00Z"'),
      route('yy-older', rule('v1'), 'apps', ', creationTimestamp: "2026-01-01T00:00:00Z"'),
      route('bb', rule('v2')),
      route('aa', rule('v1')),
    );
    assert.deepEqual(
      routesOn(s, 18081).map((r) => r.source),
      ['HTTPRoute apps/yy-older', 'HTTPRoute apps/zz-newer', 'HTTPRoute apps/aa', 'HTTPRoute apps/bb'],
    );
  });

  it('exact, then the longest prefix, then regex; method, headers, query params break ties', () => {
    const s = load(
      route(
        'p',
        `  parentRefs: [{name: gw, sectionName: open}]
  rules:
  - matches: [{path: {type: RegularExpression, value: "/a.*"}}]
    backendRefs: [{name: v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /a}}]
    backendRefs: [{name: v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /a}, queryParams: [{name: q, value: "1"}]}]
    backendRefs: [{name: v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /a}, headers: [{name: h, value: "1"}]}]
    backendRefs: [{name: v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /a}, method: GET}]
    backendRefs: [{name: v1, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /a/b/}}]
    backendRefs: [{name: v1, port: 8080}]
  - matches: [{path: {type: Exact, value: /a}}]
    backendRefs: [{name: v1, port: 8080}]
`,
      ),
    );
    assert.deepEqual(
      routesOn(s, 18081).map((r) => r.name),
      ['p.6', 'p.5', 'p.4', 'p.3', 'p.2', 'p.1', 'p.0'],
    );
  });
});

describe('Gateway API: GAMMA', () => {
  it('a Service parentRef binds the routes to that service, on the port its port or sectionName names', () => {
    const s = load(
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: apps}
spec:
  hosts: [web]
  ports: [{number: 18100, name: http, protocol: HTTP}, {number: 18101, name: admin, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`,
      route('by-name', '  parentRefs: [{group: "", kind: Service, name: web, sectionName: admin}]\n  rules: [{backendRefs: [{name: v1, port: 8080}]}]'),
      route('wrong-name', '  parentRefs: [{group: "", kind: Service, name: web, sectionName: nope}]\n  rules: [{backendRefs: [{name: v1, port: 8080}]}]'),
      route(
        'other-ns',
        '  parentRefs: [{group: "", kind: Service, name: web, namespace: apps}]\n  rules: [{backendRefs: [{name: v1, namespace: apps, port: 8080}]}]',
        'team',
      ),
    );
    const host = 'web.apps.svc.cluster.local';
    const vh = (port: number) => s.listeners.find((l) => l.port === port)!.virtualHosts.find((v) => v.host === host)!;
    assert.deepEqual(
      vh(18101).routes.map((r) => r.source),
      ['HTTPRoute apps/by-name'],
    );
    assert.deepEqual(
      vh(18100).routes.map((r) => r.name),
      ['default'],
      'the other port keeps its default route',
    );
    assert.equal(parentConditions(s, 'wrong-name')[0]![2], 'NoMatchingParent');
    // A consumer route (another namespace) would need to know the caller's namespace: not supported, said so.
    assert.equal(parentConditions(s, 'other-ns')[0]![2], 'UnsupportedValue');
  });
});

describe('Gateway API next to Istio', () => {
  it('a VirtualService keeps its host when an HTTPRoute binds to the same Service, with a warning', () => {
    const s = load(
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: apps}
spec:
  hosts: [web]
  ports: [{number: 18100, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: apps}
spec:
  hosts: [web]
  http: [{route: [{destination: {host: web}}]}]
`,
      route('web', '  parentRefs: [{group: "", kind: Service, name: web}]\n  rules: [{backendRefs: [{name: v1, port: 8080}]}]'),
    );
    const vh = s.listeners.find((l) => l.port === 18100)!.virtualHosts[0]!;
    assert.equal(vh.routes[0]!.source, 'VirtualService apps/web');
    assert.ok(s.problems.some((p) => p.code === 'conflicting-http-route' && p.resource === 'VirtualService apps/web'));
  });
});

describe('Gateway API conformance: invalid parentRefs (status only)', () => {
  for (const [name, route] of [
    ['httproute-invalid-parentref-not-matching-listener-port', 'httproute-listener-not-matching-route-port'],
    ['httproute-invalid-parentref-not-matching-section-name', 'httproute-listener-not-matching-section-name'],
    ['httproute-invalid-parentref-section-name-not-matching-port', 'httproute-listener-section-name-not-matching-port'],
  ] as const) {
    it(`${name}: Accepted False, NoMatchingParent; nothing served`, () => {
      const backend = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: infra-backend-v1, namespace: gateway-conformance-infra, annotations: {shadowgate.dev/listen: "false"}}
spec:
  hosts: [infra-backend-v1.gateway-conformance-infra.svc.cluster.local]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
`;
      // The suite's own Gateway listens on 80, as in conformance/base/manifests.yaml; nothing binds it here.
      const s = loadSnapshot([
        { path: 'backend.yaml', text: backend },
        { path: 'gateway.yaml', text: gatewayYaml(80) },
        { path: `${name}.yaml`, text: fixture(name).replaceAll('"{GATEWAY_CLASS_NAME}"', 'shadowgate') },
      ]);
      assert.deepEqual(parentConditions(s, route)[0], ['Accepted', 'False', 'NoMatchingParent']);
      assert.ok(s.listeners.every((l) => l.virtualHosts.every((v) => v.routes.every((r) => !r.source.includes(route)))));
    });
  }
});

describe('Gateway API: status completed by the running gateway', () => {
  const gateway = (s: Snapshot) => s.resources.find((r) => r.kind === 'Gateway' && r.name === 'gw')!;
  const tlsGateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: apps}
spec:
  gatewayClassName: shadowgate
  listeners:
  - {name: http, port: 18080, protocol: HTTP}
  - {name: https, port: 18443, protocol: HTTPS, tls: {certificateRefs: [{name: a}, {name: b}]}}
  - {name: other, port: 18444, protocol: HTTPS, tls: {certificateRefs: [{name: c, namespace: elsewhere}]}}
`;

  it('the snapshot names the Secrets each listener reads (granted ones only) and each listener port', () => {
    const s = loadSnapshot([{ path: 'g.yaml', text: tlsGateway }]);
    assert.deepEqual(gateway(s).certificateRefs, { https: ['apps/a', 'apps/b'] });
    assert.deepEqual(gateway(s).listenerPorts, { http: 18080, https: 18443, other: 18444 });
  });

  it('withCertificateChecks: a refused Secret (any of the refs) fails the listener and the Gateway follows; pending waits', () => {
    const g = gateway(loadSnapshot([{ path: 'g.yaml', text: tlsGateway }]));
    const out = withCertificateChecks(g.status!, g.certificateRefs!, (name) => (name === 'apps/b' ? 'Secret apps/b not found' : undefined));
    assert.notEqual(out, 'pending');
    const status = out as {
      conditions: Array<{ type: string; reason: string }>;
      listeners: Array<{ name: string; conditions: Array<{ type: string; status: string; reason: string; message: string }> }>;
    };
    const https = status.listeners.find((l) => l.name === 'https')!;
    assert.deepEqual(
      https.conditions.filter((c) => c.type === 'ResolvedRefs' || c.type === 'Programmed').map((c) => [c.type, c.status, c.reason, c.message]),
      [
        ['ResolvedRefs', 'False', 'InvalidCertificateRef', 'Secret apps/b not found'],
        ['Programmed', 'False', 'Invalid', 'not served: Secret apps/b not found'],
      ],
    );
    // RefNotPermitted found when the config was built stays the reason.
    assert.equal(status.listeners.find((l) => l.name === 'other')!.conditions.find((c) => c.type === 'ResolvedRefs')!.reason, 'RefNotPermitted');
    assert.deepEqual(
      status.conditions.map((c) => c.reason),
      ['ListenersNotValid', 'Programmed'],
    );
    assert.equal(
      withCertificateChecks(g.status!, g.certificateRefs!, () => 'pending'),
      'pending',
    );
    assert.equal(
      withCertificateChecks(g.status!, g.certificateRefs!, () => undefined),
      g.status,
      'all usable: the status as computed',
    );
  });

  it('withAddresses: the addresses programmed listeners are bound to, sorted, once each; none known on a wildcard bind', () => {
    const status = {
      conditions: [],
      listeners: ['a', 'b', 'c', 'off'].map((name) => ({
        name,
        conditions: [{ type: 'Programmed', status: name === 'off' ? 'False' : 'True', reason: '', message: '', observedGeneration: 1 }],
      })),
    };
    const ports = { a: 1, b: 2, c: 3, off: 4 };
    const at = (m: Record<number, string>) => (port: number) => m[port];
    assert.deepEqual(withAddresses(status, ports, at({ 1: '127.0.0.2', 2: '::1', 3: '127.0.0.2', 4: '127.0.0.9' })).addresses, [
      { type: 'IPAddress', value: '127.0.0.2' },
      { type: 'IPAddress', value: '::1' },
    ]);
    assert.deepEqual(withAddresses(status, ports, at({ 1: 'gw.example', 2: '127.0.0.1' })).addresses, [
      { type: 'IPAddress', value: '127.0.0.1' },
      { type: 'Hostname', value: 'gw.example' },
    ]);
    // Nothing programmed and bound: known to be none.
    assert.deepEqual(withAddresses(status, ports, at({ 4: '127.0.0.9' })).addresses, []);
    for (const wildcard of ['0.0.0.0', '::']) assert.equal(withAddresses(status, ports, at({ 1: wildcard, 2: wildcard })), status);
  });
});
