// Property tests for the Gateway API front end: hostile HTTPRoutes never crash loading, the route table's first
// match is the spec's most specific match (an independent oracle), and ReplacePrefixMatch follows the spec's table.
// Runs FUZZ_RUNS cases (small by default; `npm run fuzz` runs many).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { loadSnapshot } from '../../src/config/index.js';
import { RouteTable } from '../../src/routing/index.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);

const BASE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: b, namespace: ns}
spec:
  hosts: [b.ns.svc.cluster.local]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns}
spec:
  gatewayClassName: shadowgate
  listeners: [{name: http, port: 18080, protocol: HTTP}]
`;

function load(routes: unknown[]): ReturnType<typeof loadSnapshot> {
  const text = routes.map((r) => JSON.stringify(r)).join('\n---\n');
  return loadSnapshot([
    { path: 'base.yaml', text: BASE },
    { path: 'routes.yaml', text },
  ]);
}

const segment = fc.constantFrom('a', 'b', 'ab', 'v2');
const path = fc.array(segment, { minLength: 0, maxLength: 3 }).map((s) => `/${s.join('/')}`);

describe('Gateway API fuzz', () => {
  it('hostile HTTPRoutes load without throwing; every problem says where and why', () => {
    const junk = fc.oneof(fc.anything({ maxDepth: 3 }), fc.string(), fc.integer(), fc.constant(null));
    const field = (valid: fc.Arbitrary<unknown>) => fc.oneof(valid, junk);
    const match = fc.record(
      {
        path: field(
          fc.record({ type: field(fc.constantFrom('Exact', 'PathPrefix', 'RegularExpression', 'Other')), value: field(fc.oneof(path, fc.constant('(['))) }),
        ),
        method: field(fc.constantFrom('GET', 'POST', 'get')),
        headers: field(
          fc.array(fc.record({ name: field(fc.constantFrom('a', 'B', 'bad name')), value: junk, type: field(fc.constantFrom('Exact', 'RegularExpression')) })),
        ),
        queryParams: field(fc.array(fc.record({ name: field(fc.constant('q')), value: field(fc.string()) }))),
      },
      { requiredKeys: [] },
    );
    const filter = fc.record(
      {
        type: field(fc.constantFrom('RequestHeaderModifier', 'RequestMirror', 'URLRewrite', 'RequestRedirect', 'ExtensionRef')),
        requestMirror: field(
          fc.record({
            backendRef: field(fc.record({ name: field(fc.constant('b')), port: field(fc.constant(8080)) })),
            percent: field(fc.integer({ min: -5, max: 120 })),
          }),
        ),
        urlRewrite: field(
          fc.record({
            path: field(
              fc.record({
                type: field(fc.constantFrom('ReplaceFullPath', 'ReplacePrefixMatch')),
                replacePrefixMatch: field(path),
                replaceFullPath: field(path),
              }),
            ),
          }),
        ),
        requestHeaderModifier: field(fc.record({ set: field(fc.array(fc.record({ name: junk, value: junk }))) })),
      },
      { requiredKeys: [] },
    );
    const rule = fc.record(
      {
        matches: field(fc.array(match, { maxLength: 3 })),
        filters: field(fc.array(filter, { maxLength: 3 })),
        backendRefs: field(
          fc.array(
            fc.record({ name: field(fc.constantFrom('b', 'missing')), port: field(fc.constant(8080)), weight: field(fc.integer({ min: -1, max: 3 })) }),
            { maxLength: 3 },
          ),
        ),
        timeouts: field(fc.record({ request: field(fc.constantFrom('1s', '0s', '10 seconds')) })),
      },
      { requiredKeys: [] },
    );
    const route = fc.record({
      apiVersion: fc.constant('gateway.networking.k8s.io/v1'),
      kind: fc.constant('HTTPRoute'),
      metadata: fc.record({ name: fc.constantFrom('r1', 'r2'), namespace: fc.constant('ns') }),
      spec: field(
        fc.record(
          {
            parentRefs: field(fc.array(fc.record({ name: field(fc.constantFrom('gw', 'nope')) }), { maxLength: 2 })),
            hostnames: field(fc.array(fc.constantFrom('a.example', '*.example', 'BAD'))),
            rules: field(fc.array(rule, { maxLength: 3 })),
          },
          { requiredKeys: [] },
        ),
      ),
    });
    fc.assert(
      fc.property(fc.array(route, { maxLength: 3 }), (routes) => {
        const s = load(routes);
        for (const p of s.problems) {
          assert.ok(p.code && p.message, JSON.stringify(p));
          if (p.resource?.startsWith('HTTPRoute')) assert.equal(p.file, 'routes.yaml');
        }
        RouteTable.build(s.listeners);
      }),
      { numRuns: RUNS },
    );
  });

  it("the route table's first match is the spec's most specific match", () => {
    interface M {
      type: 'Exact' | 'PathPrefix';
      value: string;
      method?: 'GET' | 'POST';
      headers: string[];
      query: string[];
    }
    const m = fc.record({
      type: fc.constantFrom('Exact' as const, 'PathPrefix' as const),
      value: path,
      method: fc.option(fc.constantFrom('GET' as const, 'POST' as const), { nil: undefined }),
      headers: fc.uniqueArray(fc.constantFrom('h1', 'h2'), { maxLength: 2 }),
      query: fc.uniqueArray(fc.constantFrom('q1', 'q2'), { maxLength: 2 }),
    });
    const request = fc.record({
      path,
      method: fc.constantFrom('GET', 'POST'),
      headers: fc.subarray(['h1', 'h2']),
      query: fc.subarray(['q1', 'q2']),
    });
    // The spec's definitions, written independently of src/.
    const segPrefix = (p: string, v: string) => {
      const q = p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
      return q === '/' || v === q || v.startsWith(`${q}/`);
    };
    const holds = (x: M, r: { path: string; method: string; headers: string[]; query: string[] }) =>
      (x.type === 'Exact' ? r.path === x.value : segPrefix(x.value, r.path)) &&
      (!x.method || x.method === r.method) &&
      x.headers.every((h) => r.headers.includes(h)) &&
      x.query.every((q) => r.query.includes(q));
    const key = (x: M) => [x.type === 'Exact' ? 1 : 0, x.value === '/' ? 0 : x.value.length, x.method ? 1 : 0, x.headers.length, x.query.length];
    fc.assert(
      fc.property(fc.array(fc.array(m, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 5 }), request, (rules, req) => {
        const routeDoc = {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'HTTPRoute',
          metadata: { name: 'r', namespace: 'ns' },
          spec: {
            parentRefs: [{ name: 'gw' }],
            rules: rules.map((ms) => ({
              matches: ms.map((x) => ({
                path: { type: x.type, value: x.value },
                ...(x.method ? { method: x.method } : {}),
                headers: x.headers.map((h) => ({ name: h, value: 'y' })),
                queryParams: x.query.map((q) => ({ name: q, value: 'y' })),
              })),
              backendRefs: [{ name: 'b', port: 8080 }],
            })),
          },
        };
        const s = load([routeDoc]);
        assert.deepEqual(
          s.problems.filter((p) => p.severity === 'error'),
          [],
        );
        const vh = RouteTable.build(s.listeners).findVirtualHost(18080, 'x')!;
        const query = req.query.map((q) => `${q}=y`).join('&');
        const hit = vh.match({
          method: req.method,
          path: query ? `${req.path}?${query}` : req.path,
          authority: 'x',
          scheme: 'http',
          headers: Object.fromEntries(req.headers.map((h) => [h, 'y'])),
          port: 18080,
        });
        // Oracle: the matching (rule, match) with the greatest key; ties to the first rule, then first match.
        let best: { rule: number; key: number[] } | undefined;
        rules.forEach((ms, ri) => {
          for (const x of ms) {
            if (!holds(x, req)) continue;
            const k = key(x);
            const better = !best || k.some((v, i) => v !== best!.key[i] && k.slice(0, i).every((w, j) => w === best!.key[j]) && v > best!.key[i]!);
            if (better) best = { rule: ri, key: k };
          }
        });
        assert.equal(hit?.route.index, best?.rule, JSON.stringify({ rules, req }));
      }),
      { numRuns: RUNS },
    );
  });

  it('ReplacePrefixMatch: the matched prefix (without a trailing "/") is replaced, an empty result is "/"', () => {
    fc.assert(
      fc.property(path, fc.constantFrom('/', '', '/x', '/x/', '/x/y'), path, fc.boolean(), (prefix, replacement, rest, slash) => {
        const p = slash && prefix !== '/' ? `${prefix}/` : prefix;
        const doc = {
          apiVersion: 'gateway.networking.k8s.io/v1',
          kind: 'HTTPRoute',
          metadata: { name: 'r', namespace: 'ns' },
          spec: {
            parentRefs: [{ name: 'gw' }],
            rules: [
              {
                matches: [{ path: { type: 'PathPrefix', value: p } }],
                filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: replacement } } }],
                backendRefs: [{ name: 'b', port: 8080 }],
              },
            ],
          },
        };
        const s = load([doc]);
        const vh = RouteTable.build(s.listeners).findVirtualHost(18080, 'x')!;
        const base = prefix === '/' ? '' : prefix;
        const request = `${base}${rest === '/' ? '' : rest}` || '/';
        const hit = vh.match({ method: 'GET', path: request, authority: 'x', scheme: 'http', headers: {}, port: 18080 });
        assert.ok(hit, request);
        const r = replacement.endsWith('/') ? replacement.slice(0, -1) : replacement;
        const expected = `${r}${request.slice(base.length)}` || '/';
        assert.equal(
          hit.compiled.rewritePath(hit.matchIndex, request),
          expected.startsWith('/') ? expected : `/${expected}`,
          JSON.stringify({ p, replacement, request }),
        );
      }),
      { numRuns: RUNS },
    );
  });
});
