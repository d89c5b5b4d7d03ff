// Comparison end to end, on real sockets: v1 answers, v2 (and v1 again, the noise baseline) get copies,
// the answers are compared off the data path and judged; `shadowgate verdict` gates on the result.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { client, freePort, send, startGateway, type TestGateway } from './harness/gateway.js';

after(() => client.close());

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'shadowgate.js');

/** Runs the CLI without blocking this process's event loop (the gateway under test lives in it). */
function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    }),
  );
}

type Handler = (n: number, req: http.IncomingMessage) => { status?: number; body: unknown; delayMs?: number };

/** A JSON API whose answer depends on how many requests it has seen. */
async function jsonApi(handler: Handler): Promise<{ port: number; close(): Promise<void> }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const a = handler(n++, req);
      const write = () => {
        res.writeHead(a.status ?? 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(a.body));
      };
      if (a.delayMs) setTimeout(write, a.delayMs);
      else write();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const item = (id: number, price: number) => ({ id, name: `item ${id}`, price, tags: ['a', 'b'] });
/** What v1 answers: stable content plus per-answer noise (a timestamp and a random id). */
const v1Body = (path: string) => ({
  path,
  items: [item(1, 10), item(2, 20)],
  // Microseconds: two answers never carry the same timestamp.
  generatedAt: `${new Date().toISOString()}/${process.hrtime.bigint()}`,
  traceId: Math.random().toString(36).slice(2),
});

interface Scenario {
  tg: TestGateway;
  dir: string;
  port: number;
  close(): Promise<void>;
}

async function scenario(v2: Handler, opts: { secondary?: boolean; minSample?: number; extra?: string } = {}): Promise<Scenario> {
  const v1 = await jsonApi((_n, req) => ({ body: v1Body(req.url ?? '') }));
  const v2s = await jsonApi(v2);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'shadowgate-compare-'));
  const mirrors = opts.secondary
    ? '    mirrors:\n    - destination: {host: api, subset: v2}\n    - destination: {host: api, subset: v1}'
    : '    mirror: {host: api, subset: v2}';
  const tg = await startGateway(
    {
      'api.yaml': `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec:
  hosts: [api]
  ports: [{number: ${port}, name: http}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: ${v1.port}}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {http: ${v2s.port}}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  hosts: [api]
  http:
  - name: items
    route: [{destination: {host: api, subset: v1}}]
${mirrors}
---
apiVersion: shadowgate.dev/v1alpha1
kind: ShadowgateConfig
metadata: {name: shadowgate}
spec:
  compare:
    thresholds: {minSample: ${opts.minSample ?? 100}}
${opts.extra ?? ''}`,
    },
    { store: join(dir, 'compare.db') },
  );
  return {
    tg,
    dir,
    port,
    async close() {
      await tg.close();
      await v1.close();
      await v2s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function traffic(s: Scenario, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const a = await send(s.port, `/items/${1000 + i}?page=${i % 3}`, { headers: { host: 'api' } });
    assert.equal(a.status, 200);
  }
  const until = Date.now() + 10_000;
  while (s.tg.gw.shadows.shadowsInFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
}

interface VerdictJson {
  result: string;
  compared: number;
  reasons: string[];
  endpoints: Array<{ endpoint: string; result: string; reasons: string[]; noiseBaseline: boolean; fields: Array<{ field: string; real: boolean }> }>;
}

async function verdict(s: Scenario): Promise<VerdictJson> {
  const admin = Number(s.tg.gw.adminAddress.split(':')[1]);
  const r = await send(admin, '/api/verdict');
  assert.equal(r.status, 200);
  return JSON.parse(r.body) as VerdictJson;
}

describe('comparison and verdict', () => {
  it('a v2 whose JSON differs in one field for ~10% of requests gets FAIL naming that field', async () => {
    const s = await scenario((n, req) => {
      const body = v1Body(req.url ?? '');
      if (n % 10 === 3) body.items[1]!.price = 21;
      return { body };
    }, { secondary: true });
    try {
      await traffic(s, 200);
      const v = await verdict(s);
      assert.equal(v.result, 'FAIL', JSON.stringify(v, null, 1));
      const ep = v.endpoints[0]!;
      assert.equal(ep.endpoint, 'items GET /items/{id}');
      const real = ep.fields.filter((f) => f.real).map((f) => f.field);
      assert.deepEqual(real, ['body.items[*].price']);
      assert.ok(v.reasons.concat(ep.reasons).some((r) => r.includes('body.items[*].price')), JSON.stringify(v.reasons));
      // The noisy fields differ too, but as often as v1 differs from itself: not real.
      assert.ok(ep.fields.some((f) => f.field === 'body.generatedAt' && !f.real));
    } finally {
      await s.close();
    }
  });

  it('a v2 identical to v1 except for timestamps and random ids, with a secondary, gets PASS', async () => {
    const s = await scenario((_n, req) => ({ body: v1Body(req.url ?? '') }), { secondary: true });
    try {
      await traffic(s, 150);
      const v = await verdict(s);
      assert.equal(v.result, 'PASS', JSON.stringify(v, null, 1));
      assert.equal(v.endpoints[0]!.noiseBaseline, true);
      assert.ok(v.compared >= 150);
    } finally {
      await s.close();
    }
  });

  it('ten requests get INCONCLUSIVE', async () => {
    const s = await scenario((_n, req) => ({ body: v1Body(req.url ?? '') }), { secondary: true, minSample: 100 });
    try {
      await traffic(s, 10);
      assert.equal((await verdict(s)).result, 'INCONCLUSIVE');
    } finally {
      await s.close();
    }
  });

  it('a v2 that answers 500 for 5% of requests gets FAIL on errors', async () => {
    const s = await scenario((n, req) => (n % 20 === 7 ? { status: 500, body: { error: 'boom' } } : { body: v1Body(req.url ?? '') }), { secondary: true });
    try {
      await traffic(s, 200);
      const v = await verdict(s);
      assert.equal(v.result, 'FAIL', JSON.stringify(v, null, 1));
      assert.ok(v.endpoints[0]!.reasons.some((r) => /error/i.test(r)), JSON.stringify(v.endpoints[0]!.reasons));
    } finally {
      await s.close();
    }
  });

  it('a v2 300 ms slower gets FAIL on latency, and the primary is not slowed', async () => {
    const s = await scenario((_n, req) => ({ body: v1Body(req.url ?? ''), delayMs: 300 }), { secondary: true });
    try {
      const started = performance.now();
      await traffic(s, 120);
      const v = await verdict(s);
      assert.equal(v.result, 'FAIL', JSON.stringify(v, null, 1));
      assert.ok(v.endpoints[0]!.reasons.some((r) => /latency|p99/i.test(r)), JSON.stringify(v.endpoints[0]!.reasons));
      assert.ok(performance.now() - started < 120 * 300, 'the primary did not wait for the slow shadow');
    } finally {
      await s.close();
    }
  });

  it('without a secondary, per-field rates are reported and marked "no noise baseline"', async () => {
    const s = await scenario((_n, req) => ({ body: v1Body(req.url ?? '') }), { minSample: 20 });
    try {
      await traffic(s, 30);
      const v = await verdict(s);
      const ep = v.endpoints[0]!;
      assert.equal(ep.noiseBaseline, false);
      assert.ok(ep.fields.some((f) => f.field === 'body.generatedAt'));
      assert.ok(JSON.stringify(v).toLowerCase().includes('no noise baseline'));
    } finally {
      await s.close();
    }
  });

  it('user rules: an ignored field never counts; a full queue drops and counts, never the primary', async () => {
    const s = await scenario(
      (n, req) => {
        const body = v1Body(req.url ?? '');
        if (n % 10 === 3) body.items[1]!.price = 21;
        return { body };
      },
      { secondary: true, extra: '    ignoreFields: ["body.items[*].price"]\n    queueSize: 1\n' },
    );
    try {
      // A burst: with a queue of one, some exchanges are dropped and counted.
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => send(s.port, `/items/${i}`, { headers: { host: 'api' } })));
      assert.ok(answers.every((a) => a.status === 200));
      const until = Date.now() + 5_000;
      while (s.tg.gw.shadows.shadowsInFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
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
  it('--admin and --store give the same verdict with documented exit codes; --output json', async () => {
    const s = await scenario((n, req) => {
      const body = v1Body(req.url ?? '');
      if (n % 10 === 3) body.items[1]!.price = 21;
      return { body };
    }, { secondary: true });
    try {
      await traffic(s, 150);
      const online = await cli('verdict', '--admin', s.tg.gw.adminAddress);
      assert.equal(online.status, 1, online.stdout + online.stderr);
      assert.match(online.stdout, /FAIL/);
      assert.match(online.stdout, /body\.items\[\*\]\.price/);
      const json = await cli('verdict', '--admin', s.tg.gw.adminAddress, '--output', 'json');
      assert.equal(json.status, 1);
      assert.equal(JSON.parse(json.stdout).result, 'FAIL');
      await s.tg.gw.comparator!.flush();
      const offline = await cli('verdict', '--store', join(s.dir, 'compare.db'));
      assert.equal(offline.status, 1, offline.stdout + offline.stderr);
      assert.match(offline.stdout, /body\.items\[\*\]\.price/);
      const unreachable = await cli('verdict', '--admin', '127.0.0.1:1');
      assert.equal(unreachable.status, 4);
      assert.doesNotMatch(unreachable.stderr, /\n\s+at /);
    } finally {
      await s.close();
    }
  });
});
