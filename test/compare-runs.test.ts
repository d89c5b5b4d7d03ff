// Runs and a verdict to trust across a rollout (issue 12), end to end on real sockets: a fixed candidate
// replaces a broken one (reload, restart), certain small-sample failures, time-aware noise, whole exchanges
// kept redacted, caps, and a full disk under the store (issue 15, item 10).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { api, apiYaml, cli, client, endpoints, fields, jsonApi, type RunJson, scenario, send, settle, traffic, verdict } from './compare-scenario.js';
import { freePort } from './harness/gateway.js';
import { WAIT_MS, waitFor, within } from './harness/wait.js';

after(() => client.close());

const order = (total: number) => ({ id: 7, total, currency: 'EUR' });
/** v1's answers: orders and items, no noise at all. */
const v1 = (_n: number, req: { url?: string }) => ({ body: (req.url ?? '').startsWith('/orders') ? order(42) : { items: [1, 2, 3], path: req.url } });
/** A broken v2: every order's total is off by one. */
const broken = (n: number, req: { url?: string }) => ((req.url ?? '').startsWith('/orders') ? { body: order(43) } : v1(n, req));

function bytesOf(file: string): Buffer {
  const parts = [readFileSync(file)];
  if (existsSync(`${file}-wal`)) parts.push(readFileSync(`${file}-wal`));
  return Buffer.concat(parts);
}

describe('runs: a fixed candidate replaces a broken one', () => {
  it('on reload: the broken run FAILs, the fixed one PASSes on new traffic, nothing deleted', async () => {
    const s = await scenario(v1, broken, { secondary: true });
    try {
      await traffic(s, 40, (i) => `/orders/${i}`);
      const first = await verdict(s);
      assert.equal(first.result, 'FAIL', JSON.stringify(first));
      const brokenRun = first.runs[0]!.run;

      await s.redeployV2(v1);
      await traffic(s, 300, (i) => `/orders/${i}`);
      const v = await verdict(s);
      assert.equal(v.result, 'PASS', JSON.stringify(v, null, 1));
      assert.equal(v.runs.length, 1);
      assert.notEqual(v.runs[0]!.run.id, brokenRun.id);
      assert.equal(v.runs[0]!.run.reason, 'candidate-changed');
      assert.ok(v.runs[0]!.run.compared >= 300);

      // The old run is still there, ended, and still FAIL when asked for by id.
      const runs = (await api<{ runs: RunJson[] }>(s, 'runs')).json.runs;
      assert.deepEqual(
        runs.map((r) => [r.id, r.verdict, r.endedAt === null]),
        [
          [v.runs[0]!.run.id, 'PASS', true],
          [brokenRun.id, 'FAIL', false],
        ],
      );
      assert.equal((await verdict(s, `?run=${brokenRun.id}`)).result, 'FAIL');
      // --since covers both: the broken one fails it.
      assert.equal((await verdict(s, '?since=1h')).result, 'FAIL');
    } finally {
      await s.close();
    }
  });

  it('on restart with the same store: the same config continues its run, a new candidate starts one', async () => {
    const s = await scenario(v1, broken, { secondary: true });
    try {
      await traffic(s, 40, (i) => `/orders/${i}`);
      const before = (await verdict(s)).runs[0]!.run;
      assert.equal(before.verdict, 'FAIL');

      // Same config, same store: the run goes on (and stays FAIL: the candidate did not change).
      await s.stopGateway();
      await s.restartGateway();
      await traffic(s, 10, (i) => `/orders/${i}`);
      const same = await verdict(s);
      assert.equal(same.runs[0]!.run.id, before.id);
      assert.equal(same.runs[0]!.run.compared, before.compared + 10);
      assert.equal(same.result, 'FAIL');

      // The fixed v2 is deployed while the gateway is down: at start, a new run; stale data never judges it.
      await s.stopGateway();
      await s.redeployV2Offline(v1);
      await s.restartGateway();
      const fresh = await verdict(s);
      assert.notEqual(fresh.runs[0]!.run.id, before.id);
      assert.equal(fresh.runs[0]!.run.reason, 'candidate-changed');
      assert.equal(fresh.result, 'INCONCLUSIVE');
      await traffic(s, 300, (i) => `/orders/${i}`);
      assert.equal((await verdict(s)).result, 'PASS');
    } finally {
      await s.close();
    }
  });
});

describe('certainty', () => {
  it('30 of 30 changed answers on a small endpoint FAIL and name the field, while a big identical endpoint passes', async () => {
    const s = await scenario(v1, broken, { secondary: true });
    try {
      await traffic(s, 300, (i) => `/items/${i}`);
      await traffic(s, 30, (i) => `/orders/${i}`);
      const v = await verdict(s);
      assert.equal(v.result, 'FAIL', JSON.stringify(v, null, 1));
      assert.match(v.reasons[0]!, /GET \/orders\/\{id\}: body\.total differs in 100\.0% of requests \(value changed, e\.g\. 42 vs 43; noise 0\.0%\)/);
      const eps = (await endpoints(s)).endpoints;
      assert.deepEqual(eps.map((e) => [e.endpoint, e.verdict]).sort(), [
        ['GET /items/{id}', 'PASS'],
        ['GET /orders/{id}', 'FAIL'],
      ]);
      const cli1 = await cli('verdict', '--admin', s.tg.gw.adminAddress);
      assert.equal(cli1.status, 1);
      assert.match(cli1.stdout, /body\.total differs in 100\.0% of requests \(value changed, e\.g\. 42 vs 43/);
    } finally {
      await s.close();
    }
  });

  it('millisecond timestamps from a candidate 3 ms slower than v1 PASS with a secondary, reported as time-like', async () => {
    // v2 stamps its answers 3 ms later than v1 (and v1's second answer, the secondary, a little later too).
    const stamp = (lagMs: number) => ({ generatedAt: Date.now() + lagMs, updatedAt: new Date(Date.now() + lagMs).toISOString(), total: 5 });
    const s = await scenario(
      () => ({ body: stamp(0) }),
      () => ({ body: stamp(3) }),
      { secondary: true },
    );
    try {
      await traffic(s, 300);
      const v = await verdict(s);
      assert.equal(v.result, 'PASS', JSON.stringify(v, null, 1));
      const ep = (await endpoints(s)).endpoints[0]!;
      const fs = await fields(s, ep.id);
      const at = fs.find((f) => f.field === 'body.generatedAt');
      assert.ok(at, JSON.stringify(fs));
      assert.equal(at.rate, 0);
      assert.ok(at.timeLike > 250, `time-like ${at.timeLike}`);
      assert.ok(
        ep.reasons.some((r) => /body\.generatedAt: time-like, within tolerance/.test(r)),
        JSON.stringify(ep.reasons),
      );
    } finally {
      await s.close();
    }
  });
});

describe('runs start', () => {
  it('opens a new run by hand (CLI and POST /api/runs); bad bodies are 400', async () => {
    const s = await scenario(v1, v1, { secondary: true });
    try {
      await traffic(s, 5);
      const before = (await verdict(s)).runs[0]!.run;
      const started = await cli('runs', 'start', '--admin', s.tg.gw.adminAddress, '--note', 'after the fix');
      assert.equal(started.status, 0, started.stderr);
      assert.match(
        started.stdout,
        /^started run r\d+ on default\/api#items: candidate api\.default\.svc\.cluster\.local\/v2 vs primary api\.default\.svc\.cluster\.local\/v1/,
      );
      await traffic(s, 3);
      const v = await verdict(s);
      assert.notEqual(v.runs[0]!.run.id, before.id);
      assert.equal(v.runs[0]!.run.reason, 'manual');
      assert.equal(v.runs[0]!.run.note, 'after the fix');
      assert.equal(v.runs[0]!.run.compared, 3);

      const post = await api<{ run: RunJson }>(s, 'runs', { method: 'POST', body: '{"route": "default/api#items"}' });
      assert.equal(post.status, 201);
      assert.equal(post.json.run.route, 'default/api#items');
      for (const body of ['not json', '[1]', '{"note": 5}', '{"other": 1}', `{"note": "${'x'.repeat(600)}"}`]) {
        const r = await api(s, 'runs', { method: 'POST', body });
        assert.equal(r.status, 400, body);
      }
      assert.equal((await api(s, 'runs', { method: 'POST', body: '{"route": "nope#0"}' })).status, 400);
      assert.equal((await api(s, 'verdict', { method: 'POST', body: '{}' })).status, 405);

      const listed = await cli('runs', '--admin', s.tg.gw.adminAddress);
      assert.equal(listed.status, 0);
      assert.match(listed.stdout, /^ID\s+START\s+END\s+ROUTE/);
      assert.equal(listed.stdout.trim().split('\n').length, 4);
    } finally {
      await s.close();
    }
  });
});

describe('whole exchanges, redacted', () => {
  it('secrets in request and response bodies never reach the store; samples show the rest side by side', async () => {
    const answer = (who: number) => (_n: number, _req: { url?: string }, body: string) => ({
      body: { ok: who === 1, echo: body.length, access_token: `SECRET-RESP-${who}`, profile: { name: `visible-${who}`, client_secret: 'SECRET-CS' } },
      headers: { 'set-cookie': 'sid=SECRET-COOKIE; Path=/' },
    });
    const s = await scenario(answer(1), answer(2), { secondary: true });
    try {
      for (let i = 0; i < 5; i++) {
        const a = await send(s.port, `/login/${i}?token=SECRET-QUERY&lang=en`, {
          method: 'POST',
          headers: { host: 'api', 'content-type': 'application/json', authorization: 'Bearer SECRET-AUTH', 'x-api-key': 'SECRET-APIKEY' },
          body: JSON.stringify({ user: 'ann', password: 'SECRET-PASSWORD', deep: { list: [{ refresh_token: 'SECRET-REFRESH' }] } }),
        });
        assert.equal(a.status, 200);
      }
      const form = await send(s.port, '/login/form', {
        method: 'POST',
        headers: { host: 'api', 'content-type': 'application/x-www-form-urlencoded' },
        body: 'user=ann&passwd=SECRET-FORM&api_key=SECRET-FORMKEY',
      });
      assert.equal(form.status, 200);
      await settle(s);
      const ep = (await endpoints(s)).endpoints.find((e) => e.endpoint === 'POST /login/{id}')!;
      const samples = await api<{ samples: { request: { query: string; body: string; headers: Record<string, string> }; candidate: { body: string } }[] }>(
        s,
        `samples?endpoint=${ep.id}&field=body.ok&limit=2`,
      );
      assert.equal(samples.status, 200);
      assert.equal(samples.json.samples.length, 2);
      const one = samples.json.samples[0]!;
      assert.equal(one.request.query, 'token=%5Bredacted%5D&lang=en');
      assert.equal(one.request.headers.authorization, '[redacted]');
      assert.equal(one.request.headers['x-api-key'], '[redacted]');
      assert.deepEqual(JSON.parse(one.request.body), { user: 'ann', password: '[redacted]', deep: { list: [{ refresh_token: '[redacted]' }] } });
      assert.equal(JSON.parse(one.candidate.body).profile.name, 'visible-2');

      // Parameters are checked: 400, never 500.
      for (const q of [
        `samples?endpoint=${ep.id}&limit=0`,
        `samples?endpoint=${ep.id}&limit=501`,
        `samples?endpoint=${ep.id}&limit=x`,
        'samples?endpoint=nope',
        'samples',
        `samples?endpoint=${ep.id}&run=r999`,
        'fields?endpoint=a%2Fb',
      ]) {
        const r = await api<{ error: string }>(s, q);
        assert.equal(r.status, 400, q);
        assert.equal(typeof r.json.error, 'string');
      }

      const printed = await cli('samples', '--admin', s.tg.gw.adminAddress, '--field', 'body.ok', '--endpoint', 'POST /login/{id}', '--limit', '1');
      assert.equal(printed.status, 0, printed.stderr);
      assert.match(printed.stdout, /^sample \d+ .* POST \/login\/\{id\}/);
      assert.match(printed.stdout, /PRIMARY\s+CANDIDATE/);
      assert.match(printed.stdout, /"ok": true,\s+\|\s+"ok": false,/);
      assert.doesNotMatch(printed.stdout, /SECRET/);

      await s.tg.gw.comparator!.flush();
      const bytes = bytesOf(s.store);
      assert.ok(bytes.includes('visible-1'), 'the search works: unredacted values are in the file');
      assert.ok(!bytes.includes('SECRET'), `a secret reached the store: ${bytes.toString('latin1').match(/.{0,40}SECRET.{0,20}/)?.[0]}`);
    } finally {
      await s.close();
    }
  });
});

describe('bounds', () => {
  it('endpoints beyond maxEndpointsPerRun go to one "other" endpoint, counted', async () => {
    const s = await scenario(v1, v1, { extra: '    maxEndpointsPerRun: 5\n' });
    try {
      await traffic(s, 40, (i) => `/page-${i}/view`);
      const eps = (await endpoints(s)).endpoints;
      assert.equal(eps.length, 6);
      const other = eps.find((e) => e.endpoint === '(other endpoints)');
      assert.equal(other?.compared, 35);
      assert.equal(await s.tg.gw.metrics.total('shadowgate_compare_overflow_total', { bucket: 'endpoint' }), 35);
    } finally {
      await s.close();
    }
  });

  it('a full disk under the store: traffic unaffected, logged once, counted, /ready unaffected', async () => {
    const lines: string[] = [];
    // max_page_count plays the full disk: SQLite fails the writes with SQLITE_FULL, as on ENOSPC.
    // A new store takes 18 pages; a few more and the writes find the "disk" full.
    const s = await scenario(v1, broken, { gateway: { storeOptions: { maxPageCount: 24 }, log: (l) => lines.push(l) } });
    try {
      for (let round = 0; round < 6; round++) {
        const answers = await Promise.all(
          Array.from({ length: 40 }, (_, i) => send(s.port, `/orders/${round}/item-${i}/${'x'.repeat(200)}`, { headers: { host: 'api' } })),
        );
        assert.ok(answers.every((a) => a.status === 200 && a.body.includes('42')));
        await settle(s);
        await s.tg.gw.comparator!.flush();
      }
      const full = await s.tg.gw.metrics.total('shadowgate_compare_store_errors_total', { reason: 'disk_full' });
      assert.ok(full > 0, `disk_full errors ${full}`);
      assert.equal(lines.filter((l) => /cannot write the comparison store/.test(l)).length, 1, lines.join('\n'));
      const ready = await send(Number(s.tg.gw.adminAddress.split(':').pop()), '/ready');
      assert.equal(ready.status, 200);
      assert.equal((await api(s, 'verdict')).status, 200);
    } finally {
      await s.close();
    }
  });
});

describe('serve --workers 2 with a new store', () => {
  it('the supervisor creates the store once; runs, POST /api/runs and the verdict work across workers', async () => {
    const one = await jsonApi(v1);
    const two = await jsonApi(broken);
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'shadowgate-workers-'));
    writeFileSync(join(dir, 'api.yaml'), apiYaml(port, one.port, two.port, { secondary: true }));
    const bin = fileURLToPath(new URL('../../bin/shadowgate.js', import.meta.url));
    const store = join(dir, 'new', 'compare.db');
    mkdirSync(join(dir, 'new'));
    const child = spawn(
      process.execPath,
      [bin, 'serve', '-f', join(dir, 'api.yaml'), '--bind', '127.0.0.1', '--admin', '127.0.0.1:0', '--access-log', 'off', '--store', store, '--workers', '2'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const admin = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not ready within ${WAIT_MS} ms: ${stderr}`)), WAIT_MS);
        child.stderr.on('data', (c: Buffer) => {
          stderr += c.toString();
          const m = /ready: .* admin http:\/\/([\d.]+:\d+), 2 workers/.exec(stderr);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        child.once('exit', () => reject(new Error(`exited: ${stderr}`)));
      });
      for (let i = 0; i < 30; i++) {
        const a = await send(port, `/orders/${i}`, { headers: { host: 'api', connection: 'close' } });
        assert.equal(a.status, 200);
      }
      const adminPort = Number(admin.split(':')[1]);
      // Every worker flushes before one answers: the 30 exchanges (whichever worker took them) are in.
      const compared = await waitFor(
        async () => (JSON.parse((await send(adminPort, '/api/verdict')).body) as { runs: { run: { compared: number } }[] }).runs[0]?.run.compared ?? 0,
        (n) => n >= 30,
        { what: '30 compared exchanges in the verdict' },
      );
      assert.equal(compared, 30);
      const gate = await cli('verdict', '--admin', admin);
      assert.equal(gate.status, 1, gate.stdout + gate.stderr);
      const started = await cli('runs', 'start', '--admin', admin, '--note', 'fixed');
      assert.equal(started.status, 0, started.stderr);
      const runs = JSON.parse((await send(adminPort, '/api/runs')).body) as { runs: { reason: string; compared: number }[] };
      assert.deepEqual(
        runs.runs.map((r) => [r.reason, r.compared]),
        [
          ['manual', 0],
          ['started', 30],
        ],
      );
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      assert.doesNotMatch(stderr, /not a Shadowgate store/);
    } finally {
      child.kill('SIGKILL');
      await one.close();
      await two.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('two candidates on one route', () => {
  it("only requests on which the run's candidate fired are compared; the others are counted as ignored", async () => {
    const { startGateway } = await import('./harness/gateway.js');
    const a = await jsonApi(v1);
    const b = await jsonApi(v1);
    const c = await jsonApi(broken);
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'shadowgate-two-'));
    const tg = await startGateway(
      {
        'api.yaml': `${apiYaml(port, a.port, b.port, {})
          .replace(
            `  - {address: 127.0.0.1, ports: {http: ${b.port}}, labels: {version: v2}}`,
            `  - {address: 127.0.0.1, ports: {http: ${b.port}}, labels: {version: v2}}\n  - {address: 127.0.0.1, ports: {http: ${c.port}}, labels: {version: v3}}`,
          )
          .replace('{name: v2, labels: {version: v2}}]', '{name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}]')
          .replace(
            '    mirror: {host: api, subset: v2}',
            '    mirrors:\n    - {destination: {host: api, subset: v2}, percentage: {value: 50}}\n    - {destination: {host: api, subset: v3}}',
          )}`,
      },
      { store: join(dir, 'c.db') },
    );
    try {
      for (let i = 0; i < 60; i++) assert.equal((await send(port, `/orders/${i}`, { headers: { host: 'api' } })).status, 200);
      await within(tg.gw.shadows.idle(), 'every shadow to end');
      const v = JSON.parse((await send(Number(tg.gw.adminAddress.split(':').pop()), '/api/verdict')).body) as {
        runs: { run: { compared: number; candidate: { subset: string } } }[];
      };
      const ignored = await tg.gw.metrics.total('shadowgate_compare_exchanges_total', { result: 'ignored' });
      assert.equal(v.runs[0]!.run.candidate.subset, 'v2');
      // v3 (the broken one) fires on every request, v2 on about half: only those are compared, against v2.
      assert.ok(ignored > 0 && v.runs[0]!.run.compared > 0, `ignored ${ignored}, compared ${v.runs[0]!.run.compared}`);
      assert.equal(ignored + v.runs[0]!.run.compared, 60);
      assert.notEqual(JSON.parse((await send(Number(tg.gw.adminAddress.split(':').pop()), '/api/verdict')).body).result, 'FAIL');
    } finally {
      await tg.close();
      await a.close();
      await b.close();
      await c.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
