// The comparison runs on /metrics (issue 13): exact counts per run, endpoint and field as the store holds them,
// caps folding the rest into `(other)` with totals kept, an ended run leaving after its retention; the fleet
// verdict's pieces (reset-aware sums, bucket quantiles) and the selector check that keeps PromQL unspliced.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DEFAULT_COMPARE_SETTINGS } from '../src/config/index.js';
import { bucketQuantile, checkSelector, exactIncreases, handleGate } from '../src/fleet/index.js';
import { client, scenario, traffic, v1Body } from './compare-scenario.js';
import { scrape, select, total } from './harness/exposition.js';

after(() => client.close());

describe('comparison runs on /metrics', () => {
  it('counts per endpoint and field equal the store, beyond the caps in (other), an ended run gone after its retention', async () => {
    const s = await scenario(
      undefined,
      (n, req) => {
        const body = v1Body(req.url ?? '');
        if (n % 4 === 0) body.items[0]!.price = 99;
        return { body };
      },
      { secondary: true, gateway: { runMetrics: { retentionMs: 0, maxEndpoints: 1, maxFields: 2 } } },
    );
    try {
      await traffic(s, 40, (i) => `/items/${i}`);
      await traffic(s, 20, (i) => `/orders/${i}`);
      await s.tg.gw.comparator!.flush();
      const samples = await scrape(s.tg.gw.adminAddress);
      const runs = select(samples, 'shadowgate_compare_run_open');
      assert.equal(runs.length, 1);
      const run = runs[0]!.labels.run!;
      assert.match(run, /^[0-9a-f]{16}$/, 'labelled by the fingerprint every replica shares');
      assert.equal(runs[0]!.labels.route, 'default/api#items');
      assert.equal(runs[0]!.labels.candidate_service, 'api.default.svc.cluster.local');
      assert.equal(runs[0]!.labels.candidate_subset, 'v2');
      // A replica restarted on a new store has new series even when its counters catch up before the next scrape.
      assert.match(runs[0]!.labels.run_start ?? '', /^\d{13}$/, 'labelled by when this store opened the run');
      assert.ok(select(samples, 'shadowgate_compare_requests_total').every((x) => x.labels.run_start === runs[0]!.labels.run_start));
      // maxEndpoints 1: the endpoint that appeared first by name, the later one in (other); totals exact.
      assert.deepEqual(
        select(samples, 'shadowgate_compare_requests_total').map((x) => [x.labels.endpoint, x.value]),
        [
          ['GET /items/{id}', 40],
          ['(other)', 20],
        ],
      );
      assert.equal(total(samples, 'shadowgate_compare_baseline_requests_total'), 60);
      const stats = await s.tg.gw.comparator!.endpoints();
      const items = stats.find((e) => e.endpoint === 'GET /items/{id}')!;
      const price = items.fields.find((f) => f.field === 'body.items[*].price')!;
      // maxFields 2: the first two fields by name stay; the price (after body.generatedAt and body.items...) may fold.
      const exported = select(samples, 'shadowgate_compare_differences_total', { endpoint: 'GET /items/{id}', against: 'candidate' });
      assert.ok(exported.length <= 3, 'two fields and (other)');
      assert.equal(
        exported.reduce((n, x) => n + x.value, 0),
        items.fields.reduce((n, f) => n + f.candidateDiffs, 0),
        "candidate differences add up to the store's, (other) included",
      );
      assert.equal(price.candidateDiffs, 10);
      assert.equal(total(samples, 'shadowgate_compare_latency_milliseconds_count', { endpoint: 'GET /items/{id}', role: 'candidate' }), 40);
      assert.equal(total(samples, 'shadowgate_compare_errors_total'), 0);
      assert.ok(select(samples, 'shadowgate_build_info').length === 1);

      // A new candidate ends the run; with retention 0 its series leave /metrics, the new run's arrive.
      await s.redeployV2((_n, req) => ({ body: v1Body(req.url ?? '') }));
      await traffic(s, 5, (i) => `/items/${i}`);
      await s.tg.gw.comparator!.flush();
      const after = await scrape(s.tg.gw.adminAddress);
      const open = select(after, 'shadowgate_compare_run_open');
      assert.equal(open.length, 1, JSON.stringify(open));
      assert.notEqual(open[0]!.labels.run, run);
      assert.equal(select(after, 'shadowgate_compare_requests_total', { run }).length, 0, 'the ended run left');
      assert.equal(total(after, 'shadowgate_compare_requests_total'), 5);
    } finally {
      await s.close();
    }
  });
});

describe('the fleet verdict pieces', () => {
  it('exact increases: from the value at the window start, born-in-window from 0, a reset adds the new value, no extrapolation', () => {
    const series = (instance: string, values: number[]) => ({
      metric: { __name__: 'x', instance },
      values: values.map((v, i) => [i * 15_000, v] as [number, number]),
    });
    const got = exactIncreases(
      [series('a', [10, 12, 20]), series('b', [3, 7, 2, 5]), series('c', [0, 0])],
      [{ metric: { __name__: 'x', instance: 'a' }, values: [[0, 8]] }],
    );
    assert.deepEqual(
      got.map((g) => [g.metric.instance, g.increase]),
      [
        ['a', 12],
        ['b', 7 + 5],
        ['c', 0],
      ],
    );
  });

  it('bucket quantiles as histogram_quantile computes them', () => {
    const buckets: Array<[number, number]> = [
      [1, 0],
      [5, 50],
      [10, 100],
      [Number.POSITIVE_INFINITY, 100],
    ];
    assert.equal(bucketQuantile(buckets, 0.5), 5);
    assert.equal(bucketQuantile(buckets, 0.99), 9.9);
    assert.equal(bucketQuantile([[Number.POSITIVE_INFINITY, 0]], 0.5), 0);
    assert.equal(
      bucketQuantile(
        [
          [1, 0],
          [Number.POSITIVE_INFINITY, 4],
        ],
        0.5,
      ),
      1,
      'beyond the last bound: the last finite bound',
    );
  });

  it('a selector is label matchers only: nothing can be spliced into the queries', () => {
    assert.equal(checkSelector('job="shadowgate", namespace=~"test|prod"'), 'job="shadowgate", namespace=~"test|prod"');
    assert.equal(checkSelector('{job="a\\"b"}'), 'job="a\\"b"');
    assert.equal(checkSelector(''), undefined);
    assert.equal(checkSelector('job="a",'), 'job="a"');
    for (const hostile of ['job=shadowgate', 'job="a"} or vector(1) or x{a="b"', 'job="a"}[5m]', '1', 'job="a") or (x']) {
      assert.throws(() => checkSelector(hostile), /label matchers/, hostile);
    }
  });

  it('the gate refuses what is not a Flagger payload or an id, and never answers 2xx without a PASS', async () => {
    const deps = { comparator: undefined, prometheus: undefined, thresholds: () => DEFAULT_COMPARE_SETTINGS.thresholds };
    const get = (q: string) => handleGate({ method: 'GET', query: new URLSearchParams(q) }, deps);
    const post = (body: string) => handleGate({ method: 'POST', query: new URLSearchParams(), body }, deps);
    assert.equal((await get('__proto__=x&constructor=y')).status, 412, 'unknown parameters are ignored; nothing to judge is not a PASS');
    assert.equal((await get('name=Bad_Name')).status, 400);
    assert.equal((await get('run=../../x')).status, 400);
    assert.equal((await get('candidate=a%22b')).status, 400);
    assert.equal((await post('[1]')).status, 400);
    assert.equal((await post('{"metadata": "run=r1"}')).status, 400);
    assert.equal((await post('{"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "x", "metadata": {"extra": "ok"}}')).status, 412);
    assert.equal((await handleGate({ method: 'PUT', query: new URLSearchParams() }, deps)).status, 405);
  });
});
