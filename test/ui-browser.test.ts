// The diff explorer in real headless Chromium against the admin listener serving the contract's fixtures: every
// view, deep links, sorting and filtering, keyboard navigation, and hostile sample strings shown as text.
// SHADOWGATE_SCREENSHOTS=docs/ui writes the screenshots the README shows.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { AdminServer } from '../src/admin/index.js';
import { CHROMIUM, fixtureSource, launchChromium } from './harness/ui.js';

const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}: apt-get install -y chromium (CI's .ci/run does)`;
const shots = process.env.SHADOWGATE_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), 'shadowgate-ui-'));
// Screenshots kept only where asked for: a temporary directory goes with the run (each run had left one behind).
after(() => {
  if (process.env.SHADOWGATE_SCREENSHOTS === undefined) rmSync(shots, { recursive: true, force: true });
});

describe('diff explorer (browser, fixtures)', { skip }, () => {
  let admin: AdminServer;
  let base: string;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const calls: string[] = [];
  let onCall: ((call: string) => void) | undefined;

  before(async () => {
    admin = new AdminServer(
      fixtureSource((c) => {
        calls.push(c);
        onCall?.(c);
      }),
    );
    base = `http://${await admin.listen('127.0.0.1', 0)}`;
    browser = (await launchChromium()).browser!;
    page = await browser.newPage({ viewport: { width: 1366, height: 860 } });
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/favicon/.test(m.location().url)) problems.push(`console: ${m.text()}`);
    });
    mkdirSync(shots, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await admin?.close();
  });

  /** Waits until the view at `hash` has drawn (the status line may still tell of the previous one). */
  const ready = (hash: string) => page.locator(`main > .view[data-ready="#${hash}"]`).waitFor();
  const open = async (hash: string) => {
    await page.goto(`${base}/ui#${hash}`);
    await ready(hash);
  };
  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  it('lists the runs, newest first, with their verdicts', async () => {
    await open('/runs');
    const rows = page.locator('main tbody tr');
    assert.equal(await rows.count(), 2);
    assert.match((await rows.nth(0).innerText()).replace(/\s+/g, ' '), /r3 .*PASS/);
    assert.match((await rows.nth(1).innerText()).replace(/\s+/g, ' '), /r2 .*FAIL .*body\.price differs in 10\.0%/);
    await shot('runs');
  });

  it('lists the regressed endpoint as FAIL; sorts, filters, and keeps both in the deep link', async () => {
    await open('/runs/r2');
    const first = page.locator('main tbody tr').first();
    assert.match(await first.innerText(), /GET \/orders\/\{id\}[\s\S]*10\.0%[\s\S]*FAIL/);
    await shot('endpoints');
    // Sort by endpoint name, ascending: "GET /health" comes first.
    await page.locator('th button[data-sort="endpoint"]').click();
    assert.match(await page.locator('main tbody tr').first().innerText(), /GET \/health/);
    assert.equal(await page.locator('th[aria-sort="ascending"]').count(), 1);
    assert.match(page.url(), /sort=endpoint&dir=asc/);
    await page.locator('#filter').fill('orders');
    assert.equal(await page.locator('main tbody tr').count(), 2);
    await page.locator('#verdict-filter').selectOption('FAIL');
    assert.equal(await page.locator('main tbody tr').count(), 1);
    // The deep link restores sort and filters.
    const url = page.url();
    await page.goto('about:blank');
    await page.goto(url);
    await page.locator('main > .view[data-ready]').waitFor();
    assert.equal(await page.locator('#filter').inputValue(), 'orders');
    assert.equal(await page.locator('main tbody tr').count(), 1);
    // An endpoint name holding markup is text.
    await open('/runs/r2');
    assert.equal(await page.locator('main tbody i').count(), 0);
    assert.match(await page.locator('main tbody').innerText(), /POST \/orders <i>new<\/i>/);
  });

  it('switches to the PASS run after the fix', async () => {
    await open('/runs/r2');
    await page.locator('#run-switch').selectOption('r3');
    await ready('/runs/r3');
    await page.locator('.summary .verdict', { hasText: 'PASS' }).waitFor();
    assert.equal(await page.locator('main tbody .verdict', { hasText: 'FAIL' }).count(), 0);
  });

  it('names the differing field with its rate, marks and chart', async () => {
    await open('/runs/r2/endpoints/e-orders');
    const first = page.locator('main tbody tr').first();
    assert.match(await first.innerText(), /body\.price[\s\S]*value_changed ×80[\s\S]*10\.0%[\s\S]*10\.00 → 11\.00[\s\S]*FAIL/);
    assert.equal(await first.locator('svg.chart polyline').count(), 1);
    assert.match(await page.locator('tr[data-key="header.date"]').innerText(), /time-like ×788/);
    assert.match(await page.locator('tr[data-key="header.x-request-start"]').innerText(), /ignored/);
    assert.match(await page.locator('tr[data-key="body.updatedAt"]').innerText(), /noisy/);
    await shot('fields');
  });

  it('shows the exchange with both values of the field highlighted, folds, next/previous and curl', async () => {
    await open('/runs/r2/endpoints/e-orders');
    await page.locator('tr[data-key="body.price"]').press('Enter');
    await ready('/runs/r2/endpoints/e-orders/samples?field=body.price');
    await page.locator('.answer.candidate').waitFor();
    const primary = page.locator('.answer.primary .line.diff[data-path="body.price"]');
    const candidate = page.locator('.answer.candidate .line.diff[data-path="body.price"]');
    assert.match(await primary.innerText(), /"price": "10\.00"/);
    assert.match(await candidate.innerText(), /"price": "11\.00"/);
    assert.equal(await page.locator('.answer.secondary .line.diff[data-path="body.price"]').count(), 1);
    // Nodes off the differing paths start folded; a click unfolds them.
    const customer = page.locator('.answer.primary details[data-path="body.customer"]');
    assert.equal(await customer.getAttribute('open'), null);
    await customer.locator('summary').click();
    assert.equal(await customer.getAttribute('open'), '');
    assert.match(
      await page.locator('#curl').innerText(),
      /^curl -sS -H 'accept: application\/json' -H 'authorization: \[redacted\]' 'http:\/\/orders:8080\/orders\/42\?expand=items'$/,
    );
    await shot('exchange');
    // n: the next (older) sample differing at the field; its etag header difference is highlighted.
    await page.keyboard.press('n');
    await ready('/runs/r2/endpoints/e-orders/samples/s2?field=body.price');
    assert.equal(await page.locator('#newer').isDisabled(), false);
    assert.equal(await page.locator('.answer.candidate table.headers tr.diff').innerText(), 'etag\t"c9"');
    assert.equal(await page.locator('#older').isDisabled(), true);
    await page.keyboard.press('p');
    await ready('/runs/r2/endpoints/e-orders/samples/s3?field=body.price');
  });

  it('renders hostile bodies and headers as text, and the CSP holds', async () => {
    await open('/runs/r2/endpoints/e-orders/samples/s1');
    const text = await page.locator('main').innerText();
    assert.ok(text.includes('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'), text);
    assert.ok(text.includes('<h1>Internal Server Error</h1><script>window.__pwned = 3</script>'));
    assert.equal(await page.locator('main script, main img, main h1 h1').count(), 0);
    assert.equal(await page.evaluate('globalThis.__pwned'), undefined);
    assert.match(
      await page.locator('#curl').innerText(),
      /-X 'POST' .*--data-binary '<script>window.__pwned = 1<\/script><img src=x onerror="window.__pwned = 2">'/s,
    );
    // The JSON body of s2 holds the same string in a field and a header: text too.
    await open('/runs/r2/endpoints/e-orders/samples/s2');
    assert.equal(await page.locator('main script, main img').count(), 0);
    assert.match(await page.locator('.request table.headers').innerText(), /x-note\t<script>/);
    // Trusted Types: no HTML-string sink works on this page, whatever a later change might try.
    const blocked = await page.evaluate(`(() => {
      try { document.body.insertAdjacentHTML('beforeend', '<b>x</b>'); return false; } catch { return true; }
    })()`);
    assert.equal(blocked, true);
    problems.length = 0; // the blocked sink logs its own CSP report
  });

  it('navigates by keyboard alone', async () => {
    await open('/runs');
    await page.keyboard.press('j');
    await page.keyboard.press('Enter');
    await ready('/runs/r2');
    await page.keyboard.press('Enter');
    await ready('/runs/r2/endpoints/e-orders');
    await page.keyboard.press('u');
    await ready('/runs/r2');
    await page.keyboard.press('t');
    await ready('/traffic');
    await page.keyboard.press('?');
    assert.equal(await page.locator('#help').isVisible(), true);
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('#help').isVisible(), false);
  });

  it('shows what mirrors where, rates, delivery and abandon reasons', async () => {
    await open('/traffic');
    const text = await page.locator('main table').innerText();
    assert.match(text, /default\/orders#0[\s\S]*212\.4\/s[\s\S]*v2\)\t100%\t212\.4\/s\t50,412\t50,390\n100\.0%\s+timeout ×18\ntoo_many_in_flight ×4/);
    assert.match(text, /connect_error ×5,040/);
    assert.match(text, /default\/checkout#canary[\s\S]*weight 90[\s\S]*not mirrored/);
    await shot('traffic');
  });

  it('refreshes the open view from the API while it is open, redrawing nothing when nothing changed', async () => {
    await open('/traffic');
    await page.evaluate(`globalThis.__row = document.querySelector('main tbody tr')`);
    // The first read drew the view; a second one comes from the refresh timer.
    const seen = calls.filter((c) => c.startsWith('traffic')).length;
    await new Promise<void>((resolve) => {
      onCall = (c) => {
        if (c.startsWith('traffic')) resolve();
      };
    });
    onCall = undefined;
    assert.ok(calls.filter((c) => c.startsWith('traffic')).length > seen);
    await page.locator('#status', { hasText: 'refreshing' }).waitFor();
    // Same data: the very same row element is still in the page (no flicker, no layout shift, focus kept).
    assert.equal(await page.evaluate(`globalThis.__row.isConnected && globalThis.__row === document.querySelector('main tbody tr')`), true);
  });

  it('says what is wrong when the API refuses, and when an address names no view', async () => {
    await open('/runs/nope');
    assert.match(await page.locator('main').innerText(), /Cannot show this view[\s\S]*\/api\/endpoints\?run=nope: 404/);
    await open('/runs/r2/endpoints/e-orders/samples/s999');
    assert.match(await page.locator('main').innerText(), /Sample s999 is not stored/);
    await open('/nowhere');
    assert.match(await page.locator('main').innerText(), /Not found/);
    problems.length = 0; // the refused API read is logged by the browser as a failed resource
  });

  it('logged no page error and no CSP violation', () => {
    assert.deepEqual(problems, []);
  });
});
