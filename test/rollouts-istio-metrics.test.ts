// Istio's metrics from the destination's side (reporter="destination", issue 13): every attempt a workload received,
// primaries and mirrored copies, labelled with the workload as its sidecar would be; and Flagger's built-in Istio
// queries (pkg/metrics/observers/istio.go), rendered for a canary, returning data from a real Prometheus.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Cluster, Endpoint } from '../src/config/index.js';
import { IstioMetrics } from '../src/telemetry/index.js';
import { parseExposition, scrape, scrapeUntil, select, total } from './harness/exposition.js';
import { client, freePort, send, startGateway } from './harness/gateway.js';
import { needsPrometheus, startPrometheus } from './harness/prometheus.js';
import { flaggerIstioQueries } from './harness/rollout-templates.js';
import { startUpstream } from './harness/upstream.js';

after(() => client.close());

const NS = 'test';
const FQDN = `podinfo.${NS}.svc.cluster.local`;

function workloadEntry(name: string, port: number, version: string): string {
  return `---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: ${NS}}
spec:
  address: 127.0.0.1
  ports: {http: ${port}}
  labels: {app: podinfo, version: ${version}}
`;
}

/** podinfo as Flagger names its workloads: `podinfo-primary` (v1) answers, `podinfo` (the canary, v2) gets copies. */
async function setup() {
  const primary = await startUpstream('podinfo-primary', { kind: 'answer', body: 'primary\n' });
  const canary = await startUpstream('podinfo', { kind: 'answer', body: 'canary\n' });
  const flaky = await startUpstream('podinfo-flaky', { kind: 'answer', status: 503, body: 'unavailable\n' });
  const reset = await startUpstream('podinfo-reset', { kind: 'reset' });
  const port = await freePort();
  const tg = await startGateway({
    'podinfo.yaml': `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: podinfo, namespace: ${NS}}
spec:
  hosts: [${FQDN}]
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: podinfo}}
${workloadEntry('podinfo-primary', primary.port, 'v1')}${workloadEntry('podinfo', canary.port, 'v2')}${workloadEntry('podinfo-flaky', flaky.port, 'flaky')}${workloadEntry('podinfo-reset', reset.port, 'reset')}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: podinfo, namespace: ${NS}}
spec:
  host: ${FQDN}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: flaky, labels: {version: flaky}}
  - {name: reset, labels: {version: reset}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: podinfo, namespace: ${NS}}
spec:
  hosts: [${FQDN}]
  http:
  - match: [{uri: {prefix: /flaky}}]
    route: [{destination: {host: ${FQDN}, subset: flaky}}]
  - match: [{uri: {prefix: /reset}}]
    route: [{destination: {host: ${FQDN}, subset: reset}}]
    retries: {attempts: 0}
  - route: [{destination: {host: ${FQDN}, subset: v1}, weight: 100}]
    mirror: {host: ${FQDN}, subset: v2}
    mirrorPercentage: {value: 100}
`,
  });
  return {
    tg,
    canary,
    get: (path: string) => send(port, path, { headers: { host: `podinfo.${NS}` } }),
    async close() {
      await tg.close();
      await Promise.all([primary.close(), canary.close(), flaky.close(), reset.close()]);
    },
  };
}

describe('istio_* reported as the destination would', () => {
  it('primary and mirrored copies per attempt, retries each counted, Deployment-named workloads, never mixed with reporter="source"', async () => {
    const s = await setup();
    try {
      for (let i = 0; i < 20; i++) assert.equal((await s.get(`/items/${i}`)).status, 200);
      assert.equal((await s.get('/flaky')).status, 503);
      assert.equal((await s.get('/reset')).status, 503);
      const samples = await scrapeUntil(s.tg.gw.adminAddress, 'every copy answered', (x) => total(x, 'shadowgate_shadow_requests_total') === 20);

      const dest = { reporter: 'destination', destination_workload_namespace: NS };
      const canary = select(samples, 'istio_requests_total', { ...dest, destination_workload: 'podinfo' });
      assert.equal(canary.length, 1, 'one series for the canary');
      assert.equal(canary[0]!.value, 20, 'every mirrored copy, as the canary sidecar counts inbound requests');
      assert.equal(canary[0]!.labels.response_code, '200');
      assert.equal(canary[0]!.labels.response_flags, '-');
      assert.equal(canary[0]!.labels.destination_service, FQDN);
      assert.equal(canary[0]!.labels.destination_version, 'v2');
      assert.equal(canary[0]!.labels.destination_app, 'podinfo');
      assert.equal(total(samples, 'istio_requests_total', { ...dest, destination_workload: 'podinfo-primary' }), 20);
      assert.equal(total(samples, 'istio_request_duration_milliseconds_count', { ...dest, destination_workload: 'podinfo' }), 20);
      assert.equal(total(samples, 'istio_response_bytes_sum', { ...dest, destination_workload: 'podinfo' }), 20 * 'canary\n'.length);

      // Istio's default retries (2 on 503): the workload saw 3 attempts, the caller 1 request.
      assert.equal(total(samples, 'istio_requests_total', { ...dest, destination_workload: 'podinfo-flaky', response_code: '503' }), 3);
      assert.equal(total(samples, 'istio_requests_total', { reporter: 'source', destination_workload: 'podinfo-flaky' }), 1);
      // A reset by the workload: its sidecar answers 503 UC.
      assert.deepEqual(
        select(samples, 'istio_requests_total', { ...dest, destination_workload: 'podinfo-reset' }).map((x) => [
          x.labels.response_code,
          x.labels.response_flags,
          x.value,
        ]),
        [['503', 'UC', 1]],
      );

      // The caller's side is unchanged: primaries only, once each; shadows are never reporter="source".
      assert.equal(total(samples, 'istio_requests_total', { reporter: 'source' }), 22);
      assert.equal(total(samples, 'istio_requests_total', { reporter: 'source', destination_workload: 'podinfo' }), 0);
      // Summing both reporters would double count: the documented queries filter by reporter.
      assert.equal(total(samples, 'istio_requests_total'), 22 + 20 + 20 + 3 + 1);
    } finally {
      await s.close();
    }
  });

  it("an attempt that never connected is not the workload's; labels are prepared once per endpoint and reporter", () => {
    const m = new IstioMetrics();
    const cluster = { name: `outbound|80|v2|${FQDN}`, host: FQDN, port: 80, subset: 'v2', namespace: NS, policy: {}, endpoints: [] } as unknown as Cluster;
    const endpoint: Endpoint = {
      address: '10.0.0.9',
      port: 9898,
      labels: { app: 'podinfo', version: 'v2', 'service.istio.io/workload-name': 'podinfo' },
      weight: 1,
      source: `ServiceEntry ${NS}/service:podinfo`,
    };
    m.recordAttempt(cluster, endpoint, { kind: 'failed', failure: 'connect-failure' }, 1, 0, 0);
    assert.equal(parseExposition(m.exposition()).length, 0);
    m.recordAttempt(cluster, endpoint, { kind: 'failed', failure: 'timeout' }, 1, 0, 0);
    m.recordAttempt(cluster, endpoint, { kind: 'answered', status: 200 }, 1, 0, 0);
    const samples = parseExposition(m.exposition());
    assert.deepEqual(
      select(samples, 'istio_requests_total').map((x) => [x.labels.reporter, x.labels.destination_workload, x.labels.response_code, x.labels.response_flags]),
      [
        ['destination', 'podinfo', '0', 'DC'],
        ['destination', 'podinfo', '200', '-'],
      ],
    );
    assert.equal(m.labelsFor(cluster, endpoint, 'destination'), m.labelsFor(cluster, endpoint, 'destination'), 'cached');
    assert.notEqual(m.labelsFor(cluster, endpoint, 'source'), m.labelsFor(cluster, endpoint, 'destination'));
    // A relabelled endpoint at the same address is another workload: its own label set.
    const relabelled = { ...endpoint, labels: { ...endpoint.labels, 'service.istio.io/workload-name': 'podinfo-primary' } };
    assert.equal(m.labelsFor(cluster, relabelled, 'destination').values.destination_workload, 'podinfo-primary');
  });

  it("Flagger's request-success-rate and request-duration return data for the canary from a real Prometheus", { timeout: 120_000 }, async (t) => {
    if (!needsPrometheus(t)) return;
    const s = await setup();
    const prom = await startPrometheus([s.tg.gw.adminAddress]);
    try {
      // Traffic on both sides of a scrape, so rate() sees the counters move.
      await prom.scrapes(1);
      for (let i = 0; i < 10; i++) assert.equal((await s.get(`/a/${i}`)).status, 200);
      await prom.scrapes(1);
      for (let i = 0; i < 10; i++) assert.equal((await s.get(`/b/${i}`)).status, 200);
      await scrapeUntil(s.tg.gw.adminAddress, 'copies answered', (x) => total(x, 'shadowgate_shadow_requests_total') === 20);
      await prom.scrapes(2);

      const q = flaggerIstioQueries(NS, 'podinfo', '1m');
      const rate = await prom.query(q['request-success-rate']!);
      assert.equal(rate.data?.result.length, 1, `success rate has data: ${JSON.stringify(rate)}`);
      assert.equal(Number(rate.data!.result[0]!.value[1]), 100, 'every mirrored copy answered 200');
      const duration = await prom.query(q['request-duration']!);
      assert.equal(duration.data?.result.length, 1, `duration has data: ${JSON.stringify(duration)}`);
      assert.ok(Number.isFinite(Number(duration.data!.result[0]!.value[1])), `p99 is a number: ${JSON.stringify(duration)}`);
      // Prometheus regexes are anchored: the canary's check never reads the primary's series.
      const workloads = await prom.query(
        `sum by (destination_workload) (istio_requests_total{reporter="destination", destination_workload_namespace="${NS}", destination_workload=~"podinfo"})`,
      );
      assert.deepEqual(
        workloads.data?.result.map((r) => [r.metric.destination_workload, Number(r.value[1])]),
        [['podinfo', 20]],
      );
      assert.ok((await scrape(s.tg.gw.adminAddress)).length > 0);
    } finally {
      await prom.close();
      await s.close();
    }
  });
});
