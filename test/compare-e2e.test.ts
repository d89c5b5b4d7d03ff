// Comparison end to end, on real sockets: v1 answers, v2 (and v1 again, the noise baseline) get copies,
// the answers are compared off the data path and judged; `shadowgate verdict` gates on the result.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cli, client, endpoints, fields, scenario, send, settle, traffic, v1Body, verdict } from './compare-scenario.js';

after(() => client.close());

const v2WithPrice = (n: number, req: { url?: string }) => {
  const body = v1Body(req.url ?? '');
  if (n % 10 === 3) body.items[1]!.price = 21;
  return { body };
};

describe('comparison and verdict', () => {
  it('a v2 whose JSON differs in one field for ~10% of requests gets FAIL naming that field', async () => {
    const s = await scenario(undefined, v2WithPrice, { secondary: true });
    try {
      await traffic(s, 200);
      const v = await verdict(s);
      assert.equal(v.result, 'FAIL', JSON.stringify(v, null, 1));
      assert.equal(v.runs.length, 1);
      assert.equal(v.runs[0]!.run.route, 'default/api#items');
      const { endpoints: eps } = await endpoints(s);
      const ep = eps[0]!;
      assert.equal(ep.endpoint, 'GET /items/{id}');
      assert.equal(ep.verdict, 'FAIL');
      const fs = await fields(s, ep.id);
      assert.deepEqual(
        fs.filter((f) => f.verdict === 'FAIL').map((f) => f.field),
        ['body.items[*].price'],
      );
      assert.ok(
        v.reasons.some((r) => r.includes('body.items[*].price')),
        JSON.stringify(v.reasons),
      );
      // The noisy fields differ too, but as often as v1 differs from itself: not held against v2.
      assert.ok(fs.some((f) => f.field === 'body.generatedAt' && f.verdict === 'PASS'));
    } finally {
      await s.close();
    }
  });

  it('a v2 identical to v1 except for noisy clocks and random ids, with a secondary, gets PASS', async () => {
    const s = await scenario(undefined, (_n, req) => ({ body: v1Body(req.url ?? '') }), { secondary: true });
    try {
      await traffic(s, 300);
      const v = await verdict(s);
      assert.equal(v.result, 'PASS', JSON.stringify(v, null, 1));
      assert.ok(v.runs[0]!.run.compared >= 300);
      const ep = (await endpoints(s)).endpoints[0]!;
      assert.notEqual(ep.noiseRate, null);
    } finally {
      await s.close();
    }
  });

  it('ten identical requests get INCONCLUSIVE', async () => {
    const s = await scenario(undefined, (_n, req) => ({ body: v1Body(req.url ?? '') }), { secondary: true });
    try {
      await traffic(s, 10);
      assert.equal((await verdict(s)).result, 'INCONCLUSIVE');
    } finally {
      await s.close();
    }
  });

  it('a v2 that answers 500 for 5% of requests gets FAIL on errors', async () => {
    const s = await scenario(undefined, (n, req) => (n % 20 === 7 ? { status: 500, body: { error: 'boom' } } : { body: v1Body(req.url ?? '') }), {
      secondary: true,
    });
    try {
      await traffic(s, 200);
      const v = await verdict(s);
      assert.equal(v.result, 'FAIL', JSON.stringify(v, null, 1));
      assert.ok(
        (await endpoints(s)).endpoints[0]!.reasons.some((r) => /error rate/i.test(r)),
        JSON.stringify(v),
      );
    } finally {
      await s.close();
    }
  });

  // That the primary never waits for a slow shadow is shown without a clock in gateway-mirror.test.ts ("slow shadow").
  it('a v2 300 ms slower gets FAIL on latency', async () => {
    const s = await scenario(undefined, (_n, req) => ({ body: v1Body(req.url ?? ''), delayMs: 300 }), { secondary: true, latencyGateMs: 50 });
    try {
      await traffic(s, 120);
      const v = await verdict(s);
      assert.equal(v.result, 'FAIL', JSON.stringify(v, null, 1));
      assert.ok((await endpoints(s)).endpoints[0]!.reasons.some((r) => /latency|p99/i.test(r)));
    } finally {
      await s.close();
    }
  });

  it('without a secondary, per-field rates are reported and marked "no noise baseline"', async () => {
    const s = await scenario(undefined, (_n, req) => ({ body: v1Body(req.url ?? '') }), { minSample: 20 });
    try {
      await traffic(s, 30);
      const { endpoints: eps } = await endpoints(s);
      const ep = eps[0]!;
      assert.equal(ep.noiseRate, null);
      assert.ok((await fields(s, ep.id)).some((f) => f.field === 'body.generatedAt'));
      assert.ok(
        JSON.stringify(await verdict(s))
          .toLowerCase()
          .includes('no noise baseline'),
      );
    } finally {
      await s.close();
    }
  });

  it('user rules: an ignored field never counts; a full queue drops and counts, never the primary', async () => {
    const s = await scenario(undefined, v2WithPrice, { secondary: true, extra: '    ignoreFields: ["body.items[*].price"]\n    queueSize: 1\n' });
    try {
      // A burst: with a queue of one, some exchanges are dropped and counted.
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => send(s.port, `/items/${i}`, { headers: { host: 'api' } })));
      assert.ok(answers.every((a) => a.status === 200));
      await settle(s);
      const eps = await s.tg.gw.comparator!.endpoints();
      assert.ok(!eps.some((e) => e.fields.some((f) => f.field === 'body.items[*].price')), 'ignored field');
      const dropped = await s.tg.gw.metrics.total('shadowgate_compare_exchanges_total', { result: 'dropped' });
      const compared = await s.tg.gw.metrics.total('shadowgate_compare_exchanges_total', { result: 'compared' });
      assert.ok(dropped > 0, `dropped ${dropped}`);
      assert.equal(dropped + compared, 60);
    } finally {
      await s.close();
    }
  });
});

describe('shadowgate verdict', () => {
  it('--admin and --store give the same verdict with documented exit codes; --output json; --run', async () => {
    const s = await scenario(undefined, v2WithPrice, { secondary: true });
    try {
      await traffic(s, 150);
      const online = await cli('verdict', '--admin', s.tg.gw.adminAddress);
      assert.equal(online.status, 1, online.stdout + online.stderr);
      assert.match(online.stdout, /^VERDICT: FAIL/);
      assert.match(online.stdout, /body\.items\[\*\]\.price differs in \d+\.\d% of requests \(value changed, e\.g\. 20 vs 21; noise 0\.0%\)/);
      const json = await cli('verdict', '--admin', s.tg.gw.adminAddress, '--output', 'json');
      assert.equal(json.status, 1);
      const parsed = JSON.parse(json.stdout) as { result: string; runs: { run: { id: string } }[] };
      assert.equal(parsed.result, 'FAIL');
      const byRun = await cli('verdict', '--admin', s.tg.gw.adminAddress, '--run', parsed.runs[0]!.run.id);
      assert.equal(byRun.status, 1);
      const unknownRun = await cli('verdict', '--admin', s.tg.gw.adminAddress, '--run', 'r999');
      assert.equal(unknownRun.status, 4);
      assert.match(unknownRun.stderr, /unknown run "r999"/);
      await s.tg.gw.comparator!.flush();
      const offline = await cli('verdict', '--store', join(s.dir, 'compare.db'));
      assert.equal(offline.status, 1, offline.stdout + offline.stderr);
      assert.match(offline.stdout, /body\.items\[\*\]\.price/);
      const unreachable = await cli('verdict', '--admin', '127.0.0.1:1');
      assert.equal(unreachable.status, 4);
      assert.doesNotMatch(unreachable.stderr, /\n\s+at /);
      const usage = await cli('verdict', '--admin', s.tg.gw.adminAddress, '--since', 'soon');
      assert.equal(usage.status, 2);
    } finally {
      await s.close();
    }
  });
});
