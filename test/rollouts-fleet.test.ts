// One verdict for the whole fleet (issue 13, "Done means"): two gateways, each with its own store, traffic split
// between them, a real Prometheus scraping both. `verdict --prometheus` judges the union: FAIL naming the field
// (and the replicas that saw it) for a regression, PASS for noise only, every compared request counted, across a
// replica restarted mid-run on a new store (its counters reset). /api/gate answers Flagger's payload from any
// replica; Flagger's built-in checks and the shipped templates' PromQL return data from the same Prometheus.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { runFleetVerdict } from '../src/cli/fleet-verdict.js';
import { DEFAULT_COMPARE_SETTINGS } from '../src/config/index.js';
import { type FleetVerdict, fleetVerdict } from '../src/fleet/index.js';
import { cli, jsonApi, v1Body } from './compare-scenario.js';
import { scrape, total, untilMetric } from './harness/exposition.js';
import { COMPARE_EVERY_EXCHANGE, flaggerServiceYaml } from './harness/flagger-services.js';
import { client, freePort, startGateway, type TestGateway } from './harness/gateway.js';
import { needsPrometheus, startPrometheus } from './harness/prometheus.js';
import { flaggerIstioQueries, renderedTemplateQueries } from './harness/rollout-templates.js';

after(() => client.close());

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A request to an admin listener at `HOST:PORT`. */
async function adminCall(address: string, path: string, init: { method?: 'GET' | 'POST'; body?: string } = {}): Promise<{ status: number; body: string }> {
  const res = await request(`http://${address}${path}`, {
    method: init.method ?? 'GET',
    body: init.body ?? null,
    headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    dispatcher: client,
  });
  return { status: res.statusCode, body: await res.body.text() };
}

interface Replica {
  tg: TestGateway;
  bind: string;
}

describe('the fleet verdict through Prometheus', () => {
  it('two gateways, one restarted on a new store: FAIL naming the field and its replicas, PASS for noise, every request counted; the gate answers for all', {
    timeout: 120_000,
  }, async (t) => {
    if (!needsPrometheus(t)) return;
    // shop: the canary's price differs for one request in seven (a regression); catalog: only noise differs.
    const shopPrimary = await jsonApi((_n, req) => ({ body: { ...v1Body(req.url ?? ''), price: 10 } }));
    const shopCanary = await jsonApi((_n, req) => {
      const id = Number(/(\d+)$/.exec(req.url ?? '')?.[1] ?? 0);
      return { body: { ...v1Body(req.url ?? ''), price: id % 7 === 0 ? 11 : 10 } };
    });
    const catalogPrimary = await jsonApi((_n, req) => ({ body: v1Body(req.url ?? '') }));
    const catalogCanary = await jsonApi((_n, req) => ({ body: v1Body(req.url ?? '') }));
    const shopPort = await freePort();
    const catalogPort = await freePort();
    const files = {
      'shop.yaml': flaggerServiceYaml('shop', shopPort, shopPrimary.port, shopCanary.port),
      'catalog.yaml': flaggerServiceYaml('catalog', catalogPort, catalogPrimary.port, catalogCanary.port),
      'shadowgate.yaml': COMPARE_EVERY_EXCHANGE,
    };
    const dir = mkdtempSync(join(tmpdir(), 'shadowgate-fleet-'));
    // Two replicas: the same config and service ports, on two loopback addresses (two pods' IPs).
    const start = (bind: string, store: string, admin = `${bind}:0`, extra = {}) =>
      startGateway(files, { bind, admin, store: join(dir, store), ...extra }).then((tg) => ({ tg, bind }));
    const a: Replica = await start('127.0.0.1', 'a.db');
    let b: Replica = await start('127.0.0.2', 'b1.db');
    const bAdmin = b.tg.gw.adminAddress;
    const prom = await startPrometheus([a.tg.gw.adminAddress, bAdmin]);
    const sent = { shop: 0, catalog: 0 };
    /** n requests to a service, alternating between the replicas (each on its own address). */
    const traffic = async (service: 'shop' | 'catalog', n: number, replicas: Replica[]) => {
      for (let i = 0; i < n; i++) {
        const r = replicas[i % replicas.length]!;
        const port = service === 'shop' ? shopPort : catalogPort;
        const res = await request(`http://${r.bind}:${port}/items/${sent[service]++}`, { headers: { host: service }, dispatcher: client });
        await res.body.text();
        assert.equal(res.statusCode, 200);
      }
    };
    const compared = async (r: Replica) => total(await scrape(r.tg.gw.adminAddress), 'shadowgate_compare_requests_total');
    const settled = async (r: Replica, want: number) => {
      await untilMetric(r.tg.gw.adminAddress, 'shadowgate_compare_requests_total', (n) => n >= want, { what: `${r.tg.gw.adminAddress}: ${want} compared` });
      assert.equal(await compared(r), want, `${r.tg.gw.adminAddress} compared exactly what it mirrored`);
    };
    try {
      await prom.scrapes(1);
      // First half: both replicas.
      await traffic('shop', 140, [a, b]);
      await traffic('catalog', 200, [a, b]);
      await settled(a, 170);
      await settled(b, 170);
      // Prometheus has B's last values before B goes (a pod replaced: a new store, its counters from 0).
      await prom.scrapes(2);
      await b.tg.close();
      b = await start('127.0.0.2', 'b2.db', bAdmin, { prometheus: { url: prom.url, selector: 'job="shadowgate"' } });
      // Second half, B restarted.
      await traffic('shop', 140, [a, b]);
      await traffic('catalog', 200, [a, b]);
      await settled(a, 340);
      await settled(b, 170);
      await prom.scrapes(2);

      // The fleet's verdict: every run judged on both replicas' sums.
      const thresholds = DEFAULT_COMPARE_SETTINGS.thresholds;
      const v = await fleetVerdict({ url: prom.url, selector: 'job="shadowgate"' }, { thresholds });
      const byRoute = new Map(v.runs.map((r) => [r.run.route, r]));
      const shop = byRoute.get('default/shop#all');
      const catalog = byRoute.get('default/catalog#all');
      assert.ok(shop && catalog, JSON.stringify(v.runs.map((r) => r.run.route)));
      assert.equal(v.result, 'FAIL');
      assert.equal(shop.result, 'FAIL', JSON.stringify(shop.reasons));
      assert.equal(shop.run.compared, 280, 'every compared shop request, across the restart');
      assert.equal(catalog.run.compared, 400, 'every compared catalog request, across the restart');
      assert.equal(catalog.result, 'PASS', JSON.stringify(catalog.reasons));
      assert.deepEqual(
        shop.blamed.map((x) => [x.endpoint, x.field]),
        [['GET /items/{id}', 'body.price']],
      );
      assert.deepEqual(Object.keys(shop.blamed[0]!.instances).sort(), [a.tg.gw.adminAddress, bAdmin].sort(), 'both replicas hold differences');
      assert.ok(
        shop.reasons.some((r) => r.includes('body.price') && r.includes(bAdmin)),
        JSON.stringify(shop.reasons),
      );
      assert.equal(shop.run.candidate.host, 'shop-canary.default.svc.cluster.local');
      // One replica alone would not have decided the catalog: A compared 200 of its requests.
      const local = JSON.parse((await adminCall(a.tg.gw.adminAddress, '/api/verdict')).body) as { runs: Array<{ run: { route: string; compared: number } }> };
      assert.equal(local.runs.find((r) => r.run.route === 'default/catalog#all')?.run.compared, 200);

      // The CLI: the same verdict, its exit codes, JSON.
      const out: string[] = [];
      assert.equal(
        await runFleetVerdict(
          { url: prom.url },
          { run: catalog.run.id, files: [], output: 'json' },
          (s) => out.push(s),
          () => {},
        ),
        0,
      );
      assert.equal((JSON.parse(out[0]!) as FleetVerdict).result, 'PASS');
      const text = await cli('verdict', '--prometheus', prom.url, '--selector', 'job="shadowgate"', '--window', '30m');
      assert.equal(text.status, 1, text.stderr);
      assert.match(text.stdout, /VERDICT: FAIL/);
      assert.match(text.stdout, /body\.price: differences on /);
      assert.equal((await cli('verdict', '--prometheus', prom.url, '--selector', 'job=shadowgate')).status, 2, 'a bad selector is a usage error');

      // The gate, on the restarted replica, judges the fleet: Flagger's payload names the canary.
      const gate = (body: unknown) =>
        adminCall(bAdmin, '/api/gate', { method: 'POST', body: JSON.stringify(body) }).then((x) => ({
          status: x.status,
          body: JSON.parse(x.body) as { result: string; reasons: string[]; source: string },
        }));
      const failing = await gate({ name: 'shop', namespace: 'default', phase: 'Progressing', checksum: 'abc', metadata: {} });
      assert.equal(failing.status, 412, JSON.stringify(failing.body));
      assert.equal(failing.body.result, 'FAIL');
      assert.match(failing.body.source, /^prometheus /);
      assert.ok(
        failing.body.reasons.some((r) => r.includes('body.price')),
        JSON.stringify(failing.body.reasons),
      );
      const passing = await gate({ name: 'catalog', namespace: 'default', phase: 'Progressing', checksum: 'def' });
      assert.equal(passing.status, 200, JSON.stringify(passing.body));
      assert.equal(passing.body.result, 'PASS');
      const viaGet = await adminCall(bAdmin, '/api/gate?candidate=catalog-canary.default.svc.cluster.local');
      assert.equal(viaGet.status, 200, viaGet.body);
      // A replica without --prometheus judges its own store: its 200 catalog requests cannot decide yet.
      const aAdmin = a.tg.gw.adminAddress;
      const alone = await adminCall(aAdmin, '/api/gate', { method: 'POST', body: JSON.stringify({ name: 'catalog', namespace: 'default' }) });
      assert.equal(alone.status, 412, alone.body);
      assert.equal((await adminCall(aAdmin, '/api/gate', { method: 'POST', body: '{"name": 42}' })).status, 400);
      assert.equal((await adminCall(aAdmin, '/api/gate', { method: 'POST', body: '{"metadata": {"run": "../x"}}' })).status, 400);

      // Flagger's built-in checks and the shipped templates' queries return data here.
      for (const [name, q] of Object.entries(flaggerIstioQueries('default', 'shop-canary', '5m'))) {
        const r = await prom.query(q);
        assert.equal(r.data?.result.length, 1, `${name}: ${JSON.stringify(r)}`);
      }
      const shopQ = renderedTemplateQueries('shop', 'default', '5m');
      const catalogQ = renderedTemplateQueries('catalog', 'default', '5m');
      for (const [name, q, low, high] of [
        ['flagger shop', shopQ.flagger, 0.05, 0.3],
        ['argo shop', shopQ.argo, 0.05, 0.3],
        ['flagger catalog', catalogQ.flagger, -0.05, 0.01],
        ['argo catalog', catalogQ.argo, -0.05, 0.01],
      ] as const) {
        const r = await prom.query(q);
        assert.equal(r.data?.result.length, 1, `${name}: ${JSON.stringify(r)}`);
        const value = Number(r.data!.result[0]!.value[1]);
        assert.ok(value >= low && value <= high, `${name}: real-difference rate ${value}`);
      }

      // The comparison dashboard: every query returns data for this fleet.
      const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/shadowgate-comparison-dashboard.json'), 'utf8')) as {
        panels: Array<{ title: string; targets: Array<{ expr: string; refId: string }> }>;
      };
      const empty: string[] = [];
      for (const p of dashboard.panels) {
        for (const tg of p.targets) {
          const q = tg.expr.replace(/\$__rate_interval/g, '1m').replace(/\$candidate/g, '.*');
          assert.doesNotMatch(q, /\$/, `${p.title}: every variable substituted`);
          if (((await prom.query(q)).data?.result.length ?? 0) === 0) empty.push(`${p.title} ${tg.refId}: ${q}`);
        }
      }
      assert.deepEqual(empty, [], 'dashboard queries without data');
    } finally {
      await prom.close();
      await a.tg.close();
      await b.tg.close().catch(() => {});
      await Promise.all([shopPrimary.close(), shopCanary.close(), catalogPrimary.close(), catalogCanary.close()]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
