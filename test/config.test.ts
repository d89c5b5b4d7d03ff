// config/: a table of valid and invalid resources, each invalid one with the problem it must produce.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hasErrors, loadSnapshot, type Problem, type Snapshot } from '../src/config/index.js';
import { readSources } from '../src/sources/index.js';

const EXAMPLES = fileURLToPath(new URL('../../examples', import.meta.url));

const SERVICE = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: nginx}
spec:
  hosts: [nginx]
  ports: [{number: 8000, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: 8081}, labels: {app: nginx, version: v1}}
  - {address: 127.0.0.1, ports: {http: 8082}, labels: {app: nginx, version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: nginx}
spec:
  host: nginx
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

function load(yaml: string, withService = true): Snapshot {
  const sources = [{ path: 'test.yaml', text: yaml }];
  if (withService) sources.unshift({ path: 'service.yaml', text: SERVICE });
  return loadSnapshot(sources);
}

function vs(http: string, extraSpec = ''): string {
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: nginx}
spec:
  hosts: [nginx]${extraSpec}
  http:
${http}`;
}

const route = (rest = '') => `  - route:
    - destination: {host: nginx, subset: v1}${rest}`;

interface Invalid {
  name: string;
  yaml: string;
  withService?: boolean;
  expect: { severity?: Problem['severity']; code: string; path?: string; message: RegExp; line?: number; resource?: string };
}

const INVALID: Invalid[] = [
  {
    name: 'corsPolicy: a method outside the HTTP set (Istio validateHTTPMethod)',
    yaml: vs(`${route()}
    corsPolicy: {allowOrigins: [{exact: https://a.example}], allowMethods: [GET, FETCH]}`),
    expect: { code: 'invalid-value', path: 'spec.http[0].corsPolicy.allowMethods[1]', message: /"FETCH" is not a supported HTTP method/ },
  },
  {
    name: 'corsPolicy: maxAge finer than seconds',
    yaml: vs(`${route()}
    corsPolicy: {allowOrigins: [{exact: https://a.example}], maxAge: 1500ms}`),
    expect: { code: 'invalid-value', path: 'spec.http[0].corsPolicy.maxAge', message: /seconds precision/ },
  },
  {
    name: 'corsPolicy: an empty origin match',
    yaml: vs(`${route()}
    corsPolicy: {allowOrigins: [{prefix: ""}]}`),
    expect: { code: 'invalid-value', path: 'spec.http[0].corsPolicy.allowOrigins[0]', message: /non-empty exact, prefix or regex/ },
  },
  {
    name: 'corsPolicy: a header name that is no token',
    yaml: vs(`${route()}
    cors_policy: {allow_origins: [{exact: https://a.example}], expose_headers: ["x bad"]}`),
    expect: { code: 'invalid-header-name', path: 'spec.http[0].cors_policy.expose_headers[0]', message: /"x bad" is not a valid header name/ },
  },
  {
    name: 'corsPolicy: unmatchedPreflights outside its enum',
    yaml: vs(`${route()}
    corsPolicy: {allowOrigins: [{exact: https://a.example}], unmatchedPreflights: DROP}`),
    expect: { code: 'invalid-enum', path: 'spec.http[0].corsPolicy.unmatchedPreflights', message: /FORWARD, IGNORE/ },
  },
  {
    name: 'mirror and mirrors together',
    yaml: vs(`${route()}
    mirror: {host: nginx, subset: v2}
    mirrors:
    - destination: {host: nginx, subset: v2}`),
    expect: { code: 'mirror-and-mirrors', path: 'spec.http[0].mirrors', message: /either mirror or mirrors/, resource: 'VirtualService default/nginx' },
  },
  {
    name: 'mirror percentage above 100',
    yaml: vs(`${route()}
    mirror: {host: nginx, subset: v2}
    mirrorPercentage: {value: 150}`),
    expect: { code: 'percentage-out-of-range', path: 'spec.http[0].mirrorPercentage.value', message: /between 0 and 100, not 150/ },
  },
  {
    name: 'legacy mirror_percent out of range',
    yaml: vs(`${route()}
    mirror: {host: nginx, subset: v2}
    mirror_percent: -1`),
    expect: { code: 'out-of-range', path: 'spec.http[0].mirror_percent', message: /from 0 to 100/ },
  },
  {
    name: 'negative weight',
    yaml: vs(`  - route:
    - destination: {host: nginx, subset: v1}
      weight: -5
    - destination: {host: nginx, subset: v2}
      weight: 10`),
    expect: { code: 'out-of-range', path: 'spec.http[0].route[0].weight', message: /whole number from 0/ },
  },
  {
    name: 'all weights zero',
    yaml: vs(`  - route:
    - destination: {host: nginx, subset: v1}
      weight: 0
    - destination: {host: nginx, subset: v2}
      weight: 0`),
    expect: { code: 'zero-total-weight', path: 'spec.http[0].route', message: /add up to 0/ },
  },
  {
    name: 'route with no action',
    yaml: vs(`  - match:
    - uri: {prefix: /api}`),
    expect: { code: 'no-action', path: 'spec.http[0]', message: /one of route, redirect or directResponse/ },
  },
  {
    name: 'route and redirect together',
    yaml: vs(`${route()}
    redirect: {uri: /elsewhere}`),
    expect: { code: 'conflicting-actions', message: /only one of route, redirect and directResponse/ },
  },
  {
    name: 'invalid regex',
    yaml: vs(`  - match:
    - uri: {regex: "/api/(v1"}
    route:
    - destination: {host: nginx, subset: v1}`),
    expect: { code: 'invalid-regex', path: 'spec.http[0].match[0].uri.regex', message: /not a valid RE2/ },
  },
  {
    name: 'backtracking-only regex feature (lookahead) is rejected',
    yaml: vs(`  - match:
    - headers: {x-user: {regex: "(?=admin).*"}}
    route:
    - destination: {host: nginx, subset: v1}`),
    expect: { code: 'invalid-regex', path: 'spec.http[0].match[0].headers.x-user.regex', message: /RE2/ },
  },
  {
    name: 'conflicting rewrites',
    yaml: vs(`${route()}
    rewrite:
      uri: /v2
      uriRegexRewrite: {match: "^/v1", rewrite: /v2}`),
    expect: { code: 'conflicting-rewrite', path: 'spec.http[0].rewrite', message: /uri or uriRegexRewrite, not both/ },
  },
  {
    name: 'subset no DestinationRule defines',
    yaml: vs(`  - route:
    - destination: {host: nginx, subset: v3}`),
    expect: { severity: 'error', code: 'unknown-subset', path: 'spec.http[0].route[0].destination', message: /no DestinationRule defines subset "v3"/ },
  },
  {
    name: 'destination host no ServiceEntry knows',
    yaml: vs(`  - route:
    - destination: {host: reviews}`),
    expect: {
      severity: 'error',
      code: 'unknown-host',
      path: 'spec.http[0].route[0].destination',
      message: /no ServiceEntry defines host reviews.default.svc.cluster.local/,
    },
  },
  {
    name: 'mirror to a subset no DestinationRule defines',
    yaml: vs(`${route()}
    mirror: {host: nginx, subset: canary}`),
    expect: {
      severity: 'error',
      code: 'unknown-subset',
      path: 'spec.http[0].mirror',
      message: /subset "canary" for .*: every copy is lost \(counted as abandoned, no_endpoint\); the primary is unaffected/,
    },
  },
  {
    name: 'rule that can never match',
    yaml: vs(`${route()}
  - match:
    - uri: {prefix: /api}
    route:
    - destination: {host: nginx, subset: v2}`),
    expect: { severity: 'warning', code: 'unreachable-route', path: 'spec.http[1]', message: /can never match: http\[0\]/ },
  },
  {
    name: 'unknown field (a typo) names the field',
    yaml: vs(`${route()}
    mirror_percentt: 50`),
    expect: { code: 'unknown-field', path: 'spec.http[0].mirror_percentt', message: /unknown field "mirror_percentt" in HTTPRoute/ },
  },
  {
    name: 'Istio field not supported yet is a warning naming it',
    yaml: vs(`${route()}
    match: [{sourceLabels: {app: web}}]`),
    expect: {
      severity: 'warning',
      code: 'not-supported',
      path: 'spec.http[0].match[0].sourceLabels',
      message: /HTTPMatchRequest.sourceLabels is not supported yet/,
    },
  },
  {
    name: 'wrong type',
    yaml: vs(`  - route:
    - destination: {host: nginx, subset: v1}
      weight: heavy`),
    expect: { code: 'wrong-type', path: 'spec.http[0].route[0].weight', message: /must be a number, not a string/ },
  },
  {
    name: 'bad duration',
    yaml: vs(`${route()}
    timeout: 10 seconds`),
    expect: { code: 'bad-duration', path: 'spec.http[0].timeout', message: /not a duration/ },
  },
  {
    name: 'malformed YAML says file, line and column',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x\nspec: {}\n',
    withService: false,
    expect: { code: 'malformed-yaml', message: /indented/, line: 4 },
  },
  {
    name: 'unknown Istio API version',
    yaml: 'apiVersion: networking.istio.io/v2\nkind: VirtualService\nmetadata: {name: x}\nspec: {hosts: [x]}\n',
    expect: { code: 'unknown-version', path: 'apiVersion', message: /not a version of networking.istio.io/ },
  },
  {
    name: 'STATIC resolution with a DNS name',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: web}\nspec:\n  hosts: [web]\n  ports: [{number: 80, name: http}]\n  resolution: STATIC\n  endpoints: [{address: web.internal}]\n',
    expect: { code: 'invalid-address', path: 'spec.endpoints[0].address', message: /not an IP address/, line: 8 },
  },
  {
    name: 'subset defined twice',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: other}\nspec:\n  host: other\n  subsets:\n  - {name: a, labels: {v: "1"}}\n  - {name: a, labels: {v: "2"}}\n',
    expect: { code: 'duplicate-subset', path: 'spec.subsets[1].name', message: /defined twice/ },
  },
  {
    name: 'unknown load balancer',
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: other}\nspec:\n  host: other\n  trafficPolicy: {loadBalancer: {simple: FASTEST}}\n',
    expect: { code: 'invalid-enum', path: 'spec.trafficPolicy.loadBalancer.simple', message: /"FASTEST" is not a load balancer/ },
  },
  {
    name: 'camelCase and snake_case of the same field',
    yaml: vs(`${route()}
    mirror: {host: nginx, subset: v2}
    mirrorPercentage: {value: 10}
    mirror_percentage: {value: 20}`),
    expect: { code: 'duplicate-field', path: 'spec.http[0].mirror_percentage', message: /are the same field/ },
  },
];

function findProblem(s: Snapshot, e: Invalid['expect']): Problem | undefined {
  return s.problems.find(
    (p) =>
      p.code === e.code &&
      (e.path === undefined || p.path === e.path) &&
      (e.severity === undefined || p.severity === e.severity) &&
      e.message.test(p.message) &&
      (e.line === undefined || p.line === e.line) &&
      (e.resource === undefined || p.resource === e.resource),
  );
}

describe('invalid resources', () => {
  for (const c of INVALID) {
    it(c.name, () => {
      const s = load(c.yaml, c.withService ?? true);
      const p = findProblem(s, c.expect);
      assert.ok(p, `expected ${JSON.stringify({ ...c.expect, message: String(c.expect.message) })}, got ${JSON.stringify(s.problems, null, 1)}`);
      assert.equal(p.file, c.withService === false ? 'test.yaml' : p.file);
      assert.ok(p.file, 'a problem names its file');
      if (p.code !== 'malformed-yaml') assert.ok(p.line && p.line > 0, 'a problem names its line');
      if ((c.expect.severity ?? 'error') === 'error') assert.ok(hasErrors(s));
    });
  }
});

describe('valid resources', () => {
  it('every example directory loads with no errors', () => {
    const dirs = readdirSync(EXAMPLES, { withFileTypes: true }).filter((d) => d.isDirectory());
    assert.ok(dirs.length >= 2);
    for (const d of dirs) {
      // Each example's own README says which files go together; loading them all must still be error-free
      // except where two files define the same VirtualService (the article's step 2 and step 3).
      const read = readSources([join(EXAMPLES, d.name)]);
      const s = loadSnapshot(read.sources, read.problems);
      const errors = s.problems.filter((p) => p.severity === 'error' && p.code !== 'duplicate-resource');
      assert.deepEqual(errors, [], `${d.name}: ${JSON.stringify(errors)}`);
    }
  });

  it("the article's step 3: mirror_percent 100 loads with a deprecation warning", () => {
    const read = readSources(['service.yaml', 'destination-rule.yaml', 'virtual-service-mirror.yaml'].map((f) => join(EXAMPLES, 'seed', f)));
    const s = loadSnapshot(read.sources, read.problems);
    assert.equal(hasErrors(s), false, JSON.stringify(s.problems));
    assert.ok(s.problems.some((p) => p.code === 'deprecated-field' && p.path === 'spec.http[0].mirror_percent'));
    const vh = s.listeners[0]!.virtualHosts[0]!;
    assert.equal(vh.host, 'nginx.default.svc.cluster.local');
    const r = vh.routes[0]!;
    assert.equal(r.action.kind, 'route');
    assert.deepEqual(r.action.kind === 'route' && r.action.destinations.map((d) => [d.cluster, d.weight]), [
      ['outbound|8000|v1|nginx.default.svc.cluster.local', 100],
    ]);
    assert.deepEqual(r.mirrors, [
      { cluster: 'outbound|8000|v2|nginx.default.svc.cluster.local', host: 'nginx.default.svc.cluster.local', subset: 'v2', port: 8000, percentage: 100 },
    ]);
    assert.deepEqual(
      s.clusters['outbound|8000|v2|nginx.default.svc.cluster.local']!.endpoints.map((e) => `${e.address}:${e.port}`),
      ['127.0.0.1:8082'],
    );
    assert.ok(vh.domains.includes('nginx:8000') && vh.domains.includes('nginx.default.svc.cluster.local'));
  });

  it("the article's step 1: no VirtualService, every endpoint is eligible", () => {
    const s = loadSnapshot(readSources([join(EXAMPLES, 'seed', 'service.yaml')]).sources);
    const r = s.listeners[0]!.virtualHosts[0]!.routes[0]!;
    assert.equal(r.action.kind === 'route' && r.action.destinations[0]!.cluster, 'outbound|8000||nginx.default.svc.cluster.local');
    assert.equal(s.clusters['outbound|8000||nginx.default.svc.cluster.local']!.endpoints.length, 2);
  });

  it('Istio defaults: absent percentage is 100, 0 is none, mirrorPercentage wins over the legacy field', () => {
    const s = load(
      vs(`${route()}
    mirror: {host: nginx, subset: v2}
  - match: [{uri: {prefix: /zero}}]
    route: [{destination: {host: nginx, subset: v1}}]
    mirror: {host: nginx, subset: v2}
    mirrorPercentage: {value: 0}
  - match: [{uri: {prefix: /both}}]
    route: [{destination: {host: nginx, subset: v1}}]
    mirror: {host: nginx, subset: v2}
    mirrorPercentage: {value: 12.5}
    mirrorPercent: 80`),
    );
    const routes = s.listeners[0]!.virtualHosts[0]!.routes;
    assert.deepEqual(
      routes.map((r) => r.mirrors[0]?.percentage),
      [100, 0, 12.5],
    );
  });

  it('weights: a lone destination ignores its weight, a zero weight drops its destination', () => {
    const s = load(
      vs(`  - match: [{uri: {prefix: /one}}]
    route: [{destination: {host: nginx, subset: v1}, weight: 7}]
  - route:
    - {destination: {host: nginx, subset: v1}, weight: 90}
    - {destination: {host: nginx, subset: v2}, weight: 0}
    - {destination: {host: nginx}, weight: 10}`),
    );
    const [one, many] = s.listeners[0]!.virtualHosts[0]!.routes;
    assert.deepEqual(one!.action.kind === 'route' && one!.action.destinations.map((d) => d.weight), [100]);
    assert.deepEqual(many!.action.kind === 'route' && many!.action.destinations.map((d) => [d.subset, d.weight]), [
      ['v1', 90],
      ['', 10],
    ]);
  });

  it("header values go through Envoy's formatter: '%%' is one '%', a %COMMAND% is kept (with a warning), ':authority' is a host rewrite", () => {
    const s = load(
      vs(`  - headers:
      request: {set: {":authority": api.example, x-rate: "100%%"}}
      response: {add: {x-host: "%HOSTNAME%"}}
    route: [{destination: {host: nginx, subset: v1}}]`),
    );
    const r = s.listeners[0]!.virtualHosts[0]!.routes[0]!;
    assert.deepEqual(r.headers.request.set, { ':authority': 'api.example', 'x-rate': '100%' });
    assert.deepEqual(r.headers.response.add, { 'x-host': '%HOSTNAME%' });
    assert.ok(s.problems.some((p) => p.code === 'not-supported' && p.path === 'spec.http[0].headers.response.add.x-host'));
    assert.ok(!hasErrors(s), JSON.stringify(s.problems));
  });

  it('short names and FQDNs are the same host; snake_case fields load', () => {
    const s = load(`
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: nginx, namespace: default}
spec:
  hosts: [nginx.default.svc.cluster.local]
  http:
  - route:
    - destination: {host: nginx, subset: v1}
    mirror: {host: nginx.default.svc.cluster.local, subset: v2}
    mirror_percentage: {value: 50}
`);
    assert.equal(hasErrors(s), false, JSON.stringify(s.problems));
    const r = s.listeners[0]!.virtualHosts[0]!.routes[0]!;
    assert.equal(r.mirrors[0]!.percentage, 50);
    assert.equal(r.mirrors[0]!.cluster, 'outbound|8000|v2|nginx.default.svc.cluster.local');
  });

  it('subset traffic policy replaces each top-level field wholesale', () => {
    const s = load(
      `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web}
spec:
  hosts: [web]
  ports: [{number: 80, name: http}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool: {tcp: {maxConnections: 10}, http: {http1MaxPendingRequests: 5}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      connectionPool: {http: {http2MaxRequests: 3}}
`,
      false,
    );
    assert.equal(hasErrors(s), false, JSON.stringify(s.problems));
    const c = s.clusters['outbound|80|v1|web.default.svc.cluster.local']!;
    assert.equal(c.policy.loadBalancer, 'ROUND_ROBIN');
    assert.deepEqual(c.policy.connectionPool, { maxRequests: 3 });
    assert.deepEqual(s.clusters['outbound|80||web.default.svc.cluster.local']!.policy.connectionPool, { maxConnections: 10, maxPendingRequests: 5 });
  });

  it('kind: List wrappers load, other kinds are skipped with a note, JSON files load', () => {
    const list = `
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: nginx-v1}
  spec: {}
- apiVersion: networking.istio.io/v1
  kind: VirtualService
  metadata: {name: nginx}
  spec:
    hosts: [nginx]
    http: [{route: [{destination: {host: nginx, subset: v1}}]}]
`;
    const json = JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'nginx' }, spec: {} });
    const s = loadSnapshot([
      { path: 'service.yaml', text: SERVICE },
      { path: 'list.yaml', text: list },
      { path: 'svc.json', text: json },
    ]);
    assert.equal(hasErrors(s), false, JSON.stringify(s.problems));
    assert.ok(s.listeners[0]!.virtualHosts[0]!.fromVirtualService);
    const skipped = s.problems.filter((p) => p.code === 'skipped-kind');
    assert.equal(skipped.length, 2);
    assert.equal(skipped[0]!.severity, 'info');
    assert.match(skipped[0]!.message, /skipped Deployment default\/nginx-v1/);
  });

  it('a bad resource disables itself, not the others', () => {
    const s = load(
      vs(`${route()}
    timeout: forever`),
    );
    assert.equal(s.resources.find((r) => r.kind === 'VirtualService')!.accepted, false);
    assert.equal(s.resources.find((r) => r.kind === 'ServiceEntry')!.accepted, true);
    // Without its VirtualService the host falls back to the default route over every endpoint.
    assert.equal(s.listeners[0]!.virtualHosts[0]!.fromVirtualService, false);
  });

  it('the snapshot is frozen and its hash depends on content only', () => {
    const a = load(vs(route()));
    const b = loadSnapshot([
      { path: 'elsewhere/service.yaml', text: `# a comment\n${SERVICE}` },
      { path: 'elsewhere/test.yaml', text: vs(route()) },
    ]);
    const c = load(vs(route('\n      weight: 100\n  - route: [{destination: {host: nginx, subset: v2}}]')));
    assert.equal(a.hash, b.hash);
    assert.notEqual(a.hash, c.hash);
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.listeners[0]!.virtualHosts[0]!.routes));
  });
});
