// The diff explorer end to end: a real gateway compares a candidate with a known 10% field regression, and
// headless Chromium reads it through /ui: FAIL on the endpoint, the field named, both values highlighted, a
// PASS run after the fix (a new candidate), and an answer body holding <script> shown as text.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { client, freePort, send, startGateway } from './harness/gateway.js';
import { mirrorServiceYaml } from './harness/service-yaml.js';
import { CHROMIUM, launchChromium } from './harness/ui.js';
import { within } from './harness/wait.js';

after(() => client.close());

const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}: apt-get install -y chromium (CI's .ci/run does)`;
const HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';

/** A JSON API answering order `id` with its price; `wrong(n)` says which answers carry the regression. */
async function orders(wrong: (n: number) => boolean): Promise<{ port: number; close(): Promise<void> }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const id = Number((req.url ?? '').split('/')[2]?.split('?')[0] ?? 0);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id, customer: { name: 'Ada' }, price: wrong(n++) ? '11.00' : '10.00', currency: 'EUR', note: HOSTILE }));
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

const config = (port: number, v1: number, v2: number) =>
  mirrorServiceYaml({ host: 'orders', port, primary: v1, candidate: v2, mirrors: ['v2', 'v1'], compare: '    thresholds: {minSample: 100}\n' });

describe('diff explorer end to end (browser, real gateway)', { skip }, () => {
  it('shows the regression, its field and values, then a PASS run after the fix; hostile bodies as text', async () => {
    const v1 = await orders(() => false);
    const bad = await orders((n) => n % 10 === 3);
    const fixed = await orders(() => false);
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'shadowgate-ui-e2e-'));
    const tg = await startGateway({ 'orders.yaml': config(port, v1.port, bad.port) }, { store: join(dir, 'compare.db') });
    const { browser } = await launchChromium();
    assert.ok(browser);
    const adminPort = Number(tg.gw.adminAddress.split(':').at(-1));
    const api = async <T>(path: string): Promise<T> => JSON.parse((await send(adminPort, `/api/${path}`)).body) as T;
    const traffic = async (n: number) => {
      for (let i = 0; i < n; i++) assert.equal((await send(port, `/orders/${i}`, { headers: { host: 'orders' } })).status, 200);
      await within(tg.gw.shadows.idle(), 'every shadow to end');
    };
    try {
      await traffic(200);
      await tg.gw.comparator!.flush();
      const page = await browser!.newPage({ viewport: { width: 1366, height: 860 } });
      page.setDefaultTimeout(10_000);
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      const ready = (hash: string) => page.locator(`main > .view[data-ready="#${hash}"]`).waitFor();
      const base = `http://${tg.gw.adminAddress}/ui`;

      // Runs: the run mirrored traffic opened, FAIL, the field in its reasons.
      await page.goto(`${base}#/runs`);
      await ready('/runs');
      const { runs } = await api<{ runs: { id: string; route: string; verdict: string }[] }>('runs');
      assert.equal(runs.length, 1);
      const bad1 = runs[0]!;
      assert.equal(bad1.verdict, 'FAIL');
      assert.match(
        await page.locator('main tbody tr').first().innerText(),
        new RegExp(`${bad1.id}[\\s\\S]*default/orders#0[\\s\\S]*FAIL[\\s\\S]*body\\.price`),
      );
      // /api/traffic names the route as the runs do.
      const traffic1 = await api<{ routes: { route: string; mirrors: { sampled: number }[] }[] }>('traffic');
      assert.equal(traffic1.routes[0]!.route, bad1.route);
      assert.deepEqual(
        traffic1.routes[0]!.mirrors.map((m) => m.sampled),
        [200, 200],
      );

      // Endpoints: the endpoint is FAIL.
      await page.keyboard.press('Enter');
      await ready(`/runs/${bad1.id}`);
      const endpointRow = page.locator('main tbody tr').first();
      assert.match(await endpointRow.innerText(), /GET \/orders\/\{id\}[\s\S]*200[\s\S]*10\.0%[\s\S]*FAIL/);
      const endpointId = await endpointRow.getAttribute('data-key');

      // Fields: the field is named, with its rate and verdict.
      await endpointRow.press('Enter');
      await ready(`/runs/${bad1.id}/endpoints/${endpointId}`);
      const fieldRow = page.locator('main tbody tr').first();
      assert.equal(await fieldRow.getAttribute('data-key'), 'body.price');
      assert.match(await fieldRow.innerText(), /body\.price[\s\S]*value_changed ×20[\s\S]*10\.0%[\s\S]*"10\.00" → "11\.00"[\s\S]*FAIL/);

      // Exchange: both values of the field highlighted; the body's <script> is text.
      await fieldRow.press('Enter');
      await ready(`/runs/${bad1.id}/endpoints/${endpointId}/samples?field=body.price`);
      assert.match(await page.locator('.answer.primary .line.diff[data-path="body.price"]').innerText(), /^"price": "10\.00"$/);
      assert.match(await page.locator('.answer.candidate .line.diff[data-path="body.price"]').innerText(), /^"price": "11\.00"$/);
      assert.equal(await page.locator('.answer.secondary .line.diff').count(), 1, 'the secondary shows the same field');
      assert.match(
        await page.locator('.answer.primary .line[data-path="body.note"]').innerText(),
        /<script>window\.__pwned = 1<\/script><img src=x onerror=\\"window\.__pwned = 2\\">/,
      );
      assert.equal(await page.locator('main script, main img').count(), 0);
      assert.equal(await page.evaluate('globalThis.__pwned'), undefined);
      assert.match(
        await page.locator('#curl').innerText(),
        /^curl -sS -H 'x-request-id: [0-9a-f-]+' -H 'via: 1\.1 shadowgate' 'http:\/\/orders\/orders\/\d+'$/,
      );

      // The fix: a new candidate (another address) opens a new run, which passes.
      tg.write('orders.yaml', config(port, v1.port, fixed.port));
      assert.equal((await tg.gw.reload()).result, 'applied');
      // No difference in 400 requests: the interval's upper end falls under the 1% threshold (certainty).
      await traffic(400);
      await tg.gw.comparator!.flush();
      const after = (await api<{ runs: { id: string; verdict: string; reason: string }[] }>('runs')).runs;
      const fixedRun = after.find((r) => r.id !== bad1.id)!;
      assert.equal(fixedRun.reason, 'candidate-changed');
      assert.equal(fixedRun.verdict, 'PASS', JSON.stringify(after));
      // The run switch, on the failed run's endpoints, shows the PASS run.
      await page.goto(`${base}#/runs/${bad1.id}`);
      await ready(`/runs/${bad1.id}`);
      await page.locator('#run-switch').selectOption(fixedRun.id);
      await ready(`/runs/${fixedRun.id}`);
      assert.equal(await page.locator('.summary .verdict').innerText(), 'PASS');
      assert.match(await page.locator('main tbody tr').first().innerText(), /GET \/orders\/\{id\}[\s\S]*PASS/);
      assert.deepEqual(problems, []);
    } finally {
      await browser?.close();
      await tg.close();
      await Promise.all([v1.close(), bad.close(), fixed.close()]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
