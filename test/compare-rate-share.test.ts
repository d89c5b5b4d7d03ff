// compare.maxPerSecond is the gateway's rate: with --workers N each worker's comparator takes 1/N of it, so N
// workers compare (and pay for) what one would. The token bucket is read right after opening (it starts full).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Comparator, type ExchangeSource } from '../src/comparator/index.js';
import { DEFAULT_COMPARE_SETTINGS } from '../src/config/model.js';
import { Metrics } from '../src/telemetry/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sg-share-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const source: ExchangeSource = {
  build: () => ({ at: Date.now(), requestId: 'r', method: 'GET', path: '/', endpoint: 'GET /', request: { headers: {} } }) as never,
};

/** How many of 200 back-to-back requests the comparator admits, and the most its rate allows in that time. */
async function admitted(maxPerSecond: number, share: number | undefined, file: string): Promise<{ n: number; bound: number }> {
  const settings = { ...DEFAULT_COMPARE_SETTINGS, maxPerSecond };
  const c = await Comparator.open({ file: join(dir, file), settings, metrics: new Metrics(), log: () => {}, ...(share === undefined ? {} : { share }) });
  try {
    const t0 = performance.now();
    let n = 0;
    for (let i = 0; i < 200; i++) if (c.begin(source)) n++;
    const rate = maxPerSecond * (share ?? 1);
    return { n, bound: Math.max(1, rate) + ((performance.now() - t0) / 1000) * rate };
  } finally {
    await c.close();
  }
}

describe('compare.maxPerSecond shared by workers', () => {
  it('one process admits its whole rate; each of 2 workers half of it; of 4, a quarter', async () => {
    const whole = await admitted(40, undefined, 'a.db');
    assert.ok(whole.n >= 40 && whole.n <= whole.bound, JSON.stringify(whole));
    const half = await admitted(40, 1 / 2, 'b.db');
    assert.ok(half.n >= 20 && half.n <= half.bound, JSON.stringify(half));
    const quarter = await admitted(40, 1 / 4, 'c.db');
    assert.ok(quarter.n >= 10 && quarter.n <= quarter.bound, JSON.stringify(quarter));
  });

  it('a share below one exchange a second still admits one now and then', async () => {
    const r = await admitted(1, 1 / 4, 'd.db');
    assert.ok(r.n >= 1 && r.n <= r.bound, JSON.stringify(r));
  });
});
