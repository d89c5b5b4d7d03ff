// The shadow counters recorded on the data path without prom-client (HotCounter): every reader of the prom-client
// family (/metrics, get(), totals) sees exactly what was counted, however often it reads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { workerExecArgv } from '../src/gateway/workers.js';
import { ENVOY_BUCKETS_MS } from '../src/telemetry/buckets.js';
import { HotHistogram, Metrics } from '../src/telemetry/index.js';

const sample = (text: string, name: string, labels: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('HotCounter', () => {
  it('flushes its counts into the prom-client family when /metrics is read, once', async () => {
    const m = new Metrics();
    const v2 = { destination_service: 'reviews', destination_subset: 'v2' };
    const v3 = { destination_service: 'reviews', destination_subset: 'v3' };
    for (let i = 0; i < 5; i++) m.hot.shadowsSampled.inc(v2);
    m.hot.shadowsSampled.inc(v3);
    let text = await m.text();
    assert.equal(sample(text, 'shadowgate_shadows_sampled_total', 'destination_service="reviews",destination_subset="v2"'), 5);
    assert.equal(sample(text, 'shadowgate_shadows_sampled_total', 'destination_service="reviews",destination_subset="v3"'), 1);
    // A second read adds nothing; later counts add to the totals.
    m.hot.shadowsSampled.inc(v2);
    text = await m.text();
    assert.equal(sample(text, 'shadowgate_shadows_sampled_total', 'destination_service="reviews",destination_subset="v2"'), 6);
    text = await m.text();
    assert.equal(sample(text, 'shadowgate_shadows_sampled_total', 'destination_service="reviews",destination_subset="v2"'), 6);
  });

  it('counts equal label sets as one series, whatever object or key order carries them (a reload builds new targets)', async () => {
    const m = new Metrics();
    m.hot.shadowRequests.inc({ destination_service: 'a', destination_subset: 'v1', response_code: '200' });
    m.hot.shadowRequests.inc({ response_code: '200', destination_subset: 'v1', destination_service: 'a' });
    m.hot.shadowRequests.inc({ destination_service: 'a', destination_subset: 'v1', response_code: '500' });
    assert.equal(await m.total('shadowgate_shadow_requests_total', { response_code: '200' }), 2);
    assert.equal(await m.total('shadowgate_shadow_requests_total'), 3);
  });

  it('feeds /api/traffic totals (read through the family, not the text)', async () => {
    const m = new Metrics();
    const labels = { destination_service: 'a', destination_subset: 'v2' };
    m.hot.shadowsSampled.inc(labels);
    m.hot.shadowsSampled.inc(labels);
    m.hot.shadowAbandoned.inc({ ...labels, reason: 'timeout' });
    const t = await m.trafficTotals();
    assert.equal(t.sampled.get('a\u0000v2'), 2);
    assert.deepEqual(t.abandoned.get('a\u0000v2'), { timeout: 1 });
  });
});

describe('HotHistogram', () => {
  it("writes exactly prom-client's Histogram exposition for the same observations (bucket edges, +Inf, sum, count)", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const hot = new HotHistogram('x_ms', 'help with "quotes"', ENVOY_BUCKETS_MS, ours);
    const ref = new Histogram({
      name: 'x_ms',
      help: 'help with "quotes"',
      labelNames: ['destination_service', 'destination_subset'],
      buckets: ENVOY_BUCKETS_MS,
      registers: [theirs],
    });
    const v2 = { destination_service: 'reviews', destination_subset: 'v2' };
    const odd = { destination_service: 'a"b\\c\nd', destination_subset: 'v3' };
    // Values on a bucket edge count in that bucket (le is inclusive); beyond the last edge only in +Inf.
    const values = [0, 0.5, 0.51, 1, 4.99, 25, 250.5, 3_600_000, 4_000_000, 12.25];
    for (const v of values) {
      hot.observe(v2, v);
      ref.observe(v2, v);
    }
    hot.observe(odd, 7);
    ref.observe(odd, 7);
    // The same label set in another object (a reload prepares new ones) is the same series.
    hot.observe({ destination_subset: 'v2', destination_service: 'reviews' }, 2);
    ref.observe({ destination_subset: 'v2', destination_service: 'reviews' }, 2);
    assert.equal(await ours.metrics(), await theirs.metrics());
    // get() as prom-client answers it (less its exemplar slots, which this family never fills).
    const plain = (d: { values: object[] }) => d.values.map((v) => ({ ...v, exemplar: undefined }));
    assert.deepEqual(plain(await hot.get()), plain(await ref.get()));
  });

  it('is what /metrics and the demo read for the shadow latency', async () => {
    const m = new Metrics();
    const labels = { destination_service: 'a', destination_subset: 'v2' };
    m.shadowDuration.observe(labels, 3);
    m.shadowDuration.observe(labels, 700);
    const text = await m.text();
    assert.equal(sample(text, 'shadowgate_shadow_request_duration_milliseconds_bucket', 'le="5",destination_service="a",destination_subset="v2"'), 1);
    assert.equal(sample(text, 'shadowgate_shadow_request_duration_milliseconds_bucket', 'le="+Inf",destination_service="a",destination_subset="v2"'), 2);
    assert.equal(sample(text, 'shadowgate_shadow_request_duration_milliseconds_sum', 'destination_service="a",destination_subset="v2"'), 703);
    assert.equal(await m.total('shadowgate_shadow_request_duration_milliseconds'), 2);
  });
});

describe('worker processes: Node flags', () => {
  it("gives Node 20's workers Node 22+'s young generation, every worker --no-memory-reducer, and leaves a user's own setting alone", () => {
    assert.deepEqual(workerExecArgv(['--enable-source-maps'], {}, '20.20.2'), ['--enable-source-maps', '--max-semi-space-size=32', '--no-memory-reducer']);
    assert.deepEqual(workerExecArgv([], {}, '24.22.3'), ['--no-memory-reducer']);
    assert.deepEqual(workerExecArgv(['--max-semi-space-size=8'], {}, '20.20.2'), ['--max-semi-space-size=8', '--no-memory-reducer']);
    assert.deepEqual(workerExecArgv([], { NODE_OPTIONS: '--max_semi_space_size=64' }, '20.20.2'), ['--no-memory-reducer']);
    // A user who wants the idle heap given back says so, and is obeyed.
    assert.deepEqual(workerExecArgv(['--memory-reducer'], {}, '24.22.3'), ['--memory-reducer']);
    assert.deepEqual(workerExecArgv(['--no-memory-reducer'], {}, '24.22.3'), ['--no-memory-reducer']);
  });
});
