// The admin listener's side of the diff explorer: /ui's assets and headers (CSP, no path from the URL reaching the
// disk), and /api/traffic against a real gateway mirroring to a healthy and a dead shadow, plus its rate window.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { AdminServer } from '../src/admin/index.js';
import { UI_CSP } from '../src/admin/ui-assets.js';
import { TrafficView, totalsFromExposition } from '../src/admin/ui-traffic.js';
import type { Cluster, Listener } from '../src/config/index.js';
import { client, freePort, send, serviceYaml, startGateway } from './harness/gateway.js';
import { fixtureSource } from './harness/ui.js';
import { startUpstream } from './harness/upstream.js';
import { within } from './harness/wait.js';

after(() => client.close());

async function get(base: string, path: string, method = 'GET') {
  const res = await request(`${base}${path}`, { method: method as 'GET', dispatcher: client });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

describe('/ui assets', () => {
  it('serves the page, its script and stylesheet with a strict CSP, and nothing else', async () => {
    const admin = new AdminServer(fixtureSource());
    const base = `http://${await admin.listen('127.0.0.1', 0)}`;
    try {
      for (const path of ['/ui', '/ui/']) {
        const page = await get(base, path);
        assert.equal(page.status, 200);
        assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
        assert.equal(page.headers['content-security-policy'], UI_CSP);
        assert.equal(page.headers['x-content-type-options'], 'nosniff');
        assert.equal(page.headers['x-frame-options'], 'DENY');
        // No inline script: every <script> loads a file from this origin.
        const scripts = [...page.body.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
        assert.deepEqual(scripts, ['<script type="module" src="/ui/app.js">']);
        assert.doesNotMatch(page.body, /\son[a-z]+=|style=|https?:\/\//i);
      }
      assert.match(UI_CSP, /default-src 'none'/);
      assert.match(UI_CSP, /script-src 'self'(;|$)/);
      assert.match(UI_CSP, /require-trusted-types-for 'script'/);
      const js = await get(base, '/ui/app.js');
      assert.equal(js.status, 200);
      assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
      // The only URLs in the bundle: SVG's namespace and the curl command's own `http://${host}`.
      const urls = js.body.match(/https?:\/\/(?!www\.w3\.org\/2000\/svg|\$\{)[^"'`\s]*/g);
      assert.equal(urls, null, 'the bundle loads nothing from elsewhere');
      assert.equal((await get(base, '/ui/app.css')).headers['content-type'], 'text/css; charset=utf-8');
      const head = await get(base, '/ui/app.js', 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      for (const path of [
        '/ui/%2e%2e/package.json',
        '/ui/..%2f..%2fpackage.json',
        '/ui/app.js.bak',
        '/ui//etc/passwd',
        '/ui/APP.JS',
        '/ui/__proto__',
        '/ui/constructor',
      ]) {
        const res = await get(base, path);
        assert.equal(res.status, 404, path);
        assert.equal(res.body, 'not found\n');
      }
      assert.equal((await get(base, '/ui', 'POST')).status, 405);
    } finally {
      await admin.close();
    }
  });
});

const vs = (http: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: orders}
spec:
  hosts: [orders]
  http:
${http}
`;

describe('/api/traffic', () => {
  it('tells what mirrors where, with request rates, deliveries and abandons by reason, from a real gateway', async () => {
    const v1 = await startUpstream('v1');
    const v2 = await startUpstream('v2');
    const v3 = await startUpstream('v3');
    const port = await freePort();
    const tg = await startGateway({
      'service.yaml': serviceYaml('orders', port, [
        { upstream: v1, labels: { version: 'v1' } },
        { upstream: v2, labels: { version: 'v2' } },
        { upstream: v3, labels: { version: 'v3' } },
      ]),
      'vs.yaml': vs(`  - name: main
    match: [{uri: {prefix: /orders}}]
    route:
    - destination: {host: orders, subset: v1}
    mirrors:
    - destination: {host: orders, subset: v2}
    - destination: {host: orders, subset: v3}
      percentage: {value: 100}
  - route:
    - destination: {host: orders, subset: v1}
      weight: 75
    - destination: {host: orders, subset: v2}
      weight: 25`),
    });
    await v3.close(); // a dead shadow: every copy to it is abandoned, and counted
    try {
      for (let i = 0; i < 12; i++) assert.equal((await send(port, `/orders/${i}`, { headers: { host: `orders:${port}` } })).status, 200);
      await v2.waitForRequests(12);
      await within(tg.gw.shadows.idle(), 'every shadow to end');
      const res = await get(`http://${tg.gw.adminAddress}`, '/api/traffic');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/json');
      const { routes } = JSON.parse(res.body) as { routes: import('../src/admin/ui-traffic.js').TrafficRoute[] };
      const fqdn = 'orders.default.svc.cluster.local';
      assert.deepEqual(
        routes.map((r) => [r.route, r.listener]),
        [
          ['default/orders#main', `${fqdn}:${port}`],
          ['default/orders#1', `${fqdn}:${port}`],
        ],
      );
      const [main, split] = routes as [import('../src/admin/ui-traffic.js').TrafficRoute, import('../src/admin/ui-traffic.js').TrafficRoute];
      assert.equal(main.primary.host, fqdn);
      assert.equal(main.primary.subset, 'v1');
      assert.ok(main.primary.rps > 0, `primary rate ${main.primary.rps}`);
      const [toV2, toV3] = main.mirrors;
      assert.deepEqual({ ...toV2!, rps: 0 }, { host: fqdn, subset: 'v2', percent: 100, rps: 0, sampled: 12, delivered: 12, abandoned: {} });
      assert.ok(toV2!.rps > 0);
      assert.equal(toV3!.sampled, 12);
      assert.equal(toV3!.delivered, 0);
      assert.equal(
        Object.values(toV3!.abandoned).reduce((a, b) => a + b, 0),
        12,
        JSON.stringify(toV3!.abandoned),
      );
      assert.ok(
        Object.keys(toV3!.abandoned).every((k) => k === 'connect_error' || k === 'no_endpoint'),
        JSON.stringify(toV3!.abandoned),
      );
      // The weighted route names both destinations; the heaviest is its primary; no request took it.
      assert.deepEqual(split.primary, { host: fqdn, subset: 'v1', rps: main.primary.rps });
      assert.deepEqual(
        split.destinations.map((d) => [d.subset, d.weight]),
        [
          ['v1', 75],
          ['v2', 25],
        ],
      );
      assert.equal(split.destinations[1]!.rps, 0, 'v2 answered no primary request: its copies are shadows');
      assert.deepEqual(split.mirrors, []);
      // The counters read directly (one process) and read from the exposition (--workers) agree.
      const direct = await tg.gw.metrics.trafficTotals();
      assert.deepEqual(totalsFromExposition(await tg.gw.metrics.text()), direct);
      assert.equal(direct.requests.get(`${fqdn}\u0000v1`), 12);
    } finally {
      await tg.close();
      await Promise.all([v1.close(), v2.close()]);
    }
  });

  it('rates are counter increases over the last minute of reads, never negative (totals read from an exposition, as under --workers)', async () => {
    let now = 0;
    let text = '';
    const listeners: Listener[] = [
      {
        port: 80,
        protocol: 'HTTP',
        virtualHosts: [
          {
            host: 'a',
            domains: ['a'],
            port: 80,
            fromVirtualService: true,
            routes: [
              {
                name: 'r',
                source: 'VirtualService ns/a',
                index: 0,
                matches: [],
                action: {
                  kind: 'route',
                  destinations: [
                    {
                      cluster: 'outbound|80|v1|a',
                      host: 'a',
                      subset: 'v1',
                      port: 80,
                      weight: 100,
                      headers: { request: { set: {}, add: {}, remove: [] }, response: { set: {}, add: {}, remove: [] } },
                    },
                  ],
                },
                mirrors: [{ cluster: 'outbound|80|v2|a', host: 'a', subset: 'v2', port: 80, percentage: 50 }],
                retries: { attempts: 0, retryOn: [] },
                headers: { request: { set: {}, add: {}, remove: [] }, response: { set: {}, add: {}, remove: [] } },
              },
            ],
          },
        ],
      },
    ];
    const clusters = { 'outbound|80|v1|a': { endpoints: [{ labels: { version: 'v1' } }] } } as unknown as Record<string, Cluster>;
    let reads = 0;
    const view = new TrafficView(
      {
        routing: async () => ({ listeners, clusters }),
        totals: async () => {
          reads++;
          return totalsFromExposition(text);
        },
      },
      () => now,
    );
    const counters = (primary: number, sampled: number, other = 0) =>
      [
        '# HELP istio_requests_total x',
        `istio_requests_total{reporter="source",destination_service="a",destination_version="v1",response_code="200"} ${primary - 1}`,
        `istio_requests_total{reporter="source",destination_service="a",destination_version="v1",response_code="503"} 1`,
        `istio_requests_total{reporter="source",destination_service="a",destination_version="v9",response_code="200"} ${other}`,
        // A label value that spells another label: escaped quotes, so it is not read as one.
        `istio_requests_total{source_workload="x,destination_service=\\"a\\",destination_version=\\"v1\\"",destination_service="b",destination_version="v1"} 5000`,
        `istio_request_duration_milliseconds_bucket{destination_service="a",destination_version="v1",le="+Inf"} 99999`,
        `shadowgate_shadows_sampled_total{destination_service="a",destination_subset="v2"} ${sampled}`,
        `shadowgate_shadow_requests_total{destination_service="a",destination_subset="v2",response_code="200"} ${sampled - 2}`,
        `shadowgate_shadow_abandoned_total{destination_service="a",destination_subset="v2",reason="timeout"} 2`,
        `shadowgate_shadow_abandoned_total{destination_service="a",destination_subset="v2",reason="buffer_full"} 0`,
      ].join('\n');
    const read = async () => (await view.read()).routes[0]!;
    now = 10_000;
    text = counters(100, 50, 1000);
    let r = await read();
    assert.equal(r.route, 'ns/a#r');
    assert.equal(r.primary.rps, 10, 'since the start: 100 requests in 10 s; another version of the host is not counted');
    assert.deepEqual(r.mirrors[0], { host: 'a', subset: 'v2', percent: 50, rps: 5, sampled: 50, delivered: 48, abandoned: { timeout: 2 } });
    // Within a second, every caller gets that same answer: the counters are read once.
    now = 10_999;
    assert.equal((await view.read()).routes[0], r);
    assert.equal(reads, 1);
    now = 70_000;
    text = counters(700, 350);
    r = await read();
    assert.equal(r.primary.rps, 10);
    // 80 s: the start has left the window; the base is the reading at 10 s.
    now = 80_000;
    text = counters(800, 400);
    r = await read();
    assert.equal(r.primary.rps, 10);
    assert.equal(r.mirrors[0]!.rps, 5);
    // A worker restarted (its counters went back to zero): no traffic, not a negative rate.
    now = 90_000;
    text = counters(10, 4);
    r = await read();
    assert.equal(r.primary.rps, 0);
    assert.equal(r.mirrors[0]!.rps, 0);
  });
});
