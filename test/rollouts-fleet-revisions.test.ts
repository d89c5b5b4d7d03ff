// The fleet answers Flagger's checksum and Argo's web metric (issue 13): two gateways with their own stores and a
// real Prometheus scraping both, every replica with --prometheus. /api/verdict on any replica is the fleet's
// verdict in the local verdict's shape, with the replicas named. A checksum's claims are shared through
// Prometheus: a replica that never saw the old checksum still refuses to judge the new one on the old run, and
// after a reload that starts a new run on both replicas, every replica judges the new checksum on it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import type { FleetSource } from '../src/fleet/index.js';
import { jsonApi, v1Body } from './compare-scenario.js';
import { scrape, total } from './harness/exposition.js';
import { COMPARE_EVERY_EXCHANGE, flaggerServiceYaml } from './harness/flagger-services.js';
import { client, freePort, startGateway, type TestGateway } from './harness/gateway.js';
import { needsPrometheus, startPrometheus } from './harness/prometheus.js';

after(() => client.close());

interface GateJson {
  result: string;
  reasons: string[];
  source: string;
  runs: Array<{ id: string; compared: number; result: string }>;
  revision?: { checksum: string; runs: string[]; stale: Array<{ run: string; checksum: string }> };
}

interface VerdictJson {
  result: string;
  reasons: string[];
  replicas: string[];
  runs: Array<{ run: { id: string; compared: number; candidate: { host: string } }; result: string; reasons: string[]; instances: string[] }>;
}

async function call<T>(admin: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await request(`http://${admin}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    body: body === undefined ? null : JSON.stringify(body),
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    dispatcher: client,
  });
  return { status: res.statusCode, json: (await res.body.json()) as T };
}

const flagger = (admin: string, checksum: string) =>
  call<GateJson>(admin, '/api/gate', { name: 'shop', namespace: 'default', phase: 'Progressing', checksum, metadata: {} });

describe('the fleet: Argo reads /api/verdict, Flagger names runs by checksum, any replica answers', () => {
  it('/api/verdict is the fleet verdict with its replicas; a new checksum waits on every replica until the reload starts its run, then FAILs there', {
    timeout: 120_000,
  }, async (t) => {
    if (!needsPrometheus(t)) return;
    const primary = await jsonApi((_n, req) => ({ body: { ...v1Body(req.url ?? ''), price: 10 } }));
    const goodCanary = await jsonApi((_n, req) => ({ body: { ...v1Body(req.url ?? ''), price: 10 } }));
    const brokenCanary = await jsonApi((_n, req) => {
      const id = Number(/(\d+)$/.exec(req.url ?? '')?.[1] ?? 0);
      return { body: { ...v1Body(req.url ?? ''), price: id % 7 === 0 ? 11 : 10 } };
    });
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'shadowgate-fleet-rev-'));
    // Both replicas read Prometheus; its address is known once it runs (it needs theirs first), so it is filled in then.
    const prometheus: FleetSource = { url: 'http://127.0.0.1:1', selector: 'job="shadowgate"' };
    const start = (bind: string, store: string): Promise<TestGateway> =>
      startGateway(
        { 'shop.yaml': flaggerServiceYaml('shop', port, primary.port, goodCanary.port), 'shadowgate.yaml': COMPARE_EVERY_EXCHANGE },
        { bind, admin: `${bind}:0`, store: join(dir, store), prometheus },
      );
    const a = await start('127.0.0.1', 'a.db');
    const b = await start('127.0.0.2', 'b.db');
    const replicas = [a, b];
    const aAdmin = a.gw.adminAddress;
    const bAdmin = b.gw.adminAddress;
    const prom = await startPrometheus([aAdmin, bAdmin]);
    prometheus.url = prom.url;
    let sent = 0;
    const compared = async (g: TestGateway) => total(await scrape(g.gw.adminAddress), 'shadowgate_compare_requests_total');
    /** n requests alternating between the replicas, then each replica's comparisons all counted. */
    const traffic = async (n: number) => {
      const want = await Promise.all(replicas.map(compared));
      for (let i = 0; i < n; i++) {
        const r = replicas[i % 2]!;
        const res = await request(`http://${r.gw.adminAddress.split(':')[0]}:${port}/items/${sent++}`, { headers: { host: 'shop' }, dispatcher: client });
        await res.body.text();
        assert.equal(res.statusCode, 200);
      }
      for (const [i, r] of replicas.entries()) {
        const target = want[i]! + n / 2;
        const deadline = Date.now() + 15_000;
        while ((await compared(r)) < target) {
          assert.ok(Date.now() < deadline, `${r.gw.adminAddress}: ${await compared(r)} of ${target} compared`);
          await new Promise((res) => setTimeout(res, 50));
        }
      }
    };
    try {
      await prom.scrapes(1);
      await traffic(400);
      await prom.scrapes(2);

      // Argo's web metric on either replica: the fleet's verdict, the local shape, both replicas named.
      const v = await call<VerdictJson>(bAdmin, '/api/verdict');
      assert.equal(v.status, 200, JSON.stringify(v.json));
      assert.equal(v.json.result, 'PASS', JSON.stringify(v.json.reasons));
      assert.equal(v.json.runs.length, 1);
      const oldRun = v.json.runs[0]!.run.id;
      assert.equal(v.json.runs[0]!.run.compared, 400, 'both replicas summed');
      assert.equal(v.json.runs[0]!.result, 'PASS');
      assert.deepEqual(v.json.runs[0]!.instances, [aAdmin, bAdmin].sort());
      assert.deepEqual(v.json.replicas, [aAdmin, bAdmin].sort());
      assert.equal((await call(bAdmin, '/api/verdict?run=../x')).status, 400);
      assert.equal((await call(bAdmin, '/api/verdict?since=soon')).status, 400);

      // Flagger's first revision, through A: its run passes.
      const first = await flagger(aAdmin, 'c1aaaa');
      assert.equal(first.status, 200, JSON.stringify(first.json));
      assert.deepEqual(first.json.revision?.runs, [oldRun]);
      assert.match(first.json.source, /^prometheus /);

      // A new revision, asked through B, which never saw c1aaaa: A's claim, scraped, tells it the open run is c1aaaa's.
      await prom.scrapes(2);
      const early = await flagger(bAdmin, 'c2bbbb');
      assert.equal(early.status, 412, JSON.stringify(early.json));
      assert.equal(early.json.result, 'INCONCLUSIVE');
      assert.deepEqual(early.json.revision?.stale, [{ run: oldRun, checksum: 'c1aaaa' }]);

      // The new canary on both replicas (a new endpoint): a new run; its traffic breaks `price`.
      for (const r of replicas) {
        r.write('shop.yaml', flaggerServiceYaml('shop', port, primary.port, brokenCanary.port));
        assert.equal((await r.gw.reload()).result, 'applied');
      }
      await traffic(280);
      await prom.scrapes(2);
      for (const admin of [aAdmin, bAdmin]) {
        const g = await flagger(admin, 'c2bbbb');
        assert.equal(g.status, 412, JSON.stringify(g.json));
        assert.equal(g.json.result, 'FAIL', `${admin}: ${JSON.stringify(g.json)}`);
        assert.equal(g.json.runs.length, 1);
        assert.notEqual(g.json.runs[0]!.id, oldRun);
        assert.equal(g.json.runs[0]!.compared, 280);
        assert.ok(
          g.json.reasons.some((r) => r.includes('body.price')),
          JSON.stringify(g.json.reasons),
        );
      }
      const after = await call<VerdictJson>(aAdmin, '/api/verdict');
      assert.equal(after.json.result, 'FAIL');
      assert.equal(after.json.runs[0]!.run.compared, 280);
    } finally {
      await prom.close();
      await a.close();
      await b.close();
      await Promise.all([primary.close(), goodCanary.close(), brokenCanary.close()]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
