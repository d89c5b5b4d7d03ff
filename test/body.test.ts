// Unit tests of the body plumbing and the shadow writer: BodyQueue, RequestBodyTee, ByteBudget, ShadowWriter.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { BodyQueue, type BodySink, RequestBodyTee } from '../src/body/index.js';
import { type Cluster, DEFAULT_SETTINGS, type MirrorSettings, type MirrorTarget } from '../src/config/index.js';
import { ByteBudget, type ShadowRequest, ShadowWriter } from '../src/mirror/index.js';
import { localReply } from '../src/proxy/errors.js';
import { Metrics } from '../src/telemetry/index.js';
import { ClusterManager, FAILURES, type UpstreamFailure } from '../src/upstream/index.js';
import { startUpstream, type TestUpstream } from './harness/upstream.js';

async function drain(q: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of q) parts.push(c);
  return Buffer.concat(parts).toString();
}

/** A downstream request body the test writes by hand (the tee reads only the stream events of IncomingMessage). */
function downstream(): PassThrough & IncomingMessage {
  return new PassThrough() as PassThrough & IncomingMessage;
}

/** Waits for the tee to have read `n` bytes (data events may come at once or on a later tick). */
async function received(req: PassThrough, tee: RequestBodyTee, n: number): Promise<void> {
  while (tee.bytes < n) await once(req, 'data');
}

/** A sink that records what it got and can refuse past a byte count. */
function sink(limit = Number.POSITIVE_INFINITY) {
  const s = { chunks: [] as string[], bytes: 0, ended: false, failed: undefined as Error | undefined };
  const b: BodySink = {
    push: (c) => {
      if (s.bytes + c.length > limit) return false;
      s.bytes += c.length;
      s.chunks.push(c.toString());
      return true;
    },
    end: () => {
      s.ended = true;
    },
    fail: (e) => {
      s.failed = e;
    },
  };
  return { s, b };
}

describe('ByteBudget', () => {
  it('takes up to its max, refuses past it, and release frees room', () => {
    const changes: number[] = [];
    const b = new ByteBudget(10, (used) => changes.push(used));
    assert.equal(b.take(6), true);
    assert.equal(b.take(5), false, 'past the max: refused, nothing taken');
    assert.equal(b.used, 6);
    assert.equal(b.take(4), true);
    b.release(7);
    assert.equal(b.used, 3);
    assert.deepEqual(changes, [6, 10, 3]);
  });

  it('never goes below zero; a zero or negative release is no change', () => {
    const b = new ByteBudget(10);
    b.take(2);
    b.release(5);
    assert.equal(b.used, 0);
    b.release(0);
    b.release(-3);
    assert.equal(b.used, 0);
  });

  it('a lowered max refuses new takes while what is held stays held', () => {
    const b = new ByteBudget(10);
    b.take(8);
    b.max = 4;
    assert.equal(b.take(1), false);
    b.release(8);
    assert.equal(b.take(4), true);
  });
});

describe('BodyQueue', () => {
  it('yields pushed chunks in order and ends; onTake sees every byte taken', async () => {
    const taken: number[] = [];
    const q = new BodyQueue((n) => taken.push(n));
    q.push(Buffer.from('ab'));
    q.push(Buffer.from('cde'));
    assert.equal(q.bytes, 5);
    const read = drain(q);
    q.push(Buffer.from('f'));
    q.end();
    assert.equal(await read, 'abcdef');
    // What is queued together may be taken as one chunk: the byte count is what matters.
    assert.equal(
      taken.reduce((a, b) => a + b, 0),
      6,
    );
    assert.equal(q.bytes, 0);
  });

  it('a consumer waiting on an empty queue wakes on a push, small or large', async () => {
    const q = new BodyQueue();
    const it = q[Symbol.asyncIterator]();
    const first = it.next();
    q.push(Buffer.from('x'));
    assert.equal((await first).value?.toString(), 'x');
    const second = it.next();
    q.push(Buffer.alloc(64 * 1024, 1));
    assert.equal((await second).value?.length, 64 * 1024);
    q.end();
    assert.equal((await it.next()).done, true);
  });

  it('fail throws to the consumer; clear drops what is buffered and says how much', async () => {
    const q = new BodyQueue();
    q.push(Buffer.from('abcd'));
    assert.equal(q.clear(), 4);
    assert.equal(q.bytes, 0);
    q.fail(new Error('gone'));
    await assert.rejects(drain(q), /gone/);
  });
});

describe('RequestBodyTee', () => {
  it('fans the body out to the primary and every sink, and ends both', async () => {
    const req = downstream();
    const tee = new RequestBodyTee(req, { replayLimit: 1024, highWater: 1024 });
    const primary = tee.attachPrimary()!;
    const a = sink();
    assert.equal(tee.addSink(a.b), true);
    const read = drain(primary);
    req.write('hello ');
    req.end('world');
    assert.equal(await read, 'hello world');
    assert.equal(a.s.chunks.join(''), 'hello world');
    assert.equal(a.s.ended, true);
    assert.equal(tee.bytes, 11);
  });

  it('a retry replays what arrived while replayable; past the replay limit it cannot', async () => {
    const req = downstream();
    const tee = new RequestBodyTee(req, { replayLimit: 8, highWater: 1024 });
    tee.attachPrimary();
    req.write('12345');
    await received(req, tee, 5);
    const again = tee.attachPrimary()!;
    req.end('678');
    assert.equal(await drain(again), '12345678');

    const big = downstream();
    const t2 = new RequestBodyTee(big, { replayLimit: 4, highWater: 1024 });
    t2.attachPrimary();
    big.write('123456');
    await received(big, t2, 6);
    assert.equal(t2.replayable, false);
    assert.equal(t2.attachPrimary(), undefined, 'the body outgrew the replay buffer: no retry');
    assert.equal(t2.addSink(sink().b), false, 'a shadow joining after that would miss the start');
  });

  it('a sink that refuses is dropped; the primary and other sinks go on', async () => {
    const req = downstream();
    const tee = new RequestBodyTee(req, { replayLimit: 1024, highWater: 1024 });
    const primary = tee.attachPrimary()!;
    const small = sink(3);
    const whole = sink();
    tee.addSink(small.b);
    tee.addSink(whole.b);
    const read = drain(primary);
    req.write('ab');
    req.write('cdef');
    req.end();
    assert.equal(await read, 'abcdef');
    assert.equal(whole.s.chunks.join(''), 'abcdef');
    assert.equal(small.s.chunks.join(''), 'ab');
    assert.equal(small.s.ended, false, 'a sink that gave up is not called again');
  });

  it('a downstream that fails fails the primary and every sink', async () => {
    const req = downstream();
    const tee = new RequestBodyTee(req, { replayLimit: 1024, highWater: 1024 });
    const primary = tee.attachPrimary()!;
    const a = sink();
    tee.addSink(a.b);
    const read = drain(primary);
    req.destroy(new Error('client reset'));
    await assert.rejects(read, /client reset/);
    assert.match(a.s.failed?.message ?? '', /client reset/);
  });

  it('pauses the downstream past highWater queued for the primary and resumes once it is read down', async () => {
    const req = downstream();
    const tee = new RequestBodyTee(req, { replayLimit: 0, highWater: 4 });
    const primary = tee.attachPrimary()!;
    req.write('123456');
    await received(req, tee, 6);
    assert.equal(req.isPaused(), true);
    const it = primary[Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.toString(), '123456');
    assert.equal(req.isPaused(), false);
    tee.detachPrimary();
    req.end();
  });

  it('detachPrimary keeps the body flowing for the shadows', async () => {
    const req = downstream();
    const tee = new RequestBodyTee(req, { replayLimit: 1024, highWater: 2 });
    tee.attachPrimary();
    const a = sink();
    tee.addSink(a.b);
    req.write('abc');
    await received(req, tee, 3);
    assert.equal(req.isPaused(), true);
    tee.detachPrimary();
    assert.equal(req.isPaused(), false);
    req.end('def');
    await once(req, 'end');
    assert.equal(a.s.chunks.join(''), 'abcdef');
    assert.equal(a.s.ended, true);
  });
});

describe('the failure table', () => {
  it('each upstream failure has one flag, one status (the local reply of that flag) and one abandon reason', () => {
    const expected: Record<UpstreamFailure, [string, string]> = {
      'connect-failure': ['UF', 'connect_error'],
      timeout: ['UT', 'timeout'],
      reset: ['UC', 'upstream_reset'],
      'refused-stream': ['UR', 'upstream_reset'],
      cancelled: ['DC', 'upstream_reset'],
    };
    for (const [failure, [flag, abandon]] of Object.entries(expected) as [UpstreamFailure, [string, string]][]) {
      const f = FAILURES[failure];
      assert.equal(f.flag, flag);
      assert.equal(f.abandon, abandon);
      if (failure !== 'cancelled') assert.equal(localReply(f.flag).status, f.status, `${failure}: the reply's status is the table's`);
    }
  });
});

describe('ShadowWriter', () => {
  let up: TestUpstream;
  before(async () => {
    up = await startUpstream('shadow');
  });
  after(async () => {
    await up.close();
  });

  const NAME = 'outbound|80|v2|svc.default.svc.cluster.local';
  const target: MirrorTarget = { cluster: NAME, host: 'svc.default.svc.cluster.local', subset: 'v2', port: 80, percentage: 100 };
  const request: ShadowRequest = { method: 'POST', path: '/p?q=1', headers: { 'x-forwarded-for': '10.0.0.1' }, authority: 'svc:80', clientAddress: '10.0.0.2' };

  function setup(settings: Partial<MirrorSettings> = {}, port = up.port) {
    const clusters = new ClusterManager();
    const cluster: Cluster = {
      name: NAME,
      host: target.host,
      port: 80,
      subset: 'v2',
      namespace: 'default',
      policy: { loadBalancer: 'ROUND_ROBIN', connectionPool: {} },
      endpoints: [{ address: '127.0.0.1', port, labels: {}, weight: 1, source: 'test' }],
    };
    clusters.update({ [NAME]: cluster });
    const metrics = new Metrics();
    const writer = new ShadowWriter(clusters, metrics, { ...DEFAULT_SETTINGS.mirror, ...settings });
    return { clusters, metrics, writer };
  }
  const abandoned = (m: Metrics, reason: string) => m.total('shadowgate_shadow_abandoned_total', { reason });

  it('sends the copy with the marker, the client appended to x-forwarded-for, and releases its budget', async () => {
    const { clusters, metrics, writer } = setup();
    try {
      const req = downstream();
      const tee = new RequestBodyTee(req, { replayLimit: 1024, highWater: 1024 });
      const before = up.requests.length;
      const handle = writer.start(target, request, tee);
      req.end('body!');
      await writer.idle();
      await up.waitForRequests(before + 1);
      const got = up.requests.at(-1)!;
      assert.equal(got.url, '/p?q=1');
      assert.equal(got.body.toString(), 'body!');
      assert.equal(got.headers['x-shadowgate-mirror'], 'true');
      assert.equal(got.headers['x-forwarded-for'], '10.0.0.1, 10.0.0.2');
      assert.equal(got.headers.host, 'svc:80');
      assert.equal(handle.outcome, '200');
      assert.equal(writer.budget.used, 0);
      assert.equal(writer.shadowsInFlight, 0);
      assert.equal(await metrics.total('shadowgate_shadow_requests_total', { response_code: '200' }), 1);
    } finally {
      await clusters.destroy();
    }
  });

  it('a body past maxBodyBytes abandons the shadow as body_too_large and frees every byte', async () => {
    const { clusters, metrics, writer } = setup({ maxBodyBytes: 4 });
    try {
      const req = downstream();
      const tee = new RequestBodyTee(req, { replayLimit: 1024, highWater: 1024 });
      const handle = writer.start(target, request, tee);
      req.end('more than four bytes');
      await writer.idle();
      assert.equal(handle.outcome, 'abandoned:body_too_large');
      assert.equal(await abandoned(metrics, 'body_too_large'), 1);
      assert.equal(writer.budget.used, 0);
    } finally {
      await clusters.destroy();
    }
  });

  it('the shared budget exhausted abandons as buffer_full; in-flight cap as too_many_in_flight', async () => {
    const { clusters, metrics, writer } = setup({ maxTotalBodyBytes: 2, maxInFlight: 1 });
    try {
      const req = downstream();
      const tee = new RequestBodyTee(req, { replayLimit: 1024, highWater: 1024 });
      const handle = writer.start(target, request, tee);
      const second = writer.start(target, { ...request, method: 'GET' }, undefined);
      assert.equal(second.outcome, 'abandoned:too_many_in_flight');
      req.end('abc');
      await writer.idle();
      assert.equal(handle.outcome, 'abandoned:buffer_full');
      assert.equal(await abandoned(metrics, 'buffer_full'), 1);
      assert.equal(await abandoned(metrics, 'too_many_in_flight'), 1);
      assert.equal(writer.budget.used, 0);
    } finally {
      await clusters.destroy();
    }
  });

  it('no cluster: no_endpoint; a refused connection: connect_error (the failure table names it)', async () => {
    const { clusters, metrics, writer } = setup();
    try {
      const none = writer.start({ ...target, cluster: 'outbound|80||nowhere' }, { ...request, method: 'GET' }, undefined);
      assert.equal(none.outcome, 'abandoned:no_endpoint');
    } finally {
      await clusters.destroy();
    }
    const closed = await startUpstream('closed');
    const port = closed.port;
    await closed.close();
    const refused = setup({}, port);
    try {
      const handle = refused.writer.start(target, { ...request, method: 'GET' }, undefined);
      await refused.writer.idle();
      assert.equal(handle.outcome, `abandoned:${FAILURES['connect-failure'].abandon}`);
      assert.equal(await abandoned(refused.metrics, 'connect_error'), 1);
      assert.equal(await abandoned(metrics, 'no_endpoint'), 1);
    } finally {
      await refused.clusters.destroy();
    }
  });

  it('a shadow past its timeout is abandoned as timeout; idle() resolves when the last one ends', async () => {
    const hung = await startUpstream('hung', { kind: 'hang' });
    const { clusters, metrics, writer } = setup({ timeoutMs: 50 }, hung.port);
    try {
      const handle = writer.start(target, { ...request, method: 'GET' }, undefined);
      // Read at once: the 50 ms timer may fire before the upstream has even read the request on a loaded machine.
      assert.equal(writer.shadowsInFlight, 1);
      await writer.idle();
      assert.equal(handle.outcome, 'abandoned:timeout');
      assert.equal(await abandoned(metrics, 'timeout'), 1);
    } finally {
      await clusters.destroy();
      await hung.close();
    }
  });
});
