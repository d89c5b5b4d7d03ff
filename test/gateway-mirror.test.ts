// Mirroring over real sockets: the article's steps, Istio's task, sampling, isolation from bad shadows, bodies, reload.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { GatewayOptions, ReloadResult } from '../src/gateway/index.js';
import { client, freePort, seededRandom, send, serviceYaml, startGateway, type TestGateway } from './harness/gateway.js';
import { startUpstream, type TestUpstream } from './harness/upstream.js';
import { WAIT_MS, waitFor, waitForEvent, within } from './harness/wait.js';

after(() => client.close());

const FQDN = 'nginx.default.svc.cluster.local';

function vsYaml(http: string, name = 'nginx'): string {
  return `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: ${name}}
spec:
  hosts: [nginx]
  http:
${http}
`;
}

const ROUTE_V1 = `  - route:
    - destination: {host: nginx, subset: v1}
      weight: 100`;

async function twoVersions(): Promise<[TestUpstream, TestUpstream]> {
  return [
    await startUpstream('version 1', { kind: 'answer', body: 'This is version 1\n' }),
    await startUpstream('version 2', { kind: 'answer', body: 'This is version 2\n' }),
  ];
}

/** The article's two versions behind a gateway serving `vs` (undefined: the service alone, no rules). */
async function article(vs: string | undefined, opts: Partial<GatewayOptions> = {}) {
  const [v1, v2] = await twoVersions();
  const port = await freePort();
  const files: Record<string, string> = {
    'service.yaml': serviceYaml('nginx', port, [
      { upstream: v1, labels: { version: 'v1' } },
      { upstream: v2, labels: { version: 'v2' } },
    ]),
  };
  if (vs) files['vs.yaml'] = vs;
  const tg = await startGateway(files, opts);
  return {
    v1,
    v2,
    port,
    tg,
    async close() {
      await tg.close();
      await v1.close();
      await v2.close();
    },
  };
}

async function sendMany(port: number, n: number, path = '/', headers: Record<string, string> = {}) {
  const answers = [];
  for (let i = 0; i < n; i++) answers.push(await send(port, path, { headers: { host: `nginx:${port}`, ...headers } }));
  return answers;
}

/** Every shadow ended (answered or abandoned): ShadowWriter.idle() resolves on the last one, no polling. */
async function shadowsSettled(tg: TestGateway): Promise<void> {
  await within(tg.gw.shadows.idle(), 'every shadow to end');
}

describe("the article's three steps", () => {
  it('1: no rules, traffic flows to both versions; 2: all to v1; 3: all to v1 and every request mirrored to v2', async () => {
    const { v1, v2, port, tg, close } = await article(undefined);
    try {
      // Step 1: only the service.
      const step1 = await sendMany(port, 20);
      assert.ok(step1.every((a) => a.status === 200));
      assert.ok(step1.some((a) => a.body === 'This is version 1\n') && step1.some((a) => a.body === 'This is version 2\n'));
      assert.ok(v1.requests.length > 0 && v2.requests.length > 0);
      assert.equal(v1.requests.length + v2.requests.length, 20);

      // Step 2: route everything to v1.
      v1.requests.length = 0;
      v2.requests.length = 0;
      tg.write('vs.yaml', vsYaml(ROUTE_V1));
      assert.equal((await tg.gw.reload()).result, 'applied');
      const step2 = await sendMany(port, 10);
      assert.ok(step2.every((a) => a.body === 'This is version 1\n'));
      assert.equal(v1.requests.length, 10);
      assert.equal(v2.requests.length, 0);

      // Step 3: mirror 100% (legacy mirror_percent) to v2.
      v1.requests.length = 0;
      tg.write('vs.yaml', vsYaml(`${ROUTE_V1}\n    mirror: {host: nginx, subset: v2}\n    mirror_percent: 100`));
      assert.equal((await tg.gw.reload()).result, 'applied');
      const step3 = await sendMany(port, 10);
      assert.ok(step3.every((a) => a.body === 'This is version 1\n'));
      await v2.waitForRequests(10);
      assert.equal(v1.requests.length, 10);
      assert.equal(v2.requests.length, 10);
      for (let i = 0; i < 10; i++) {
        const primary = v1.requests[i]!;
        const shadow = v2.requests.find((r) => r.headers['x-request-id'] === primary.headers['x-request-id']);
        assert.ok(shadow, 'each shadow carries the request id of its primary');
        assert.equal(shadow.url, primary.url);
        assert.ok(Math.abs(shadow.at - primary.at) < 500, 'the copy arrives at the same moment');
        assert.equal(shadow.headers['x-forwarded-for'], '127.0.0.1');
        assert.equal(primary.headers['x-forwarded-for'], undefined);
        assert.equal(shadow.headers['x-shadowgate-mirror'], 'true');
        assert.equal(shadow.headers.host, `nginx:${port}`, 'Host is kept as it is by default (Istio 1.28+)');
      }
      await shadowsSettled(tg);
      assert.equal(await tg.gw.metrics.total('shadowgate_shadow_requests_total', { response_code: '200' }), 10);
    } finally {
      await close();
    }
  });
});

describe("Istio's mirroring task (httpbin, mirrorPercentage 100.0)", () => {
  it('v1 answers, v2 gets a copy with the same method, path, query, headers and body', async () => {
    const v1 = await startUpstream('httpbin-v1');
    const v2 = await startUpstream('httpbin-v2');
    const port = await freePort();
    const tg = await startGateway({
      'httpbin.yaml': `${serviceYaml('httpbin', port, [
        { upstream: v1, labels: { version: 'v1' } },
        { upstream: v2, labels: { version: 'v2' } },
      ])}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin]
  http:
  - route:
    - destination: {host: httpbin, subset: v1}
      weight: 100
    mirror: {host: httpbin, subset: v2}
    mirrorPercentage: {value: 100.0}
`,
    });
    try {
      const a = await send(port, '/headers?x=1&y=2', {
        method: 'POST',
        headers: {
          host: `httpbin:${port}`,
          'x-request-id': 'rid-1',
          traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
          'content-type': 'application/json',
        },
        body: '{"hello":"world"}',
      });
      assert.equal(a.status, 200);
      assert.equal(a.body, 'This is httpbin-v1\n');
      await v2.waitForRequests(1);
      const [p, s] = [v1.requests[0]!, v2.requests[0]!];
      assert.equal(s.method, 'POST');
      assert.equal(s.url, '/headers?x=1&y=2');
      assert.equal(s.body.toString(), '{"hello":"world"}');
      assert.equal(p.body.toString(), '{"hello":"world"}');
      for (const h of ['x-request-id', 'traceparent', 'content-type', 'host']) assert.equal(s.headers[h], p.headers[h], h);
      assert.equal(s.headers['x-request-id'], 'rid-1');
    } finally {
      await tg.close();
      await v1.close();
      await v2.close();
    }
  });

  it('the classic Envoy "-shadow" Host suffix is a switch, inserted before the port', async () => {
    const { v1, v2, port, close } = await article(vsYaml(`${ROUTE_V1}\n    mirror: {host: nginx, subset: v2}`), { mirrorOverrides: { hostSuffix: true } });
    try {
      await send(port, '/', { headers: { host: `nginx:${port}` } });
      await v2.waitForRequests(1);
      assert.equal(v2.requests[0]!.headers.host, `nginx-shadow:${port}`);
      assert.equal(v1.requests[0]!.headers.host, `nginx:${port}`);
    } finally {
      await close();
    }
  });
});

describe('mirror percentages, with Istio tolerances', () => {
  it('absent → all, 50 ± 10%, 10 ± 5%, 0 → exactly none; one random per request makes 10% a subset of 50%', async () => {
    const [v1, v2] = await twoVersions();
    const port = await freePort();
    const route = (prefix: string, pct: string) =>
      `  - match: [{uri: {prefix: ${prefix}}}]\n    route: [{destination: {host: nginx, subset: v1}}]\n    mirrors:\n    - destination: {host: nginx, subset: v2}${pct}`;
    const tg = await startGateway(
      {
        'service.yaml': serviceYaml('nginx', port, [
          { upstream: v1, labels: { version: 'v1' } },
          { upstream: v2, labels: { version: 'v2' } },
        ]),
        'vs.yaml': vsYaml(
          [
            route('/absent', ''),
            route('/fifty', '\n      percentage: {value: 50}'),
            route('/ten', '\n      percentage: {value: 10}'),
            route('/zero', '\n      percentage: {value: 0}'),
          ].join('\n'),
        ),
      },
      { random: seededRandom(7) },
    );
    try {
      const N = 300;
      for (const path of ['/absent', '/fifty', '/ten', '/zero']) await sendMany(port, N, path);
      await shadowsSettled(tg);
      const count = (p: string) => v2.requests.filter((r) => r.url === p).length;
      assert.equal(count('/absent'), N);
      assert.ok(Math.abs(count('/fifty') / N - 0.5) <= 0.1, `50%: ${count('/fifty')}`);
      assert.ok(Math.abs(count('/ten') / N - 0.1) <= 0.05, `10%: ${count('/ten')}`);
      assert.equal(count('/zero'), 0);
      assert.equal(v1.requests.length, 4 * N);
    } finally {
      await tg.close();
      await v1.close();
      await v2.close();
    }
  });

  it('multiple mirrors each with their own percentage; a 10% mirror fires only where a 20% one does', async () => {
    const v1 = await startUpstream('v1');
    const v2 = await startUpstream('v2');
    const v3 = await startUpstream('v3');
    const port = await freePort();
    const tg = await startGateway(
      {
        'service.yaml': serviceYaml('nginx', port, [
          { upstream: v1, labels: { version: 'v1' } },
          { upstream: v2, labels: { version: 'v2' } },
          { upstream: v3, labels: { version: 'v3' } },
        ]),
        'vs.yaml': vsYaml(`${ROUTE_V1}
    mirrors:
    - destination: {host: nginx, subset: v2}
      percentage: {value: 20}
    - destination: {host: nginx, subset: v3}
      percentage: {value: 10}`),
      },
      { random: seededRandom(3) },
    );
    try {
      await sendMany(port, 400);
      await shadowsSettled(tg);
      const ids = (u: TestUpstream) => new Set(u.requests.map((r) => String(r.headers['x-request-id'])));
      const [at2, at3] = [ids(v2), ids(v3)];
      assert.ok(Math.abs(at2.size / 400 - 0.2) <= 0.06, `20%: ${at2.size}`);
      assert.ok(Math.abs(at3.size / 400 - 0.1) <= 0.05, `10%: ${at3.size}`);
      for (const id of at3) assert.ok(at2.has(id), 'every request mirrored at 10% is also mirrored at 20%');
    } finally {
      await tg.close();
      await Promise.all([v1.close(), v2.close(), v3.close()]);
    }
  });
});

describe('isolation: a bad shadow never touches the primary', () => {
  async function primaryLatency(shadow: 'slow' | 'hung' | 'absent') {
    const v1 = await startUpstream('v1');
    // A slow shadow holds every copy until the test has looked (released then): slow for as long as the test needs,
    // whatever the machine's speed. A hung one never answers and is given up after the mirror timeout.
    const v2 = await startUpstream('v2', shadow === 'slow' ? { kind: 'hold' } : shadow === 'hung' ? { kind: 'hang' } : { kind: 'answer' });
    const port = await freePort();
    const tg = await startGateway(
      {
        'service.yaml': serviceYaml('nginx', port, [
          { upstream: v1, labels: { version: 'v1' } },
          { upstream: v2, labels: { version: 'v2' } },
        ]),
        'vs.yaml': vsYaml(`${ROUTE_V1}\n    mirror: {host: nginx, subset: v2}`),
      },
      // The hung shadow's timeout is the only clock here: the last copy must outlive the last primary answer (a stall
      // of the whole machine longer than 5 s could break that); the held one is released long before its timeout.
      { mirrorOverrides: { timeoutMs: shadow === 'hung' ? 5_000 : WAIT_MS } },
    );
    if (shadow === 'absent') await v2.close();
    try {
      const answers = await sendMany(port, 40);
      // Read before anything awaits: shadows still in flight when the last primary answer is in.
      const shadowsInFlight = tg.gw.shadows.shadowsInFlight;
      return {
        errors: answers.filter((a) => a.status !== 200).length,
        shadowsInFlight,
        primaryReceived: v1.requests.length,
        tg,
        v2,
        async close() {
          await tg.close();
          await v1.close();
          if (shadow !== 'absent') await v2.close();
        },
      };
    } catch (err) {
      await tg.close();
      throw err;
    }
  }

  for (const shadow of ['slow', 'hung', 'absent'] as const) {
    it(`${shadow} shadow: zero primary errors, the primary never waits for its shadow, the give-up counted`, async () => {
      const bad = await primaryLatency(shadow);
      try {
        assert.equal(bad.errors, 0);
        assert.equal(bad.primaryReceived, 40);
        // Sequential requests on one keep-alive connection: nginx would hold each behind its mirror (300 ms, 1 s),
        // so no shadow would be left in flight when the last answer is in. Here the last copy still is (no clock read).
        if (shadow !== 'absent') assert.ok(bad.shadowsInFlight > 0, `${bad.shadowsInFlight} shadows in flight after the last primary answer`);
        if (shadow === 'hung') {
          await shadowsSettled(bad.tg);
          assert.equal(await bad.tg.gw.metrics.total('shadowgate_shadow_abandoned_total', { reason: 'timeout' }), 40);
        }
        if (shadow === 'absent') {
          await shadowsSettled(bad.tg);
          const connect = await bad.tg.gw.metrics.total('shadowgate_shadow_abandoned_total', { reason: 'connect_error' });
          const noEndpoint = await bad.tg.gw.metrics.total('shadowgate_shadow_abandoned_total', { reason: 'no_endpoint' });
          assert.equal(connect + noEndpoint, 40);
          assert.ok(connect <= 2, `a dead shadow is not dialled per request (${connect} connect attempts)`);
        }
        if (shadow === 'slow') {
          await bad.v2.waitForRequests(40);
          bad.v2.release();
          await shadowsSettled(bad.tg);
          assert.equal(await bad.tg.gw.metrics.total('shadowgate_shadow_requests_total', { response_code: '200' }), 40);
        }
      } finally {
        await bad.close();
      }
    });
  }

  it('too many shadows in flight: the excess is abandoned and counted, the primary unaffected', async () => {
    const v1 = await startUpstream('v1');
    const v2 = await startUpstream('v2', { kind: 'hang' });
    const port = await freePort();
    const tg = await startGateway(
      {
        'service.yaml': serviceYaml('nginx', port, [
          { upstream: v1, labels: { version: 'v1' } },
          { upstream: v2, labels: { version: 'v2' } },
        ]),
        'vs.yaml': vsYaml(`${ROUTE_V1}\n    mirror: {host: nginx, subset: v2}`),
      },
      // A timeout no run reaches: a copy timed out would free a slot, and the count of excess would depend on speed.
      { mirrorOverrides: { maxInFlight: 5, timeoutMs: WAIT_MS } },
    );
    try {
      const answers = await sendMany(port, 20);
      assert.ok(answers.every((a) => a.status === 200));
      assert.equal(tg.gw.shadows.shadowsInFlight, 5);
      assert.equal(await tg.gw.metrics.total('shadowgate_shadow_abandoned_total', { reason: 'too_many_in_flight' }), 15);
    } finally {
      await tg.close();
      await v1.close();
      await v2.close();
    }
  });
});

describe('request bodies', () => {
  it('a body within the bounds arrives byte-identical at primary and shadow; one beyond them is served and the shadow abandoned', async () => {
    const { v1, v2, port, tg, close } = await article(vsYaml(`${ROUTE_V1}\n    mirror: {host: nginx, subset: v2}`), {
      mirrorOverrides: { maxBodyBytes: 1024 * 1024 },
    });
    try {
      const small = randomBytes(512 * 1024);
      const a = await send(port, '/upload', { method: 'POST', headers: { host: `nginx:${port}` }, body: small });
      assert.equal(a.status, 200);
      await v2.waitForRequests(1);
      assert.ok(v1.requests[0]!.body.equals(small), 'primary body identical');
      assert.ok(v2.requests[0]!.body.equals(small), 'shadow body identical');

      // Beyond the per-shadow bound, with a shadow that does not read: the primary still gets every byte.
      v2.behaviour = { kind: 'hang' };
      // A timeout no run reaches: the body bound, not the clock, must be what gives this copy up.
      tg.gw.shadows.configure({ ...tg.gw.snapshot.settings.mirror, maxBodyBytes: 64 * 1024, timeoutMs: WAIT_MS });
      const big = randomBytes(4 * 1024 * 1024);
      const b = await send(port, '/upload', { method: 'POST', headers: { host: `nginx:${port}` }, body: big });
      assert.equal(b.status, 200);
      assert.ok(v1.requests[1]!.body.equals(big), 'primary body identical');
      await shadowsSettled(tg);
      assert.equal(await tg.gw.metrics.total('shadowgate_shadow_abandoned_total', { reason: 'body_too_large' }), 1);
      assert.equal(tg.gw.shadows.budget.used, 0, 'every buffered byte released');
    } finally {
      await close();
    }
  });

  it('a large upload streams to a shadow that keeps up (beyond the per-shadow buffer)', async () => {
    const { v1, v2, port, close } = await article(vsYaml(`${ROUTE_V1}\n    mirror: {host: nginx, subset: v2}`), {
      mirrorOverrides: { maxBodyBytes: 1024 * 1024 },
    });
    try {
      const big = randomBytes(3 * 1024 * 1024);
      const a = await send(port, '/upload', { method: 'PUT', headers: { host: `nginx:${port}` }, body: big });
      assert.equal(a.status, 200);
      await v2.waitForRequests(1);
      assert.ok(v1.requests[0]!.body.equals(big));
      assert.ok(v2.requests[0]!.body.equals(big));
    } finally {
      await close();
    }
  });
});

describe('operations', () => {
  it('hot reload under load: zero failed requests, the new routes take effect, a broken file keeps the last good config', async () => {
    const { port, tg, close } = await article(vsYaml(ROUTE_V1));
    try {
      let stop = false;
      const statuses: number[] = [];
      const bodies: string[] = [];
      // Counted, not timed: each step waits for this many more answers to arrive.
      let waiter: { n: number; resolve: () => void } | undefined;
      const moreAnswers = (n: number) =>
        new Promise<void>((resolve) => {
          waiter = { n: statuses.length + n, resolve };
        });
      const load = Array.from({ length: 8 }, async () => {
        while (!stop) {
          const a = await send(port, '/', { headers: { host: `nginx:${port}` } });
          statuses.push(a.status);
          bodies.push(a.body);
          if (waiter && statuses.length >= waiter.n) {
            waiter.resolve();
            waiter = undefined;
          }
        }
      });
      const toV2 = vsYaml('  - route:\n    - destination: {host: nginx, subset: v2}');
      for (let i = 0; i < 6; i++) {
        tg.write('vs.yaml', i % 2 === 0 ? toV2 : vsYaml(ROUTE_V1));
        assert.equal((await tg.gw.reload()).result, 'applied');
        await moreAnswers(16);
      }
      // A broken file: refused, last good (v1) keeps serving.
      tg.write('vs.yaml', 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: nginx\n');
      const rejected = await tg.gw.reload();
      assert.equal(rejected.result, 'rejected');
      assert.match(rejected.problems[0]!.file ?? '', /vs\.yaml$/);
      await moreAnswers(16);
      stop = true;
      await Promise.all(load);
      assert.ok(statuses.length > 100, `sent ${statuses.length}`);
      assert.deepEqual([...new Set(statuses)], [200]);
      assert.ok(bodies.includes('This is version 2\n') && bodies.includes('This is version 1\n'));
      assert.equal((await send(port, '/', { headers: { host: `nginx:${port}` } })).body, 'This is version 1\n');
      const dump = JSON.parse((await send(Number(tg.gw.adminAddress.split(':')[1]), '/config_dump')).body);
      assert.equal(dump.last_rejected_reload.problems[0].code, 'malformed-yaml');
      assert.equal(await tg.gw.metrics.total('shadowgate_config_reloads_total', { result: 'rejected' }), 1);
    } finally {
      await close();
    }
  });

  /** A gateway whose mirror (v2) holds its copy; one request sent, its shadow held at v2 and still in flight. */
  async function heldShadow(opts: Partial<GatewayOptions>) {
    const held = await article(vsYaml(`${ROUTE_V1}\n    mirror: {host: nginx, subset: v2}`), opts);
    held.v2.behaviour = { kind: 'hold' };
    assert.equal((await send(held.port, '/', { headers: { host: `nginx:${held.port}` } })).status, 200);
    await held.v2.waitForRequests(1);
    assert.equal(held.tg.gw.shadows.shadowsInFlight, 1);
    return held;
  }

  it('shutdown with a shadow in flight waits for it (ShadowWriter.idle), and its answer is still counted', async () => {
    // Both bounds far beyond the test: only the release can end the wait.
    const { v2, tg, close } = await heldShadow({ drainTimeoutMs: WAIT_MS, mirrorOverrides: { timeoutMs: WAIT_MS } });
    try {
      let finished = false;
      const shutdown = tg.gw.shutdown().then(() => {
        finished = true;
      });
      // The listeners are force-closed just before the shadow wait begins: from then on shutdown waits for the shadow.
      await waitFor(
        () => tg.gw.addresses().length,
        (n) => n === 0,
        { what: 'the listeners to close' },
      );
      assert.equal(finished, false, 'shutdown finished while a shadow was still held');
      assert.equal(tg.gw.shadows.shadowsInFlight, 1);
      assert.equal(v2.release(), 1);
      await within(shutdown, 'shutdown once the shadow was released');
      assert.equal(tg.gw.shadows.shadowsInFlight, 0);
      assert.equal(await tg.gw.metrics.total('shadowgate_shadow_requests_total', { response_code: '200' }), 1);
      assert.equal(await tg.gw.metrics.total('shadowgate_shadow_abandoned_total'), 0);
    } finally {
      await close();
    }
  });

  it('shutdown with a shadow that never ends completes at the drain timeout', async () => {
    // The drain timeout is the bound under test (shorter than the mirror timeout, which no run reaches).
    const { v2, tg, close } = await heldShadow({ drainTimeoutMs: 200, mirrorOverrides: { timeoutMs: WAIT_MS } });
    try {
      await within(tg.gw.shutdown(), 'shutdown at the drain timeout');
      assert.equal(await tg.gw.metrics.total('shadowgate_shadow_requests_total', { response_code: '200' }), 0);
      assert.equal(v2.requests.length, 1);
    } finally {
      await close();
    }
  });

  it('files are watched: an edit is picked up without a signal', async () => {
    const { port, tg, close } = await article(vsYaml(ROUTE_V1), { watch: true });
    try {
      assert.equal((await send(port, '/', { headers: { host: `nginx:${port}` } })).body, 'This is version 1\n');
      const applied = waitForEvent<[ReloadResult & { trigger: string }]>(tg.gw.events, 'reload', {
        what: "the watch's reload to apply",
        filter: (r) => r.trigger === 'watch' && r.result === 'applied',
      });
      tg.write('vs.yaml', vsYaml('  - route:\n    - destination: {host: nginx, subset: v2}'));
      await applied;
      assert.equal((await send(port, '/', { headers: { host: `nginx:${port}` } })).body, 'This is version 2\n');
    } finally {
      await close();
    }
  });

  it('one JSON access-log line per request with route, destination, request id and mirror outcome', async () => {
    const { v1, port, tg, close } = await article(
      vsYaml(`  - name: primary\n    route:\n    - destination: {host: nginx, subset: v1}\n    mirror: {host: nginx, subset: v2}`),
    );
    try {
      await send(port, '/x?y=1', { headers: { host: `nginx:${port}`, 'x-request-id': 'abc' } });
      await shadowsSettled(tg);
      const [e] = tg.access.entries;
      assert.equal(tg.access.entries.length, 1);
      assert.equal(e!.method, 'GET');
      assert.equal(e!.path, '/x?y=1');
      assert.equal(e!.response_code, 200);
      assert.equal(e!.response_flags, '-');
      assert.equal(e!.route_name, 'primary');
      assert.equal(e!.upstream_cluster, `outbound|${port}|v1|${FQDN}`);
      assert.equal(e!.upstream_host, `127.0.0.1:${v1.port}`);
      assert.equal(e!.request_id, 'abc');
      assert.equal(e!.mirrors[0]!.cluster, `outbound|${port}|v2|${FQDN}`);
      assert.ok(['in_flight', '200'].includes(e!.mirrors[0]!.outcome));
    } finally {
      await close();
    }
  });

  it('a second hop through Shadowgate is refused (Via), and upstreams see the gateway in Via', async () => {
    const { v1, v2, port, close } = await article(vsYaml(`${ROUTE_V1}\n    mirror: {host: nginx, subset: v2}`));
    try {
      const ok = await send(port, '/', { headers: { host: 'nginx', via: '1.1 corporate-proxy' } });
      assert.equal(ok.status, 200);
      await v2.waitForRequests(1);
      assert.equal(v1.requests[0]!.headers.via, '1.1 corporate-proxy, 1.1 shadowgate');
      assert.equal(v2.requests[0]!.headers.via, '1.1 corporate-proxy, 1.1 shadowgate');
      const loop = await send(port, '/', { headers: { host: 'nginx', via: '1.1 shadowgate' } });
      assert.equal(loop.status, 508);
      assert.equal(v1.requests.length, 1, 'the looping request reached no upstream');
    } finally {
      await close();
    }
  });
});
