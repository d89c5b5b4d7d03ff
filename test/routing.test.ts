// Routing: virtual host selection, route matching, weighted split, mirror sampling, rewrites.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HeaderOps, Listener, MirrorTarget, Route, RouteMatch, VirtualHost, WeightedDestination } from '../src/config/model.js';
import { applyHeaderOps, pickDestination, type RequestFacts, RouteTable, rewriteAuthority, rewritePath, selectMirrors } from '../src/routing/index.js';

// ---------------------------------------------------------------------------------------------
// Factories

const noOps = (): HeaderOps => ({ set: {}, add: {}, remove: [] });

function dest(host: string, weight = 100, subset = ''): WeightedDestination {
  return {
    cluster: `outbound|80|${subset}|${host}`,
    host,
    subset,
    port: 80,
    weight,
    headers: { request: noOps(), response: noOps() },
  };
}

function match(m: Partial<RouteMatch> = {}): RouteMatch {
  return { headers: [], withoutHeaders: [], queryParams: [], ignoreUriCase: false, ...m };
}

let routeSeq = 0;
function route(r: Partial<Route> = {}): Route {
  const i = routeSeq++;
  return {
    name: `r${i}`,
    source: 'VirtualService default/test',
    index: i,
    matches: [],
    action: { kind: 'route', destinations: [dest('backend')] },
    mirrors: [],
    retries: { attempts: 0, retryOn: [] },
    headers: { request: noOps(), response: noOps() },
    ...r,
  };
}

function vhost(host: string, routes: Route[], port = 80, domains?: string[]): VirtualHost {
  return {
    host,
    domains: domains ?? [host, `${host}:${port}`],
    port,
    routes,
    fromVirtualService: true,
  };
}

function facts(f: Partial<RequestFacts> = {}): RequestFacts {
  return { method: 'GET', path: '/', authority: 'svc', scheme: 'http', headers: {}, port: 80, ...f };
}

/** Does a route with this single match take this request? */
function takes(m: RouteMatch, f: Partial<RequestFacts>): boolean {
  const table = RouteTable.build([{ port: 80, protocol: 'HTTP', virtualHosts: [vhost('svc', [route({ matches: [m] })])] }]);
  assert.deepEqual(table.problems, []);
  return table.findVirtualHost(80, 'svc')!.match(facts(f)) !== undefined;
}

// ---------------------------------------------------------------------------------------------

describe('route matching', () => {
  const cases: Array<[string, RouteMatch, Partial<RequestFacts>, boolean]> = [
    ['empty match = match all', match(), { path: '/anything' }, true],
    ['uri exact', match({ uri: { kind: 'exact', value: '/a' } }), { path: '/a' }, true],
    ['uri exact ignores query', match({ uri: { kind: 'exact', value: '/a' } }), { path: '/a?x=1' }, true],
    ['uri exact is exact', match({ uri: { kind: 'exact', value: '/a' } }), { path: '/a/' }, false],
    ['uri exact is case sensitive', match({ uri: { kind: 'exact', value: '/a' } }), { path: '/A' }, false],
    ['uri prefix', match({ uri: { kind: 'prefix', value: '/api' } }), { path: '/api/v1' }, true],
    ['uri prefix is not path-segment aware', match({ uri: { kind: 'prefix', value: '/api' } }), { path: '/apix' }, true],
    ['uri prefix miss', match({ uri: { kind: 'prefix', value: '/api' } }), { path: '/ap' }, false],
    ['uri prefix does not see the query', match({ uri: { kind: 'prefix', value: '/a?' } }), { path: '/a?x' }, false],
    ['uri regex is full-string', match({ uri: { kind: 'regex', value: '/a/[0-9]+' } }), { path: '/a/12' }, true],
    ['uri regex not a substring search', match({ uri: { kind: 'regex', value: '/a/[0-9]+' } }), { path: '/a/12/b' }, false],
    ['uri regex ignores query', match({ uri: { kind: 'regex', value: '/a/[0-9]+' } }), { path: '/a/1?q=z' }, true],
    ['uri regex not anchored elsewhere', match({ uri: { kind: 'regex', value: '[0-9]+' } }), { path: '/12' }, false],
    ['ignoreUriCase exact', match({ uri: { kind: 'exact', value: '/Api' }, ignoreUriCase: true }), { path: '/aPI' }, true],
    ['ignoreUriCase prefix', match({ uri: { kind: 'prefix', value: '/API' }, ignoreUriCase: true }), { path: '/api/x' }, true],
    // Envoy: route case_sensitive is "ignored for safe_regex matching"; Istio documents the same.
    ['ignoreUriCase leaves regex alone', match({ uri: { kind: 'regex', value: '/api' }, ignoreUriCase: true }), { path: '/API' }, false],
    [
      'ignoreUriCase does not touch headers',
      match({ ignoreUriCase: true, headers: [{ name: 'x', match: { kind: 'exact', value: 'A' } }] }),
      { headers: { x: 'a' } },
      false,
    ],
    ['method exact', match({ method: { kind: 'exact', value: 'POST' } }), { method: 'POST' }, true],
    ['method is case sensitive', match({ method: { kind: 'exact', value: 'POST' } }), { method: 'post' }, false],
    ['method regex', match({ method: { kind: 'regex', value: 'GET|HEAD' } }), { method: 'HEAD' }, true],
    ['scheme', match({ scheme: { kind: 'exact', value: 'https' } }), { scheme: 'http' }, false],
    ['authority prefix', match({ authority: { kind: 'prefix', value: 'svc' } }), { authority: 'svc:80' }, true],
    ['authority exact sees the port', match({ authority: { kind: 'exact', value: 'svc' } }), { authority: 'svc:80' }, false],
    ['port restricts', match({ port: 8080 }), { port: 80 }, false],
    ['port allows', match({ port: 80 }), { port: 80 }, true],
    ['header exact', match({ headers: [{ name: 'x-user', match: { kind: 'exact', value: 'bob' } }] }), { headers: { 'x-user': 'bob' } }, true],
    ['header exact miss', match({ headers: [{ name: 'x-user', match: { kind: 'exact', value: 'bob' } }] }), { headers: { 'x-user': 'bobby' } }, false],
    ['header absent', match({ headers: [{ name: 'x-user', match: { kind: 'exact', value: 'bob' } }] }), { headers: {} }, false],
    ['header prefix', match({ headers: [{ name: 'x-user', match: { kind: 'prefix', value: 'bo' } }] }), { headers: { 'x-user': 'bob' } }, true],
    ['header regex full-string', match({ headers: [{ name: 'x-v', match: { kind: 'regex', value: 'v[12]' } }] }), { headers: { 'x-v': 'v12' } }, false],
    ['header present', match({ headers: [{ name: 'x-a', match: { kind: 'present' } }] }), { headers: { 'x-a': '' } }, true],
    ['header present, absent', match({ headers: [{ name: 'x-a', match: { kind: 'present' } }] }), { headers: { 'x-b': '1' } }, false],
    ['header name is lower-cased', match({ headers: [{ name: 'X-A', match: { kind: 'present' } }] }), { headers: { 'x-a': '1' } }, true],
    [
      'multi-valued header joined with ","',
      match({ headers: [{ name: 'x-m', match: { kind: 'exact', value: 'a,b' } }] }),
      { headers: { 'x-m': ['a', 'b'] } },
      true,
    ],
    [
      '":authority" header name reads the authority',
      match({ headers: [{ name: ':authority', match: { kind: 'exact', value: 'svc' } }] }),
      { authority: 'svc' },
      true,
    ],
    ['AND within a match', match({ method: { kind: 'exact', value: 'GET' }, uri: { kind: 'prefix', value: '/a' } }), { method: 'POST', path: '/a' }, false],
    [
      'withoutHeaders exact: other value',
      match({ withoutHeaders: [{ name: 'x-t', match: { kind: 'exact', value: 'canary' } }] }),
      { headers: { 'x-t': 'stable' } },
      true,
    ],
    [
      'withoutHeaders exact: same value',
      match({ withoutHeaders: [{ name: 'x-t', match: { kind: 'exact', value: 'canary' } }] }),
      { headers: { 'x-t': 'canary' } },
      false,
    ],
    ['withoutHeaders exact: absent', match({ withoutHeaders: [{ name: 'x-t', match: { kind: 'exact', value: 'canary' } }] }), { headers: {} }, true],
    // treat_missing_header_as_empty: a missing header is "" and ".*" matches "".
    [
      'withoutHeaders regex .*: absent counts as ""',
      match({ withoutHeaders: [{ name: 'x-t', match: { kind: 'regex', value: '.*' } }] }),
      { headers: {} },
      false,
    ],
    ['withoutHeaders present: absent', match({ withoutHeaders: [{ name: 'x-t', match: { kind: 'present' } }] }), { headers: {} }, true],
    ['withoutHeaders present: present', match({ withoutHeaders: [{ name: 'x-t', match: { kind: 'present' } }] }), { headers: { 'x-t': '' } }, false],
    [
      'withoutHeaders: none may hold',
      match({
        withoutHeaders: [
          { name: 'a', match: { kind: 'present' } },
          { name: 'b', match: { kind: 'present' } },
        ],
      }),
      { headers: { b: '1' } },
      false,
    ],
    ['query exact', match({ queryParams: [{ name: 'v', match: { kind: 'exact', value: '2' } }] }), { path: '/?a=1&v=2' }, true],
    ['query first occurrence wins', match({ queryParams: [{ name: 'v', match: { kind: 'exact', value: '2' } }] }), { path: '/?v=1&v=2' }, false],
    ['query name is case sensitive', match({ queryParams: [{ name: 'V', match: { kind: 'exact', value: '2' } }] }), { path: '/?v=2' }, false],
    ['query prefix', match({ queryParams: [{ name: 'v', match: { kind: 'prefix', value: 'be' } }] }), { path: '/?v=beta' }, true],
    ['query regex', match({ queryParams: [{ name: 'id', match: { kind: 'regex', value: '\\d+' } }] }), { path: '/?id=42' }, true],
    ['query present', match({ queryParams: [{ name: 'debug', match: { kind: 'present' } }] }), { path: '/x?debug' }, true],
    ['query present, absent', match({ queryParams: [{ name: 'debug', match: { kind: 'present' } }] }), { path: '/x?nodebug=1' }, false],
    ['query name without "=" has value ""', match({ queryParams: [{ name: 'd', match: { kind: 'exact', value: '' } }] }), { path: '/?d' }, true],
    // Envoy's router parses the query with parseQueryString, which does not percent-decode.
    ['query values are not decoded', match({ queryParams: [{ name: 'q', match: { kind: 'exact', value: 'a b' } }] }), { path: '/?q=a%20b' }, false],
    ['query values compared raw', match({ queryParams: [{ name: 'q', match: { kind: 'exact', value: 'a%20b' } }] }), { path: '/?q=a%20b' }, true],
    ['query stops at fragment', match({ queryParams: [{ name: 'q', match: { kind: 'exact', value: '1' } }] }), { path: '/?q=1#x' }, true],
  ];
  for (const [name, m, f, want] of cases) {
    it(name, () => assert.equal(takes(m, f), want));
  }

  it('OR across matches, reports which match held, first route in order wins', () => {
    const a = route({
      matches: [match({ uri: { kind: 'exact', value: '/x' } }), match({ uri: { kind: 'prefix', value: '/y' } })],
    });
    const b = route({ matches: [match({ uri: { kind: 'prefix', value: '/' } })] });
    const c = route();
    const vh = RouteTable.build([{ port: 80, protocol: 'HTTP', virtualHosts: [vhost('svc', [a, b, c])] }]).findVirtualHost(80, 'svc')!;
    const hit = (path: string) => {
      const r = vh.match(facts({ path }));
      return r && [r.route.name, r.matchIndex];
    };
    assert.deepEqual(hit('/x'), [a.name, 0]);
    assert.deepEqual(hit('/yz'), [a.name, 1]);
    assert.deepEqual(hit('/z'), [b.name, 0]);
    assert.deepEqual(hit('*'), [c.name, -1]);
  });

  it('a route whose matches never hold is not a catch-all', () => {
    const vh = RouteTable.build([{ port: 80, protocol: 'HTTP', virtualHosts: [vhost('svc', [route({ matches: [match({ port: 9 })] })])] }]).findVirtualHost(
      80,
      'svc',
    )!;
    assert.equal(vh.match(facts()), undefined);
  });

  it('returns the same prepared result object every time (no per-request allocation)', () => {
    const vh = RouteTable.build([{ port: 80, protocol: 'HTTP', virtualHosts: [vhost('svc', [route()])] }]).findVirtualHost(80, 'svc')!;
    assert.equal(vh.match(facts()), vh.match(facts({ path: '/other' })));
  });

  it('a route with an invalid regex is disabled and reported; the others still route', () => {
    const bad = route({ matches: [match({ uri: { kind: 'regex', value: '(?<=a)b' } })] });
    const good = route();
    const table = RouteTable.build([{ port: 80, protocol: 'HTTP', virtualHosts: [vhost('svc', [bad, good])] }]);
    assert.equal(table.problems.length, 1);
    assert.equal(table.problems[0]!.code, 'route-not-compiled');
    assert.equal(table.problems[0]!.resource, bad.source);
    assert.equal(table.findVirtualHost(80, 'svc')!.match(facts({ path: '/ab' }))!.route, good);
    // One RE2 check (config's checkRegex refuses it at load); a route that still carries one is disabled by name.
    assert.match(table.problems[0]!.message, /invalid RE2/);
  });
});

describe('virtual host selection', () => {
  const a = vhost('a.default.svc.cluster.local', [route()], 80, ['a.default.svc.cluster.local', 'a.default.svc.cluster.local:80', 'a', 'a:80']);
  const b = vhost('b.example.com', [route()], 80, ['b.example.com', 'b.example.com:80']);
  const wild = vhost('*.wild.com', [route()], 80, ['*.wild.com', '*.wild.com:80']);
  const deeper = vhost('*.x.wild.com', [route()], 80, ['*.x.wild.com']);
  const pre = vhost('pre.*', [route()], 80, ['pre.*']);
  const lone = vhost('lone', [route()], 9090, ['lone']);
  const listeners: Listener[] = [
    { port: 80, protocol: 'HTTP', virtualHosts: [a, b, wild, deeper, pre] },
    { port: 9090, protocol: 'HTTP', virtualHosts: [lone] },
  ];
  const table = RouteTable.build(listeners);

  const cases: Array<[string, number, string | undefined, VirtualHost | undefined]> = [
    ['exact', 80, 'b.example.com', b],
    ['with port', 80, 'b.example.com:80', b],
    ['case-insensitive', 80, 'B.Example.COM', b],
    ['trailing dot', 80, 'b.example.com.', b],
    ['trailing dot before port', 80, 'b.example.com.:80', b],
    ['another port than the listener → 404 (Istio domains name the service port only)', 80, 'b.example.com:8080', undefined],
    ['the listener port stripped as a fallback', 80, 'a:80', a],
    ['another port → 404 even for the only host of a port', 9090, 'whatever.com:1234', undefined],
    ['short name', 80, 'a', a],
    ['unknown host on a shared port → 404', 80, 'nope.com', undefined],
    ['no Host on a shared port → 404', 80, undefined, undefined],
    ['suffix wildcard', 80, 'foo.wild.com', wild],
    ['longest suffix wildcard wins', 80, 'foo.x.wild.com', deeper],
    ['wildcard needs at least one character', 80, '.wild.com', undefined],
    ['prefix wildcard', 80, 'pre.anything', pre],
    ['single virtual host takes everything', 9090, 'whatever.com', lone],
    ['single virtual host takes requests without Host', 9090, undefined, lone],
    ['unknown port', 81, 'b.example.com', undefined],
  ];
  for (const [name, port, authority, want] of cases) {
    it(name, () => assert.equal(table.findVirtualHost(port, authority)?.source, want));
  }

  it('a "*" domain catches what nothing else claims, another port included', () => {
    const star = vhost('star', [route()], 80, ['*']);
    const t = RouteTable.build([{ port: 80, protocol: 'HTTP', virtualHosts: [b, star] }]);
    assert.equal(t.findVirtualHost(80, 'b.example.com:1234')?.source, star);
    assert.equal(t.findVirtualHost(80, 'zzz')?.source, star);
    assert.equal(t.findVirtualHost(80, undefined)?.source, star);
  });

  it('IPv6 literals keep their colons', () => {
    const v6 = vhost('[::1]', [route()], 80, ['[::1]']);
    const t = RouteTable.build([{ port: 80, protocol: 'HTTP', virtualHosts: [b, v6] }]);
    assert.equal(t.findVirtualHost(80, '[::1]:80')?.source, v6);
    assert.equal(t.findVirtualHost(80, '[::1]')?.source, v6);
  });

  it('exposes ports and listeners', () => {
    assert.deepEqual(table.ports.sort(), [80, 9090]);
    assert.equal(table.listener(9090), listeners[1]);
  });
});

describe('pickDestination', () => {
  it('a single destination is always chosen', () => {
    const only = dest('a', 5);
    for (const r of [0, 0.5, 0.999]) assert.equal(pickDestination([only], r), only);
    assert.equal(pickDestination([], 0.5), undefined);
  });

  it('walks cumulative weights over the random scaled to the total', () => {
    const a = dest('a', 1);
    const b = dest('b', 3);
    const table: Array<[number, WeightedDestination]> = [
      [0, a],
      [0.2499, a],
      [0.25, b],
      [0.9999, b],
    ];
    for (const [r, want] of table) assert.equal(pickDestination([a, b], r), want, `random ${r}`);
  });

  it('splits a uniform sequence of randoms in proportion to the weights', () => {
    const ds = [dest('a', 10), dest('b', 30), dest('c', 0), dest('d', 60)];
    const counts = new Map<string, number>();
    const n = 1000;
    for (let i = 0; i < n; i++) {
      const d = pickDestination(ds, i / n)!;
      counts.set(d.host, (counts.get(d.host) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(counts), { a: 100, b: 300, d: 600 });
  });
});

describe('selectMirrors', () => {
  const m = (host: string, percentage: number): MirrorTarget => ({
    cluster: `outbound|80||${host}`,
    host,
    subset: '',
    port: 80,
    percentage,
  });
  const m0 = m('zero', 0);
  const m10 = m('ten', 10);
  const m20 = m('twenty', 20);
  const m100 = m('all', 100);
  const mirrors = [m100, m20, m0, m10];

  it('fires iff random * 100 < percentage, keeping order', () => {
    assert.deepEqual(selectMirrors(mirrors, 0), [m100, m20, m10]);
    assert.deepEqual(selectMirrors(mirrors, 0.0999), [m100, m20, m10]);
    assert.deepEqual(selectMirrors(mirrors, 0.1), [m100, m20]);
    assert.deepEqual(selectMirrors(mirrors, 0.5), [m100]);
    assert.deepEqual(selectMirrors(mirrors, 0.999999), [m100]);
    assert.deepEqual(selectMirrors([], 0.3), []);
  });

  it('with one random per request, a 10% mirror sees a subset of the 20% mirror', () => {
    let ten = 0;
    let twenty = 0;
    for (let i = 0; i < 1000; i++) {
      const fired = selectMirrors(mirrors, i / 1000);
      const has10 = fired.includes(m10);
      const has20 = fired.includes(m20);
      if (has10) assert.ok(has20, `random ${i / 1000}`);
      assert.ok(!fired.includes(m0));
      assert.ok(fired.includes(m100));
      ten += has10 ? 1 : 0;
      twenty += has20 ? 1 : 0;
    }
    assert.equal(ten, 100);
    assert.equal(twenty, 200);
  });
});

describe('rewrites', () => {
  const cases: Array<[string, RouteMatch[], Route['rewrite'], number, string, string]> = [
    ['prefix match: prefix replaced', [match({ uri: { kind: 'prefix', value: '/api/' } })], { uri: '/v2/' }, 0, '/api/users?x=1', '/v2/users?x=1'],
    ['prefix match: plain concat (no slash fix-up)', [match({ uri: { kind: 'prefix', value: '/api' } })], { uri: '/' }, 0, '/api/users', '//users'],
    [
      'prefix match with ignoreUriCase: same length replaced',
      [match({ uri: { kind: 'prefix', value: '/api' }, ignoreUriCase: true })],
      { uri: '/x' },
      0,
      '/API/a',
      '/x/a',
    ],
    ['exact match: whole path, query kept', [match({ uri: { kind: 'exact', value: '/old' } })], { uri: '/new' }, 0, '/old?q=1', '/new?q=1'],
    ['regex match: whole path', [match({ uri: { kind: 'regex', value: '/u/[0-9]+' } })], { uri: '/user' }, 0, '/u/42?a', '/user?a'],
    // Istio's route without a uri match is Envoy `prefix: "/"`, so prefix_rewrite swaps only the "/".
    ['no uri match: only the leading "/" is swapped', [match({ method: { kind: 'exact', value: 'GET' } })], { uri: '/v2' }, 0, '/foo?x', '/v2foo?x'],
    ['no matches at all: same', [], { uri: '/v2/' }, -1, '/foo', '/v2/foo'],
    [
      'second match used decides',
      [match({ uri: { kind: 'exact', value: '/a' } }), match({ uri: { kind: 'prefix', value: '/b' } })],
      { uri: '/c' },
      1,
      '/b/x',
      '/c/x',
    ],
    ['uriRegex: groups, all matches, query kept', [], { uriRegex: { match: '/([a-z]+)', rewrite: '/x-\\1' } }, -1, '/ab/cd?p=/q', '/x-ab/x-cd?p=/q'],
    ['uriRegex: \\0 and \\\\', [], { uriRegex: { match: '^/v1', rewrite: '\\\\\\0' } }, -1, '/v1/a', '\\/v1/a'],
    ['uriRegex: no match leaves path', [], { uriRegex: { match: '^/zzz', rewrite: '/' } }, -1, '/a?b', '/a?b'],
    ['uriRegex: RE2 empty-match rule', [], { uriRegex: { match: 'a*', rewrite: '-' } }, -1, 'baaac', '-b-c-'],
    ['uriRegex beats uri', [], { uri: '/ignored', uriRegex: { match: '^/a', rewrite: '/b' } }, -1, '/a/c', '/b/c'],
    ['no rewrite: unchanged', [], undefined, -1, '/a?b', '/a?b'],
  ];
  for (const [name, matches, rewrite, idx, input, want] of cases) {
    it(name, () => assert.equal(rewritePath(route({ matches, rewrite }), idx, input), want));
  }

  it('works on the compiled route from a match result too', () => {
    const r = route({ matches: [match({ uri: { kind: 'prefix', value: '/p' } })], rewrite: { uri: '/q' } });
    const hit = RouteTable.build([{ port: 80, protocol: 'HTTP', virtualHosts: [vhost('svc', [r])] }])
      .findVirtualHost(80, 'svc')!
      .match(facts({ path: '/p/1' }))!;
    assert.equal(rewritePath(hit.compiled, hit.matchIndex, '/p/1'), '/q/1');
    assert.equal(hit.compiled.rewritePath(hit.matchIndex, '/p/1'), '/q/1');
  });

  it('a substitution naming a missing group disables the route', () => {
    const r = route({ rewrite: { uriRegex: { match: '/(a)', rewrite: '\\2' } } });
    const table = RouteTable.build([{ port: 80, protocol: 'HTTP', virtualHosts: [vhost('svc', [r])] }]);
    assert.equal(table.problems.length, 1);
    assert.equal(table.findVirtualHost(80, 'svc')!.match(facts()), undefined);
  });

  it('authority: rewrite.authority, then route headers, then destination headers', () => {
    const d = dest('d');
    d.headers.request.set[':authority'] = 'from-dest';
    const plain = route({ action: { kind: 'route', destinations: [d] } });
    assert.equal(rewriteAuthority(plain, 'orig', d), 'from-dest');
    assert.equal(rewriteAuthority(plain, 'orig'), 'orig');

    const viaHeaders = route({ action: { kind: 'route', destinations: [d] } });
    viaHeaders.headers.request.add.host = 'from-route-add';
    assert.equal(rewriteAuthority(viaHeaders, 'orig', d), 'from-route-add');

    const viaRewrite = route({ action: { kind: 'route', destinations: [d] }, rewrite: { authority: 'from-rewrite' } });
    viaRewrite.headers.request.set.host = 'from-route-set';
    assert.equal(rewriteAuthority(viaRewrite, 'orig', d), 'from-rewrite');
  });
});

describe('applyHeaderOps', () => {
  it('removes, then sets (overwrite), then adds (append); returns a new object', () => {
    const input = { 'x-keep': 'k', 'x-gone': 'g', 'x-set': ['1', '2'], 'x-add': 'a', 'x-undef': undefined };
    const out = applyHeaderOps(input, {
      remove: ['X-Gone', 'x-both'],
      set: { 'X-Set': 'S', 'x-both': 'set', 'x-empty': '' },
      add: { 'x-add': 'b', 'x-both': 'add', 'x-new': 'n' },
    });
    assert.deepEqual(out, {
      'x-keep': 'k',
      'x-set': 'S',
      'x-add': ['a', 'b'],
      'x-both': ['set', 'add'],
      'x-new': 'n',
    });
    assert.deepEqual(input['x-set'], ['1', '2']);
    assert.equal(input['x-gone'], 'g');
  });

  it('leaves pseudo-headers and Host to the authority rewrite', () => {
    const out = applyHeaderOps({ host: 'h' }, { remove: ['host'], set: { ':authority': 'x', Host: 'y' }, add: {} });
    assert.deepEqual(out, { host: 'h' });
  });

  it('lower-cases incoming names and merges duplicates', () => {
    const out = applyHeaderOps({ 'X-A': '1', 'x-a': '2' }, { remove: ['x-gone'], set: {}, add: {} });
    assert.deepEqual(out, { 'x-a': ['1', '2'] });
  });

  it('hands the headers back untouched when there is no operation (the hot path copies nothing)', () => {
    const input = { 'x-a': '1' };
    assert.equal(applyHeaderOps(input, noOps()), input);
    assert.deepEqual(input, { 'x-a': '1' });
  });
});
