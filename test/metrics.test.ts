// /metrics as Prometheus and Grafana see it: Istio's families and labels after known traffic, exact counts,
// promtool's lint, every dashboard query against a real Prometheus, and tracing headers kept for both sides.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ENVOY_BUCKETS_MS, ISTIO_LABELS } from '../src/telemetry/index.js';
import { client, freePort, send, serviceYaml, startGateway, type TestGateway } from './harness/gateway.js';
import { startPrometheus } from './harness/prometheus.js';
import { startUpstream, type TestUpstream } from './harness/upstream.js';

after(() => client.close());

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'shadowgate-dashboard.json');
const FQDN = 'nginx.default.svc.cluster.local';
const API_FQDN = 'api.default.svc.cluster.local';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// ---------------------------------------------------------------------------------------------
// A tiny parser for the Prometheus text format (what the tests need: samples, labels, values).

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function unescapeLabel(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const head = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    assert.ok(head, `bad sample line: ${line}`);
    const name = head[1]!;
    let i = name.length;
    const labels: Record<string, string> = {};
    if (line[i] === '{') {
      i++;
      const pair = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/y;
      while (line[i] !== '}') {
        pair.lastIndex = i;
        const m = pair.exec(line);
        assert.ok(m, `bad labels at ${i} in: ${line}`);
        assert.equal(labels[m[1]!], undefined, `label ${m[1]} twice in: ${line}`);
        labels[m[1]!] = unescapeLabel(m[2]!);
        i = pair.lastIndex;
      }
      i++;
    }
    const [value] = line.slice(i).trim().split(/\s+/);
    samples.push({ name, labels, value: value === '+Inf' ? Number.POSITIVE_INFINITY : value === '-Inf' ? Number.NEGATIVE_INFINITY : Number(value) });
  }
  return samples;
}

function matches(s: Sample, name: string, labels: Record<string, string>): boolean {
  return s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v);
}

function select(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => matches(s, name, labels));
}

function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return select(samples, name, labels).reduce((n, s) => n + s.value, 0);
}

/** A label set without `le`, as a stable key. */
function seriesKey(labels: Record<string, string>): string {
  return JSON.stringify(
    Object.entries(labels)
      .filter(([k]) => k !== 'le')
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

/** Checks every series of a histogram family: Envoy's buckets in order, cumulative, +Inf = _count. Returns the series count. */
function checkHistogram(samples: Sample[], family: string): number {
  const buckets = new Map<string, Sample[]>();
  for (const s of select(samples, `${family}_bucket`)) {
    const k = seriesKey(s.labels);
    buckets.set(k, [...(buckets.get(k) ?? []), s]);
  }
  const counts = new Map(select(samples, `${family}_count`).map((s) => [seriesKey(s.labels), s.value]));
  const sums = new Map(select(samples, `${family}_sum`).map((s) => [seriesKey(s.labels), s.value]));
  assert.ok(buckets.size > 0, `${family}: no series`);
  assert.equal(counts.size, buckets.size, `${family}: a _count per series`);
  assert.equal(sums.size, buckets.size, `${family}: a _sum per series`);
  for (const [k, series] of buckets) {
    assert.deepEqual(
      series.map((s) => s.labels.le),
      [...ENVOY_BUCKETS_MS.map(String), '+Inf'],
      `${family} ${k}: Envoy's buckets 0.5 … 3600000 and +Inf, in order`,
    );
    assert.deepEqual(
      series.map((s) => (s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le))),
      [...ENVOY_BUCKETS_MS, Number.POSITIVE_INFINITY],
    );
    for (let i = 1; i < series.length; i++) assert.ok(series[i]!.value >= series[i - 1]!.value, `${family} ${k}: cumulative buckets`);
    assert.equal(series.at(-1)!.value, counts.get(k), `${family} ${k}: +Inf bucket equals _count`);
    assert.ok(Number.isFinite(sums.get(k)), `${family} ${k}: finite _sum`);
  }
  return buckets.size;
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the tests.

function vsYaml(name: string, http: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}}
spec:
  hosts: [${name}]
  http:
${http}
`;
}

/** An endpoint that refuses connections: a port nothing listens on. */
async function deadEndpoint(): Promise<TestUpstream> {
  const port = await freePort();
  return {
    name: 'dead',
    port,
    host: '127.0.0.1',
    requests: [],
    behaviour: { kind: 'answer' },
    waitForRequests: () => Promise.reject(new Error('dead')),
    release: () => 0,
    close: async () => {},
  };
}

async function metricsText(tg: TestGateway): Promise<string> {
  const port = Number(tg.gw.adminAddress.split(':').at(-1));
  const a = await send(port, '/metrics');
  assert.equal(a.status, 200);
  assert.match(String(a.headers['content-type']), /^text\/plain/);
  return a.body;
}

/** Waits until `n` requests are logged (metrics are recorded at the same moment) and every shadow is done. */
async function settled(tg: TestGateway, n: number): Promise<void> {
  await tg.access.until((entries) => entries.length >= n);
  await tg.gw.shadows.idle();
}

/** True when `cmd` runs; false when it is not installed. */
function installed(cmd: string): boolean {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  return !r.error;
}

/** Skips (outside CI only) when a tool is missing; in CI a missing tool fails. */
function needs(t: TestContext, cmd: string): boolean {
  if (installed(cmd)) return true;
  if (process.env.CI) assert.fail(`${cmd} is not installed; CI installs it (apt-get install prometheus)`);
  t.skip(`${cmd} is not installed (apt-get install prometheus); CI runs this test`);
  return false;
}

/**
 * nginx (v1, v2 answering; v3 refusing connections) and api (v1, routed only on /api), on their own ports.
 *   nginx /refused     → v3, no retries: 503 UF
 *   nginx /dead-shadow → v1, mirrored to v3: the shadow is abandoned
 *   nginx /*           → v1, mirrored 100% to v2
 *   api   /api*        → api v1; anything else 404 NR
 */
async function mirroringSetup(extra: Record<string, string> = {}) {
  const v1 = await startUpstream('nginx-v1', { kind: 'answer', body: 'This is version 1\n' });
  const v2 = await startUpstream('nginx-v2', { kind: 'answer', body: 'This is version 2\n' });
  const v3 = await deadEndpoint();
  const apiV1 = await startUpstream('api-v1');
  const nginxPort = await freePort();
  const apiPort = await freePort();
  const tg = await startGateway({
    'nginx.yaml': serviceYaml('nginx', nginxPort, [
      { upstream: v1, labels: { version: 'v1' } },
      { upstream: v2, labels: { version: 'v2' } },
      { upstream: v3, labels: { version: 'v3' } },
    ]),
    'nginx-vs.yaml': vsYaml(
      'nginx',
      `  - match: [{uri: {prefix: /refused}}]
    route: [{destination: {host: nginx, subset: v3}}]
    retries: {attempts: 0}
  - match: [{uri: {prefix: /dead-shadow}}]
    route: [{destination: {host: nginx, subset: v1}}]
    mirror: {host: nginx, subset: v3}
  - route:
    - destination: {host: nginx, subset: v1}
      weight: 100
    mirror: {host: nginx, subset: v2}
    mirrorPercentage: {value: 100.0}`,
    ),
    'api.yaml': serviceYaml('api', apiPort, [{ upstream: apiV1, labels: { version: 'v1' } }]),
    'api-vs.yaml': vsYaml('api', '  - match: [{uri: {prefix: /api}}]\n    route: [{destination: {host: api, subset: v1}}]'),
    ...extra,
  });
  const nginx = (path: string, headers: Record<string, string> = {}) => send(nginxPort, path, { headers: { host: `nginx:${nginxPort}`, ...headers } });
  const api = (path: string) => send(apiPort, path, { headers: { host: 'api:8000' } });
  return {
    tg,
    v1,
    v2,
    nginx,
    api,
    async close() {
      await tg.close();
      await Promise.all([v1.close(), v2.close(), apiV1.close()]);
    },
  };
}

// ---------------------------------------------------------------------------------------------

describe('/metrics after known traffic', () => {
  let setup: Awaited<ReturnType<typeof mirroringSetup>>;
  let text = '';
  let samples: Sample[] = [];

  before(async () => {
    setup = await mirroringSetup();
    for (let i = 0; i < 10; i++) assert.equal((await setup.nginx(`/page/${i}`)).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await setup.api('/other')).status, 404);
    for (let i = 0; i < 2; i++) assert.equal((await setup.nginx('/refused')).status, 503);
    assert.equal((await setup.nginx('/dead-shadow')).status, 200);
    await settled(setup.tg, 16);
    text = await metricsText(setup.tg);
    // The caller's view (reporter="source") and Shadowgate's own families; the workload-side samples
    // (reporter="destination", issue 13) are asserted in rollouts-istio-metrics.test.ts.
    samples = parseExposition(text).filter((s) => s.labels.reporter !== 'destination');
  });
  after(() => setup?.close());

  it('every Istio label on every istio_* sample, reporter="source", unknown where there is no value', () => {
    const istio = samples.filter((s) => s.name.startsWith('istio_'));
    assert.ok(istio.length > 0);
    for (const s of istio) {
      const extra = s.name.endsWith('_bucket') ? ['le'] : [];
      assert.deepEqual(Object.keys(s.labels).sort(), [...ISTIO_LABELS, ...extra].sort(), `${s.name} labels`);
      assert.equal(s.labels.reporter, 'source');
      assert.equal(s.labels.request_protocol, 'http');
      assert.equal(s.labels.grpc_response_status, '', 'not gRPC: empty, as Istio');
      for (const l of [
        'source_workload',
        'source_canonical_service',
        'source_canonical_revision',
        'source_workload_namespace',
        'source_principal',
        'source_app',
        'source_version',
        'source_cluster',
        'destination_principal',
        'connection_security_policy',
      ]) {
        assert.equal(s.labels[l], 'unknown', `${s.name} ${l}`);
      }
    }
    for (const family of ['istio_requests_total', 'istio_request_duration_milliseconds', 'istio_request_bytes', 'istio_response_bytes']) {
      assert.match(text, new RegExp(`^# TYPE ${family} ${family.endsWith('_total') ? 'counter' : 'histogram'}$`, 'm'));
      assert.match(text, new RegExp(`^# HELP ${family} \\S`, 'm'));
    }
  });

  it('destination labels, response codes and flags, exact counts', () => {
    const v1 = select(samples, 'istio_requests_total', { destination_version: 'v1', destination_service: FQDN });
    assert.equal(v1.length, 1, 'one series for nginx v1');
    assert.deepEqual(v1[0]!.labels, {
      reporter: 'source',
      source_workload: 'unknown',
      source_canonical_service: 'unknown',
      source_canonical_revision: 'unknown',
      source_workload_namespace: 'unknown',
      source_principal: 'unknown',
      source_app: 'unknown',
      source_version: 'unknown',
      source_cluster: 'unknown',
      destination_workload: 'nginx-v1',
      destination_workload_namespace: 'default',
      destination_principal: 'unknown',
      destination_app: 'nginx',
      destination_version: 'v1',
      destination_service: FQDN,
      destination_canonical_service: 'nginx',
      destination_canonical_revision: 'v1',
      destination_service_name: 'nginx',
      destination_service_namespace: 'default',
      destination_cluster: 'unknown',
      request_protocol: 'http',
      response_code: '200',
      grpc_response_status: '',
      response_flags: '-',
      connection_security_policy: 'unknown',
    });
    // 10 mirrored requests plus the one whose shadow was abandoned.
    assert.equal(v1[0]!.value, 11);

    const nr = select(samples, 'istio_requests_total', { response_flags: 'NR' });
    assert.equal(nr.length, 1);
    assert.equal(nr[0]!.value, 3);
    assert.equal(nr[0]!.labels.response_code, '404');
    for (const l of [
      'destination_workload',
      'destination_app',
      'destination_version',
      'destination_canonical_service',
      'destination_principal',
      'destination_cluster',
    ]) {
      assert.equal(nr[0]!.labels[l], 'unknown', `no route, no endpoint: ${l}`);
    }

    const uf = select(samples, 'istio_requests_total', { response_flags: 'UF' });
    assert.equal(uf.length, 1);
    assert.equal(uf[0]!.value, 2);
    assert.equal(uf[0]!.labels.response_code, '503');
    assert.equal(uf[0]!.labels.destination_service, FQDN);
    assert.equal(uf[0]!.labels.destination_service_name, 'nginx');
    assert.equal(uf[0]!.labels.destination_version, 'v3');
    assert.equal(uf[0]!.labels.destination_workload, 'nginx-v3');
    assert.equal(uf[0]!.labels.destination_app, 'nginx');

    assert.equal(select(samples, 'istio_requests_total').length, 3, 'v1 200, NR 404, UF 503: nothing else');
    assert.equal(total(samples, 'istio_requests_total'), 16);
    assert.equal(total(samples, 'istio_requests_total', { destination_service: API_FQDN }), 0, 'the api service never got a request');

    // The other Istio families count the same requests, once each.
    for (const family of ['istio_request_duration_milliseconds', 'istio_request_bytes', 'istio_response_bytes']) {
      for (const s of select(samples, 'istio_requests_total')) {
        const { response_code, response_flags, destination_version } = s.labels;
        assert.equal(
          total(samples, `${family}_count`, { response_code: response_code!, response_flags: response_flags!, destination_version: destination_version! }),
          s.value,
          `${family}_count`,
        );
      }
    }
    assert.equal(total(samples, 'istio_response_bytes_sum', { destination_version: 'v1' }), 11 * 'This is version 1\n'.length);
    assert.equal(total(samples, 'istio_request_bytes_sum'), 0, 'GET requests carry no body');
  });

  it('a mirrored request counts once as primary and once as shadow, never twice', () => {
    assert.equal(total(samples, 'istio_requests_total', { destination_version: 'v2' }), 0, 'shadows are not in istio_requests_total');
    assert.equal(select(samples, 'istio_requests_total', { destination_version: 'v2' }).length, 0);
    const shadows = select(samples, 'shadowgate_shadow_requests_total');
    assert.deepEqual(
      shadows.map((s) => s.labels),
      [{ destination_service: FQDN, destination_subset: 'v2', response_code: '200' }],
    );
    assert.equal(shadows[0]!.value, 10);
    assert.equal(total(samples, 'shadowgate_shadow_request_duration_milliseconds_count', { destination_subset: 'v2' }), 10);
    assert.equal(total(samples, 'shadowgate_shadows_sampled_total', { destination_service: FQDN, destination_subset: 'v2' }), 10);
    assert.equal(total(samples, 'shadowgate_shadows_sampled_total', { destination_service: FQDN, destination_subset: 'v3' }), 1);
    assert.equal(setup.v2.requests.length, 10, 'the v2 upstream saw exactly the 10 shadows');
    assert.equal(setup.v1.requests.length, 11);
  });

  it("histograms use Envoy's buckets (0.5 … 3600000), +Inf equal to _count", () => {
    for (const family of ['istio_request_duration_milliseconds', 'istio_request_bytes', 'istio_response_bytes']) {
      assert.equal(checkHistogram(samples, family), 3, family);
    }
    assert.equal(checkHistogram(samples, 'shadowgate_shadow_request_duration_milliseconds'), 1);
    assert.match(text, /^# TYPE shadowgate_shadow_request_duration_milliseconds histogram$/m);
  });

  it('an abandoned shadow is counted by reason; gauges and config families are exposed', () => {
    const abandoned = select(samples, 'shadowgate_shadow_abandoned_total');
    assert.equal(total(samples, 'shadowgate_shadow_abandoned_total'), 1);
    assert.equal(abandoned.filter((s) => s.value > 0).length, 1);
    const [a] = abandoned.filter((s) => s.value > 0);
    assert.equal(a!.labels.destination_service, FQDN);
    assert.equal(a!.labels.destination_subset, 'v3');
    assert.ok(['connect_error', 'no_endpoint'].includes(a!.labels.reason!), `reason ${a!.labels.reason}`);
    assert.equal(total(samples, 'shadowgate_shadow_abandoned_total', { destination_subset: 'v2' }), 0);

    assert.deepEqual(
      select(samples, 'shadowgate_shadows_in_flight').map((s) => s.value),
      [0],
    );
    assert.deepEqual(
      select(samples, 'shadowgate_shadow_buffered_bytes').map((s) => s.value),
      [0],
    );
    assert.equal(total(samples, 'shadowgate_config_reloads_total', { result: 'applied' }), 1);
    assert.deepEqual(
      select(samples, 'shadowgate_config_reloads_total')
        .map((s) => s.labels.result)
        .sort(),
      ['applied', 'rejected', 'unchanged'],
    );
    assert.deepEqual(
      select(samples, 'shadowgate_config_problems')
        .map((s) => s.labels.severity)
        .sort(),
      ['error', 'info', 'warning'],
    );
    assert.equal(total(samples, 'shadowgate_config_problems', { severity: 'error' }), 0);
    const families = new Set(samples.map((s) => s.name.replace(/_(bucket|sum|count)$/, '')));
    assert.deepEqual([...families].sort(), [
      'istio_request_bytes',
      'istio_request_duration_milliseconds',
      'istio_requests_total',
      'istio_response_bytes',
      'shadowgate_build_info',
      'shadowgate_compare_exchanges_total',
      'shadowgate_compare_overflow_total',
      'shadowgate_compare_queue_length',
      'shadowgate_compare_store_errors_total',
      'shadowgate_config_last_reload_success',
      'shadowgate_config_problems',
      'shadowgate_config_reloads_total',
      'shadowgate_downstream_connections',
      'shadowgate_downstream_upgraded_connections',
      'shadowgate_outlier_ejections_overflow_total',
      'shadowgate_outlier_ejections_total',
      'shadowgate_shadow_abandoned_total',
      'shadowgate_shadow_buffered_bytes',
      'shadowgate_shadow_request_duration_milliseconds',
      'shadowgate_shadow_requests_total',
      'shadowgate_shadows_in_flight',
      'shadowgate_shadows_sampled_total',
      'shadowgate_upstream_active_requests',
      'shadowgate_upstream_endpoints',
      'shadowgate_upstream_healthy_endpoints',
      'shadowgate_upstream_no_healthy_total',
      'shadowgate_upstream_overflow_total',
      'shadowgate_upstream_pending_requests',
    ]);
  });

  it("promtool check metrics: only the milliseconds base-unit findings Istio's names force", async (t) => {
    if (!needs(t, 'promtool')) return;
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (out += c));
    child.stdin.end(text);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [code] = (await once(child, 'close')) as [number | null];
    clearTimeout(timer);
    const findings = out
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    const accepted = new Set([
      'istio_request_duration_milliseconds use base unit "seconds" instead of "milliseconds"',
      'shadowgate_shadow_request_duration_milliseconds use base unit "seconds" instead of "milliseconds"',
    ]);
    assert.ok(code === 0 || code === 3, `promtool exit ${code}:\n${out}`);
    assert.deepEqual(
      findings.filter((f) => !accepted.has(f)),
      [],
      `unexpected promtool findings (exit ${code}):\n${out}`,
    );
  });
});

describe('tracing headers', () => {
  it('traceparent, tracestate and B3 arrive unchanged at primary and shadow; x-request-id kept, or generated once for both', async () => {
    const setup = await mirroringSetup();
    try {
      const trace = {
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
        'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
        'x-b3-spanid': 'e457b5a2e4d86bd1',
        'x-b3-parentspanid': '05e3ac9a4f6e3b90',
        'x-b3-sampled': '1',
        b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90',
      };
      assert.equal((await setup.nginx('/traced', { ...trace, 'x-request-id': 'rid-given-1' })).status, 200);
      assert.equal((await setup.nginx('/untraced')).status, 200);
      await setup.v2.waitForRequests(2);
      await settled(setup.tg, 2);

      const at = (u: TestUpstream, url: string) => {
        const r = u.requests.find((q) => q.url === url);
        assert.ok(r, `${u.name} got ${url}`);
        return r;
      };
      for (const u of [setup.v1, setup.v2]) {
        const r = at(u, '/traced');
        for (const [h, v] of Object.entries(trace)) assert.equal(r.headers[h], v, `${u.name} ${h}`);
        assert.equal(r.headers['x-request-id'], 'rid-given-1', `${u.name} keeps the given x-request-id`);
      }
      const primary = at(setup.v1, '/untraced');
      const shadow = at(setup.v2, '/untraced');
      const id = primary.headers['x-request-id'];
      assert.match(String(id), UUID, 'a missing x-request-id is generated as a UUID');
      assert.equal(shadow.headers['x-request-id'], id, 'the shadow carries the primary’s generated id');
      for (const h of Object.keys(trace)) assert.equal(primary.headers[h], undefined, `no ${h} invented`);
      assert.equal(setup.tg.access.entries.find((e) => e.path === '/untraced')?.request_id, id);
    } finally {
      await setup.close();
    }
  });
});

describe('Envoy response flags on a retried connect failure', () => {
  it("Istio's default retries on a refusing endpoint: 503 with flags UF,URX (Envoy's flag order)", async () => {
    const dead = await deadEndpoint();
    const port = await freePort();
    const tg = await startGateway({
      'svc.yaml': serviceYaml('gone', port, [{ upstream: dead, labels: { version: 'v1' } }]),
      'vs.yaml': vsYaml('gone', '  - route: [{destination: {host: gone, subset: v1}}]'),
    });
    try {
      assert.equal((await send(port, '/', { headers: { host: `gone:${port}` } })).status, 503);
      await settled(tg, 1);
      const samples = parseExposition(await metricsText(tg));
      assert.deepEqual(
        select(samples, 'istio_requests_total').map((s) => [s.labels.response_code, s.labels.response_flags, s.value]),
        [['503', 'UF,URX', 1]],
      );
    } finally {
      await tg.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

/** Every `expr` of every panel (rows included) of the dashboard. */
function dashboardExprs(): Array<{ panel: string; refId: string; expr: string }> {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Array<Record<string, unknown>> };
  const out: Array<{ panel: string; refId: string; expr: string }> = [];
  const walk = (panels: Array<Record<string, unknown>>) => {
    for (const p of panels) {
      for (const t of (p.targets as Array<{ expr?: string; refId?: string }> | undefined) ?? []) {
        if (t.expr) out.push({ panel: String(p.title), refId: t.refId ?? '?', expr: t.expr });
      }
      walk((p.panels as Array<Record<string, unknown>> | undefined) ?? []);
    }
  };
  walk(dash.panels);
  return out;
}

/** Grafana's variables as the test's Prometheus sees them. */
function substitute(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}|\$__interval|\$\{__interval\}|\$__range|\$\{__range\}/g, '1m')
    .replace(/\$service|\$\{service(?::[a-z]+)?\}|\[\[service\]\]/g, '.*');
}

describe('the Grafana dashboard against a real Prometheus', () => {
  it('the scrape config in deploy/ is valid', (t) => {
    if (!needs(t, 'promtool')) return;
    const r = spawnSync('promtool', ['check', 'config', join(ROOT, 'deploy', 'prometheus', 'prometheus.yml')], { encoding: 'utf8', timeout: 15_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const yml = readFileSync(join(ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8');
    assert.match(yml, /job_name: shadowgate/);
    assert.match(yml, /metrics_path: \/metrics/);
    assert.match(yml, /127\.0\.0\.1:15000/);
    assert.match(yml, /scrape_interval: 15s/);
  });

  it('the dashboard: variables, $__rate_interval in every range, the service filter where the family has the label', () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      schemaVersion: number;
      templating: { list: Array<{ name: string; type: string; query: unknown; includeAll?: boolean; definition?: string }> };
    };
    assert.ok(dash.schemaVersion >= 36, `schemaVersion ${dash.schemaVersion}`);
    const vars = new Map(dash.templating.list.map((v) => [v.name, v]));
    assert.equal(vars.get('DS_PROMETHEUS')?.type, 'datasource');
    assert.equal(vars.get('DS_PROMETHEUS')?.query, 'prometheus');
    assert.equal(vars.get('service')?.type, 'query');
    assert.equal(vars.get('service')?.definition, 'label_values(istio_requests_total, destination_service)');
    assert.equal(vars.get('service')?.includeAll, true);
    const exprs = dashboardExprs();
    assert.ok(exprs.length >= 12, `${exprs.length} queries`);
    for (const { panel, expr } of exprs) {
      for (const range of expr.match(/\[[^\]]*\]/g) ?? []) assert.equal(range, '[$__rate_interval]', `${panel}: ${expr}`);
      const withService = /istio_|shadowgate_shadow_(requests|request_duration|abandoned)|shadowgate_shadows_sampled/.test(expr);
      if (withService) assert.match(expr, /destination_service=~"\$service"/, `${panel}: ${expr}`);
    }
    for (const m of [
      'istio_requests_total',
      'shadowgate_shadow_requests_total',
      'istio_request_duration_milliseconds_bucket',
      'shadowgate_shadow_request_duration_milliseconds_bucket',
      'shadowgate_shadow_abandoned_total',
      'shadowgate_shadows_in_flight',
      'shadowgate_shadow_buffered_bytes',
      'shadowgate_config_reloads_total',
      'shadowgate_config_problems',
    ]) {
      assert.ok(
        exprs.some((e) => e.expr.includes(m)),
        `a panel queries ${m}`,
      );
    }
  });

  it('every dashboard query returns data for live traffic', { timeout: 120_000 }, async (t) => {
    if (!needs(t, 'prometheus')) return;
    const setup = await mirroringSetup();
    try {
      const prom = await startPrometheus([setup.tg.gw.adminAddress]);
      try {
        // Three rounds of traffic, each followed by one more successful scrape of the gateway (Prometheus' own count
        // of them), so every series has samples with increases between them, as rate() over a range needs.
        // Mirrored primaries, 503 UF, 404 NR, an abandoned shadow on every /dead-shadow.
        const statuses = new Map<number, number>();
        const count = (s: number) => statuses.set(s, (statuses.get(s) ?? 0) + 1);
        await prom.scrapes(1);
        for (let round = 0; round < 3; round++) {
          for (let i = 0; i < 5; i++) count((await setup.nginx(`/page/${i}`)).status);
          count((await setup.nginx('/refused')).status);
          count((await setup.nginx('/dead-shadow')).status);
          count((await setup.api('/other')).status);
          // Every shadow of the round ended (answered or abandoned), so its counters are in the next scrape.
          await setup.tg.gw.shadows.idle();
          await prom.scrapes(1);
        }
        assert.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(503) ?? 0) > 0 && (statuses.get(404) ?? 0) > 0, JSON.stringify([...statuses]));

        const up = await prom.query('max_over_time(up{job="shadowgate"}[1h])');
        assert.equal(up.data?.result[0]?.value[1], '1', `the gateway is scraped: ${JSON.stringify(up)}\n${prom.log()}`);

        const empty: string[] = [];
        for (const { panel, refId, expr } of dashboardExprs()) {
          const q = substitute(expr);
          assert.doesNotMatch(q, /\$/, `every variable substituted: ${q}`);
          const r = await prom.query(q);
          if ((r.data?.result.length ?? 0) === 0) empty.push(`${panel} ${refId}: ${q}`);
        }
        assert.deepEqual(empty, [], 'queries without data');
      } finally {
        await prom.close();
      }
    } finally {
      await setup.close();
    }
  });
});
