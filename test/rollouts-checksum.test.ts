// A Flagger checksum names a run (issue 13): the first gate call with a checksum claims the canary's open runs for
// it; a new checksum (a new revision of the canary) never borrows the earlier revision's run, however well that
// one did: INCONCLUSIVE until a run of the new revision exists, then that run's verdict. Flagger's payloads, over
// real sockets, across a reload that starts the new run.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { client, jsonApi, scenario, traffic, v1Body } from './compare-scenario.js';
import { scrape, select } from './harness/exposition.js';
import { COMPARE_EVERY_EXCHANGE, flaggerServiceYaml } from './harness/flagger-services.js';
import { freePort, send, startGateway } from './harness/gateway.js';

after(() => client.close());

const order = (total: number) => ({ id: 7, total, currency: 'EUR' });
const good = (_n: number, req: { url?: string }) => ({ body: (req.url ?? '').startsWith('/orders') ? order(42) : { path: req.url } });
const broken = (_n: number, req: { url?: string }) => ({ body: (req.url ?? '').startsWith('/orders') ? order(43) : { path: req.url } });

interface GateJson {
  result: string;
  reasons: string[];
  runs: Array<{ id: string; compared: number; result: string }>;
  revision?: { checksum: string; runs: string[]; stale: Array<{ run: string; checksum: string }>; previous?: string; firstSeen: string };
  error?: string;
}

/** Flagger's webhook call (pkg/controller/webhook.go): a POST of its payload, the status is all it reads. */
async function flagger(admin: string, checksum: string, metadata: Record<string, string> = {}, name = 'api'): Promise<{ status: number; json: GateJson }> {
  const payload = { name, namespace: 'default', phase: 'Progressing', checksum, type: 'rollout', metadata };
  const res = await request(`http://${admin}/api/gate`, {
    method: 'POST',
    body: JSON.stringify(payload),
    headers: { 'content-type': 'application/json' },
    dispatcher: client,
  });
  return { status: res.statusCode, json: (await res.body.json()) as GateJson };
}

describe('/api/gate: a Flagger checksum names the run of its revision', () => {
  it("a new checksum waits for its own run instead of taking the earlier revision's PASS; the reload's run is judged for it", async () => {
    const s = await scenario(good, good, { secondary: true });
    const admin = s.tg.gw.adminAddress;
    try {
      await traffic(s, 300, (i) => `/orders/${i}`);
      const first = await flagger(admin, '6b9b7c8f5d');
      assert.equal(first.status, 200, JSON.stringify(first.json));
      assert.equal(first.json.result, 'PASS');
      const oldRun = first.json.runs[0]!.id;
      assert.deepEqual(first.json.revision?.runs, [oldRun]);
      // Asked again with the same checksum: the same run.
      assert.deepEqual((await flagger(admin, '6b9b7c8f5d')).json.revision?.runs, [oldRun]);

      // Flagger saw a new revision before the gateway saw new canary pods: the old run is still open, and PASSes,
      // but it compared the earlier revision.
      const early = await flagger(admin, '7f4c2d9b8x');
      assert.equal(early.status, 412, JSON.stringify(early.json));
      assert.equal(early.json.result, 'INCONCLUSIVE');
      assert.deepEqual(early.json.runs, []);
      assert.deepEqual(early.json.revision?.stale, [{ run: oldRun, checksum: '6b9b7c8f5d' }]);
      assert.equal(early.json.revision?.previous, '6b9b7c8f5d');
      assert.match(
        early.json.reasons[0]!,
        /checksum 7f4c2d9b8x is a new revision of default\/api: run r\d+ \(checksum 6b9b7c8f5d\) compared an earlier revision/,
      );

      // The new canary (a new endpoint): the reload starts a new run, which the new checksum claims, still without samples.
      await s.redeployV2(broken);
      const waiting = await flagger(admin, '7f4c2d9b8x');
      assert.equal(waiting.status, 412, JSON.stringify(waiting.json));
      assert.equal(waiting.json.result, 'INCONCLUSIVE');
      const newRun = waiting.json.revision?.runs[0];
      assert.ok(newRun !== undefined && newRun !== oldRun, JSON.stringify(waiting.json));
      assert.equal(waiting.json.runs[0]?.compared, 0);

      // Its samples decide: the new revision breaks orders.
      await traffic(s, 40, (i) => `/orders/${i}`);
      const failing = await flagger(admin, '7f4c2d9b8x');
      assert.equal(failing.status, 412, JSON.stringify(failing.json));
      assert.equal(failing.json.result, 'FAIL');
      assert.deepEqual(
        failing.json.runs.map((r) => [r.id, r.result]),
        [[newRun, 'FAIL']],
      );

      // Each checksum names its own run: the old one is still judged on the old run (ended, and passing), never on the new.
      const old = await flagger(admin, '6b9b7c8f5d');
      assert.equal(old.status, 200, JSON.stringify(old.json));
      assert.deepEqual(
        old.json.runs.map((r) => r.id),
        [oldRun],
      );
      assert.deepEqual(old.json.revision?.stale, [{ run: newRun, checksum: '7f4c2d9b8x' }]);
      const named = await flagger(admin, '7f4c2d9b8x', { run: oldRun });
      assert.equal(named.status, 200, JSON.stringify(named.json));
      assert.equal(named.json.revision, undefined);

      // The claims are on /metrics, for the other replicas (a gate with --prometheus reads them back).
      const claims = select(await scrape(admin), 'shadowgate_gate_checksum_run');
      assert.deepEqual(claims.map((c) => [c.labels.canary_namespace, c.labels.canary, c.labels.checksum, c.labels.run]).sort(), [
        ['default', 'api', '6b9b7c8f5d', oldRun],
        ['default', 'api', '7f4c2d9b8x', newRun],
      ]);

      // A checksum that cannot be a label is refused before it reaches the book.
      assert.equal((await flagger(admin, 'has space')).status, 400);
      assert.equal((await flagger(admin, 'x'.repeat(129))).status, 400);
    } finally {
      await s.close();
    }
  });

  it("a checksum keeps judging its canary's run after the mirror is removed, never another service's open run", async () => {
    const upstreams = await Promise.all([0, 1, 2, 3].map(() => jsonApi((_n, req) => ({ body: v1Body(req.url ?? '') }))));
    const [shopPrimary, shopCanary, catalogPrimary, catalogCanary] = upstreams as [
      (typeof upstreams)[0],
      (typeof upstreams)[0],
      (typeof upstreams)[0],
      (typeof upstreams)[0],
    ];
    const shopPort = await freePort();
    const catalogPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'shadowgate-checksum-'));
    const shop = (mirrored: boolean) => {
      const yaml = flaggerServiceYaml('shop', shopPort, shopPrimary.port, shopCanary.port);
      // Flagger's weight steps: the mirror is gone from the VirtualService.
      return mirrored ? yaml : yaml.replace(/ {4}mirrors:\n( {4}- .*\n)+/, '');
    };
    const tg = await startGateway(
      {
        'shop.yaml': shop(true),
        'catalog.yaml': flaggerServiceYaml('catalog', catalogPort, catalogPrimary.port, catalogCanary.port),
        'c.yaml': COMPARE_EVERY_EXCHANGE,
      },
      { store: join(dir, 'compare.db') },
    );
    try {
      const admin = tg.gw.adminAddress;
      for (let i = 0; i < 20; i++) {
        assert.equal((await send(shopPort, `/items/${i}`, { headers: { host: 'shop' } })).status, 200);
        assert.equal((await send(catalogPort, `/items/${i}`, { headers: { host: 'catalog' } })).status, 200);
      }
      const mirroring = await flagger(admin, 'shop1', {}, 'shop');
      const shopRun = mirroring.json.revision?.runs[0];
      assert.ok(shopRun, JSON.stringify(mirroring.json));
      assert.deepEqual(
        mirroring.json.runs.map((r) => r.id),
        [shopRun],
      );

      tg.write('shop.yaml', shop(false));
      assert.equal((await tg.gw.reload()).result, 'applied');
      const weighted = await flagger(admin, 'shop1', {}, 'shop');
      assert.deepEqual(
        weighted.json.runs.map((r) => r.id),
        [shopRun],
        `still the shop's run, ended, not catalog's open one: ${JSON.stringify(weighted.json)}`,
      );
      assert.deepEqual(weighted.json.revision?.runs, [shopRun]);
    } finally {
      await tg.close();
      await Promise.all(upstreams.map((u) => u.close()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
