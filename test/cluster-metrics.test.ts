// Envoy-style cluster stats on /metrics: circuit-breaker overflows and outlier ejections, which operators
// need on a dashboard and which until now reached only /config_dump.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { client, freePort, send, serviceYaml, startGateway } from './harness/gateway.js';
import { startUpstream } from './harness/upstream.js';

after(() => client.close());

async function scrape(admin: string): Promise<string> {
  const res = await request(`http://${admin}/metrics`, { dispatcher: client });
  return res.body.text();
}

/** The value of one sample, found by name and label subset; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const vs = (name: string) => `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}}
spec:
  hosts: [${name}]
  http:
  - route:
    - destination: {host: ${name}, subset: v1}
`;

describe('cluster stats on /metrics', () => {
  it('outlier ejections, membership and healthy endpoints, per cluster and role', async () => {
    const bad = await startUpstream('bad', { kind: 'answer', status: 500 });
    const good = await startUpstream('good');
    const port = await freePort();
    const od = `  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 1, interval: 10s, baseEjectionTime: 60s, maxEjectionPercent: 100}
`;
    const tg = await startGateway({
      'svc.yaml':
        serviceYaml(
          'shop',
          port,
          [
            { upstream: bad, labels: { version: 'v1' } },
            { upstream: good, labels: { version: 'v1' } },
          ],
          od,
        ) + vs('shop'),
    });
    try {
      const cluster = `outbound|${port}|v1|shop.default.svc.cluster.local`;
      const before = await scrape(tg.gw.adminAddress);
      assert.equal(sample(before, 'shadowgate_outlier_ejections_total', { cluster_name: cluster, role: 'primary' }), 0);
      assert.equal(sample(before, 'shadowgate_upstream_endpoints', { cluster_name: cluster, role: 'primary' }), 2);
      // Round robin reaches the bad endpoint within two requests; one 500 ejects it.
      while (bad.requests.length === 0) await send(port, '/');
      const text = await scrape(tg.gw.adminAddress);
      assert.equal(sample(text, 'shadowgate_outlier_ejections_total', { cluster_name: cluster, role: 'primary' }), 1);
      assert.equal(sample(text, 'shadowgate_upstream_healthy_endpoints', { cluster_name: cluster, role: 'primary' }), 1);
      assert.equal(sample(text, 'shadowgate_outlier_ejections_overflow_total', { cluster_name: cluster, role: 'primary' }), 0);
      assert.match(text, /# TYPE shadowgate_outlier_ejections_total counter/);
      // Every later request goes to the good endpoint.
      const answers = await Promise.all([1, 2, 3].map(() => send(port, '/')));
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200, 200],
      );
    } finally {
      await tg.close();
      await bad.close();
      await good.close();
    }
  });

  it('circuit-breaker overflow (UO) counted per cluster; active requests gauged', async () => {
    const hung = await startUpstream('hung', { kind: 'hang' });
    const port = await freePort();
    const pool = `  trafficPolicy:
    connectionPool: {http: {http2MaxRequests: 1}}
`;
    const tg = await startGateway({ 'svc.yaml': serviceYaml('slow', port, [{ upstream: hung, labels: { version: 'v1' } }], pool) + vs('slow') });
    const held = new AbortController();
    try {
      const first = request(`http://127.0.0.1:${port}/`, { dispatcher: client, signal: held.signal }).catch(() => undefined);
      await hung.waitForRequests(1);
      const second = await send(port, '/');
      assert.equal(second.status, 503);
      const cluster = `outbound|${port}|v1|slow.default.svc.cluster.local`;
      const text = await scrape(tg.gw.adminAddress);
      assert.equal(sample(text, 'shadowgate_upstream_overflow_total', { cluster_name: cluster, role: 'primary' }), 1);
      assert.equal(sample(text, 'shadowgate_upstream_active_requests', { cluster_name: cluster, role: 'primary' }), 1);
      held.abort();
      await first;
    } finally {
      await tg.close();
      await hung.close();
    }
  });
});
