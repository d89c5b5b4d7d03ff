// The test harness' waits (issue 20): they resolve on the signal, re-read only when told to, and fail with what was
// awaited and the last value seen. The failing cases use a short deadline on a condition that can never hold.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { untilMetric } from './harness/exposition.js';
import { client, send } from './harness/gateway.js';
import { startUpstream } from './harness/upstream.js';
import { waitFor, waitForCount, waitForEvent, within } from './harness/wait.js';

after(() => client.close());

describe('waitForEvent', () => {
  it('resolves with the arguments of the first event the filter accepts', async () => {
    const e = new EventEmitter();
    const got = waitForEvent<[{ result: string }]>(e, 'reload', { filter: (r) => r.result === 'applied' });
    e.emit('reload', { result: 'rejected' });
    e.emit('reload', { result: 'applied' });
    assert.deepEqual(await got, [{ result: 'applied' }]);
    assert.equal(e.listenerCount('reload'), 0, 'its listener is gone');
  });

  it('fails with what it waited for, how many events it saw and the last one', async () => {
    const e = new EventEmitter();
    const got = waitForEvent<[{ result: string }]>(e, 'reload', { what: 'an applied reload', timeoutMs: 20, filter: (r) => r.result === 'applied' });
    e.emit('reload', { result: 'rejected' });
    await assert.rejects(got, /waited 20 ms for an applied reload: 1 'reload' event\(s\) seen, none accepted \(the last was \{"result":"rejected"\}\)/);
    assert.equal(e.listenerCount('reload'), 0);
  });
});

describe('waitFor / waitForCount', () => {
  it('re-reads the probe only when a signal fires, and resolves with the value that passed', async () => {
    const e = new EventEmitter();
    let n = 0;
    let reads = 0;
    const got = waitForCount(
      () => {
        reads++;
        return n;
      },
      3,
      { on: [e, 'tick'] },
    );
    const turn = () => new Promise((r) => setImmediate(r));
    assert.equal(reads, 1, 'read once at the start');
    for (let i = 0; i < 5; i++) await turn();
    assert.equal(reads, 1, 'no signal, no read: nothing polls');
    for (let i = 0; i < 3; i++) {
      n++;
      e.emit('tick');
      await turn();
    }
    assert.equal(await got, 3);
    assert.equal(reads, 4, 'once more per signal');
    assert.equal(e.listenerCount('tick'), 0);
  });

  it('without a signal, re-reads at each turn of the event loop', async () => {
    let n = 0;
    const bump = setInterval(() => n++, 1);
    try {
      assert.ok((await waitForCount(() => n, 5)) >= 5);
    } finally {
      clearInterval(bump);
    }
  });

  it('never reads an async probe twice at once; a signal during a read reads again after it', async () => {
    const e = new EventEmitter();
    let active = 0;
    let most = 0;
    let n = 0;
    const probe = async () => {
      active++;
      most = Math.max(most, active);
      await new Promise((r) => setImmediate(r));
      active--;
      return n;
    };
    const got = waitFor(probe, (v) => v === 2, { on: [e, 'tick'] });
    n = 1;
    e.emit('tick');
    n = 2;
    e.emit('tick');
    assert.equal(await got, 2);
    assert.equal(most, 1);
  });

  it('fails with what it waited for and the last value seen', async () => {
    await assert.rejects(
      waitForCount(() => 7, 8, { what: 'requests', timeoutMs: 20 }),
      /waited 20 ms for requests to reach 8; the last value seen: 7/,
    );
  });

  it("passes on the probe's own error at once", async () => {
    await assert.rejects(
      waitFor(
        () => {
          throw new Error('probe broke');
        },
        () => true,
      ),
      /probe broke/,
    );
  });
});

describe('within', () => {
  it('passes a settled promise through, and fails one that never settles with what it was', async () => {
    assert.equal(await within(Promise.resolve(4), 'four'), 4);
    await assert.rejects(within(new Promise(() => {}), 'every shadow to end', 20), /waited 20 ms for every shadow to end/);
  });
});

describe('untilMetric', () => {
  it("scrapes until the metric's sum (with the labels asked) passes, and says what it last saw when it does not", async () => {
    let scrapes = 0;
    const server = http.createServer((_req, res) => {
      scrapes++;
      res.end(`# TYPE x_total counter\nx_total{result="ok"} ${scrapes}\nx_total{result="bad"} 100\n`);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      assert.equal(await untilMetric(address, 'x_total', (v) => v >= 3, { labels: { result: 'ok' } }), 3);
      assert.equal(await untilMetric(`http://${address}/metrics`, 'x_total', (v) => v > 100), 104, 'all series summed without labels');
      // Whether a scrape has come back before this short deadline depends on the machine: either answer is right.
      await assert.rejects(
        untilMetric(address, 'x_total', (v) => v < 0, { labels: { result: 'bad' }, timeoutMs: 50 }),
        /waited 50 ms for x_total\{"result":"bad"\} at http:\/\/127\.0\.0\.1:\d+\/metrics to satisfy .*; the last value seen: (100|none yet)$/,
      );
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe("the upstream's hold behaviour", () => {
  it('answers held requests only when released', async () => {
    const up = await startUpstream('held', { kind: 'hold', body: 'late' });
    try {
      let answered = false;
      const pending = send(up.port, '/a').then((a) => {
        answered = true;
        return a;
      });
      await up.waitForRequests(1);
      assert.equal(answered, false);
      assert.equal(up.release(), 1);
      assert.equal((await pending).body, 'late');
      assert.equal(up.release(), 0, 'nothing left to release');
    } finally {
      await up.close();
    }
  });
});
