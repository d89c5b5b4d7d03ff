// Tests for upstream/: pools, balancing, circuit breaking, outlier detection and connect backoff on real sockets.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import type { Pool } from 'undici';
import type { Cluster, Endpoint, LbPolicy, TrafficPolicy } from '../src/config/model.js';
import { ClusterManager, classifyUpstreamError, type Picked, type PickResult, TIMEOUTS_TO_BACK_OFF } from '../src/upstream/index.js';
import { startUpstream, type TestUpstream } from './harness/upstream.js';
import { waitFor, waitForCount } from './harness/wait.js';

const NAME = 'outbound|80|v1|svc.default.svc.cluster.local';

function endpoint(port: number, weight = 1, address = '127.0.0.1'): Endpoint {
  return { address, port, labels: {}, weight, source: 'ServiceEntry default/svc' };
}

function cluster(endpoints: Endpoint[], policy: Partial<TrafficPolicy> = {}, name = NAME): Cluster {
  return {
    name,
    host: 'svc.default.svc.cluster.local',
    port: 80,
    subset: 'v1',
    namespace: 'default',
    policy: { loadBalancer: 'ROUND_ROBIN', connectionPool: {}, ...policy },
    endpoints,
  };
}

/** A clock the test moves by hand. */
function clock(start = 1_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

/** Deterministic uniform numbers (a small LCG), so distributions are the same on every run. */
function seeded(seed = 42): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Replays the given numbers, then repeats the last one. */
function scripted(values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
}

function picked(r: PickResult): Picked {
  assert.equal(r.ok, true, `expected a pick, got ${r.ok ? 'ok' : r.flag}`);
  return r as Picked;
}

/** Sends GET through a pick and reports the outcome, as the proxy would. */
async function send(p: Picked, path = '/', opts: { headersTimeout?: number; signal?: AbortSignal } = {}) {
  try {
    const res = await (p.dispatcher as Pool).request({ path, method: 'GET', ...opts });
    const body = await res.body.text();
    p.onDone({ kind: 'response', status: res.statusCode });
    return { status: res.statusCode, body };
  } catch (err) {
    const kind = classifyUpstreamError(err);
    p.onDone({ kind });
    return { error: kind, err };
  }
}

/** A port nothing listens on: bind one, note it, close it. */
async function deadPort(): Promise<number> {
  const server = http.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A server that records each connection's remote port (the harness does not expose it). */
async function portRecorder(onRequest?: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const remotePorts: number[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    remotePorts.push(req.socket.remotePort ?? 0);
    if (onRequest) onRequest(req, res);
    else res.end('ok');
  });
  server.on('connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return {
    port: (server.address() as AddressInfo).port,
    remotePorts,
    connections: () => connections,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const upstreams: TestUpstream[] = [];
const servers: http.Server[] = [];
async function upstream(name: string, behaviour?: Parameters<typeof startUpstream>[1]) {
  const u = await startUpstream(name, behaviour);
  upstreams.push(u);
  return u;
}
const managers: ClusterManager[] = [];
function manager(opts: ConstructorParameters<typeof ClusterManager>[0] = {}) {
  const m = new ClusterManager(opts);
  managers.push(m);
  return m;
}

after(async () => {
  await Promise.all(managers.map((m) => m.destroy()));
  await Promise.all(upstreams.map((u) => u.close()));
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

describe('pick', () => {
  it('NC for an unknown cluster, UH for a cluster without endpoints', () => {
    const m = manager();
    m.update({ [NAME]: cluster([]) });
    assert.deepEqual(m.pick('outbound|80||nope'), { ok: false, flag: 'NC' });
    assert.deepEqual(m.pick(NAME), { ok: false, flag: 'UH' });
    assert.equal(m.stats()[NAME]!.counters.noHealthyUpstream, 1);
  });

  it('onDone is idempotent', () => {
    const a = 40_001;
    const m = manager();
    m.update({ [NAME]: cluster([endpoint(a)]) });
    const p = picked(m.pick(NAME));
    assert.equal(m.stats()[NAME]!.activeRequests, 1);
    p.onDone({ kind: 'response', status: 200 });
    p.onDone({ kind: 'response', status: 200 });
    assert.equal(m.stats()[NAME]!.activeRequests, 0);
    assert.equal(m.stats()[NAME]!.endpoints[0]!.activeRequests, 0);
  });

  it('a request goes to the chosen endpoint over its pool', async () => {
    const u = await upstream('a');
    const m = manager();
    m.update({ [NAME]: cluster([endpoint(u.port)]) });
    const p = picked(m.pick(NAME));
    assert.equal(p.origin, `http://127.0.0.1:${u.port}`);
    const r = await send(p, '/hello');
    assert.equal(r.status, 200);
    assert.equal(u.requests.at(-1)?.url, '/hello');
  });
});

describe('reconcile', () => {
  it('keeps pools of unchanged endpoints, drains removed ones gracefully, equal input is a no-op', async () => {
    const a = await upstream('a');
    // b holds its request until released: still running when b leaves the config, however slow the machine.
    const b = await upstream('b', { kind: 'hold' });
    const c = await upstream('c');
    const m = manager();
    m.update({ [NAME]: cluster([endpoint(a.port), endpoint(b.port)]) });

    const pa = picked(m.pick(NAME));
    const pb = picked(m.pick(NAME));
    assert.equal(pa.endpoint.port, a.port);
    assert.equal(pb.endpoint.port, b.port);
    await send(pa);
    const inFlight = send(pb);

    await b.waitForRequests(1);
    // A fresh, structurally equal snapshot: nothing changes, not even the round-robin position.
    m.update({ [NAME]: cluster([endpoint(a.port), endpoint(b.port)]) });
    assert.equal(m.stats()[NAME]!.activeRequests, 1);
    assert.equal(m.drainingPools, 0);

    m.update({ [NAME]: cluster([endpoint(a.port, 5), endpoint(c.port)]) });
    assert.equal(pb.dispatcher.closed, true, 'removed endpoint pool is closing');
    assert.equal(m.drainingPools, 1);
    assert.equal(pa.dispatcher.closed, false);

    assert.equal(b.release(), 1);
    const r = await inFlight;
    assert.equal(r.status, 200, 'the in-flight request on the removed endpoint finished');

    const seen = new Map<number, Picked>();
    for (let i = 0; i < 12; i++) {
      const p = picked(m.pick(NAME));
      seen.set(p.endpoint.port, p);
      p.onDone({ kind: 'response', status: 200 });
    }
    assert.deepEqual([...seen.keys()].sort(), [a.port, c.port].sort());
    assert.equal(seen.get(a.port)!.dispatcher, pa.dispatcher, 'same pool object for the kept endpoint');
    assert.equal(seen.get(a.port)!.endpoint.weight, 5, 'kept endpoint takes the new weight');
    const stats = m.stats()[NAME]!;
    assert.equal(stats.endpoints.find((e) => e.port === a.port)!.pool.connected, 1, 'live connection kept');
    await waitFor(
      () => m.drainingPools,
      (n) => n === 0,
      { what: 'the removed pool to finish draining' },
    );
    assert.equal(pb.dispatcher.destroyed, true);
  });

  it('changed connection settings replace the pool; removed clusters answer NC', async () => {
    const a = await upstream('a');
    const m = manager();
    m.update({ [NAME]: cluster([endpoint(a.port)]) });
    const before = picked(m.pick(NAME));
    before.onDone({ kind: 'cancelled' });
    m.update({ [NAME]: cluster([endpoint(a.port)], { connectionPool: { maxConnections: 4 } }) });
    const afterChange = picked(m.pick(NAME));
    afterChange.onDone({ kind: 'cancelled' });
    assert.notEqual(afterChange.dispatcher, before.dispatcher);
    assert.equal(before.dispatcher.closed, true);

    m.update({});
    assert.deepEqual(m.pick(NAME), { ok: false, flag: 'NC' });
    assert.equal(afterChange.dispatcher.closed, true);
  });

  it('ejection state survives an update that keeps the endpoint', () => {
    const t = clock();
    const m = manager({ now: t.now });
    const od = { consecutive5xxErrors: 1, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 100, minHealthPercent: 0 };
    m.update({ [NAME]: cluster([endpoint(40_002), endpoint(40_003)], { outlierDetection: od }) });
    const p = picked(m.pick(NAME));
    p.onDone({ kind: 'response', status: 500 });
    // A new snapshot changes the balancer only; the ejected endpoint stays out.
    m.update({ [NAME]: cluster([endpoint(40_002), endpoint(40_003)], { outlierDetection: od, loadBalancer: 'RANDOM' }) });
    for (let i = 0; i < 10; i++) {
      const q = picked(m.pick(NAME));
      assert.notEqual(q.endpoint.port, p.endpoint.port);
      q.onDone({ kind: 'cancelled' });
    }
  });
});

describe('load balancing', () => {
  /** Counts picks per port, finishing each at once. */
  function distribution(m: ClusterManager, n: number, key?: (i: number) => string): Map<number, number> {
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const p = picked(m.pick(NAME, key?.(i)));
      counts.set(p.endpoint.port, (counts.get(p.endpoint.port) ?? 0) + 1);
      p.onDone({ kind: 'response', status: 200 });
    }
    return counts;
  }

  it('ROUND_ROBIN rotates and honours weights exactly, interleaved', () => {
    const m = manager();
    m.update({ [NAME]: cluster([endpoint(40_010), endpoint(40_011)]) });
    const order: number[] = [];
    for (let i = 0; i < 4; i++) {
      const p = picked(m.pick(NAME));
      order.push(p.endpoint.port);
      p.onDone({ kind: 'response', status: 200 });
    }
    assert.deepEqual(order, [40_010, 40_011, 40_010, 40_011]);

    m.update({ [NAME]: cluster([endpoint(40_010, 1), endpoint(40_011, 2), endpoint(40_012, 1)]) });
    assert.deepEqual([...distribution(m, 40)].sort(), [
      [40_010, 10],
      [40_011, 20],
      [40_012, 10],
    ]);
  });

  it('PASSTHROUGH behaves as ROUND_ROBIN', () => {
    const m = manager();
    m.update({ [NAME]: cluster([endpoint(40_010), endpoint(40_011)], { loadBalancer: 'PASSTHROUGH' }) });
    assert.deepEqual([...distribution(m, 10)].sort(), [
      [40_010, 5],
      [40_011, 5],
    ]);
  });

  it('RANDOM follows the weights', () => {
    // An even grid of "random" numbers makes the weighted split exact.
    const grid = Array.from({ length: 100 }, (_, i) => (i + 0.5) / 100);
    const m = manager({ random: scripted(grid) });
    m.update({ [NAME]: cluster([endpoint(40_010, 1), endpoint(40_011, 3)], { loadBalancer: 'RANDOM' }) });
    assert.deepEqual([...distribution(m, 100)].sort(), [
      [40_010, 25],
      [40_011, 75],
    ]);
  });

  it('LEAST_REQUEST takes the less busy of two random choices', () => {
    const policy = { loadBalancer: 'LEAST_REQUEST' as LbPolicy };
    // First pick: both draws land on endpoint 0. Then draws (0, 1) and (1, 0): endpoint 1 is idle, so it wins.
    const m = manager({ random: scripted([0.1, 0.1, 0.1, 0.9, 0.9, 0.1]) });
    m.update({ [NAME]: cluster([endpoint(40_010), endpoint(40_011)], policy) });
    const busy = picked(m.pick(NAME));
    assert.equal(busy.endpoint.port, 40_010);
    const second = picked(m.pick(NAME));
    assert.equal(second.endpoint.port, 40_011);
    busy.onDone({ kind: 'response', status: 200 });
    second.onDone({ kind: 'response', status: 200 });

    // Requests held open spread evenly: no endpoint gets far ahead of the others.
    const m2 = manager({ random: seeded(7) });
    m2.update({ [NAME]: cluster([endpoint(40_010), endpoint(40_011), endpoint(40_012), endpoint(40_013)], policy) });
    const held: Picked[] = [];
    for (let i = 0; i < 400; i++) held.push(picked(m2.pick(NAME)));
    const active = m2.stats()[NAME]!.endpoints.map((e) => e.activeRequests);
    assert.equal(
      active.reduce((x, y) => x + y),
      400,
    );
    for (const a of active) assert.ok(a >= 85 && a <= 115, `uneven least-request spread: ${active}`);
    for (const p of held) p.onDone({ kind: 'cancelled' });
  });

  it('LEAST_REQUEST with unequal weights leans to the heavier endpoint', () => {
    const m = manager({ random: seeded(3) });
    m.update({ [NAME]: cluster([endpoint(40_010, 1), endpoint(40_011, 3)], { loadBalancer: 'LEAST_REQUEST' }) });
    const counts = distribution(m, 2000);
    const ratio = counts.get(40_011)! / counts.get(40_010)!;
    assert.ok(ratio > 2.5 && ratio < 3.5, `ratio ${ratio}`);
  });

  it('CONSISTENT_HASH sends a key to one endpoint, spreads keys, and moves only the keys of a removed endpoint', () => {
    const eps = [endpoint(40_010), endpoint(40_011), endpoint(40_012)];
    const policy = { loadBalancer: 'CONSISTENT_HASH' as LbPolicy, consistentHash: { httpHeaderName: 'x-user' } };
    const m = manager({ random: seeded(1) });
    m.update({ [NAME]: cluster(eps, policy) });
    const where = (key: string) => {
      const p = picked(m.pick(NAME, key));
      p.onDone({ kind: 'response', status: 200 });
      return p.endpoint.port;
    };
    for (let i = 0; i < 5; i++) assert.equal(where('user-1'), where('user-1'));
    const before = new Map<string, number>();
    const spread = new Map<number, number>();
    for (let i = 0; i < 600; i++) {
      const port = where(`user-${i}`);
      before.set(`user-${i}`, port);
      spread.set(port, (spread.get(port) ?? 0) + 1);
    }
    for (const [, n] of spread) assert.ok(n > 150 && n < 250, `uneven hash spread ${[...spread]}`);

    m.update({ [NAME]: cluster([eps[0]!, eps[2]!], policy) });
    for (const [key, port] of before) {
      if (port !== 40_011) assert.equal(where(key), port, `key ${key} moved although its endpoint stayed`);
    }
    // Without a key it still balances (falls back to least-request).
    assert.equal(picked(m.pick(NAME)).ok, true);
  });
});

describe('circuit breaking', () => {
  it('UO once maxRequests are in flight', () => {
    const m = manager();
    m.update({ [NAME]: cluster([endpoint(40_020), endpoint(40_021)], { connectionPool: { maxRequests: 2 } }) });
    const a = picked(m.pick(NAME));
    const b = picked(m.pick(NAME));
    assert.deepEqual(m.pick(NAME), { ok: false, flag: 'UO' });
    a.onDone({ kind: 'response', status: 200 });
    const c = picked(m.pick(NAME));
    assert.deepEqual(m.pick(NAME), { ok: false, flag: 'UO' });
    b.onDone({ kind: 'cancelled' });
    c.onDone({ kind: 'cancelled' });
    assert.equal(m.stats()[NAME]!.counters.overflow, 2);
  });

  it('UO once maxPendingRequests wait for a saturated connection', () => {
    const m = manager();
    m.update({
      [NAME]: cluster([endpoint(40_022)], { connectionPool: { maxConnections: 1, maxPendingRequests: 1 } }),
    });
    const running = picked(m.pick(NAME));
    const pending = picked(m.pick(NAME));
    assert.equal(m.stats()[NAME]!.pendingRequests, 1);
    assert.deepEqual(m.pick(NAME), { ok: false, flag: 'UO' });
    running.onDone({ kind: 'response', status: 200 });
    assert.equal(m.stats()[NAME]!.pendingRequests, 0);
    picked(m.pick(NAME)).onDone({ kind: 'cancelled' });
    pending.onDone({ kind: 'cancelled' });
  });
});

describe('connect backoff', () => {
  it('a refused endpoint is skipped after one failure, probed once after the backoff, and doubles', async () => {
    const dead = await deadPort();
    const t = clock();
    const m = manager({ now: t.now });
    m.update({ [NAME]: cluster([endpoint(dead)]) });

    const first = await send(picked(m.pick(NAME)));
    assert.equal(first.error, 'connect-failure');
    assert.deepEqual(m.pick(NAME), { ok: false, flag: 'UH' }, 'not dialled again while backing off');
    let ep = m.stats()[NAME]!.endpoints[0]!;
    assert.equal(ep.connectFailures, 1);
    assert.equal(ep.backoffForMs, 1_000);

    t.advance(1_000);
    const probe = picked(m.pick(NAME));
    assert.deepEqual(m.pick(NAME), { ok: false, flag: 'UH' }, 'one probe at a time');
    assert.equal((await send(probe)).error, 'connect-failure');
    ep = m.stats()[NAME]!.endpoints[0]!;
    assert.equal(ep.connectFailures, 2);
    assert.equal(ep.backoffForMs, 2_000);
    t.advance(1_999);
    assert.deepEqual(m.pick(NAME), { ok: false, flag: 'UH' });
  });

  it('with a live endpoint beside it, only the first request is dialled to the dead one', async () => {
    const dead = await deadPort();
    const live = await upstream('live');
    const m = manager({ now: clock().now });
    m.update({ [NAME]: cluster([endpoint(dead), endpoint(live.port)]) });
    const ports: number[] = [];
    for (let i = 0; i < 6; i++) {
      const p = picked(m.pick(NAME));
      ports.push(p.endpoint.port);
      await send(p);
    }
    assert.deepEqual(ports, [dead, live.port, live.port, live.port, live.port, live.port]);
    assert.equal(live.requests.length, 5);
  });

  it('recovers when the endpoint accepts again, and can be turned off', async () => {
    const t = clock();
    const m = manager({ now: t.now });
    const rec = await portRecorder();
    const dead = await deadPort();
    m.update({ [NAME]: cluster([endpoint(dead)]) });
    await send(picked(m.pick(NAME)));
    // The endpoint "comes back" as a new address in the next snapshot: fresh state, dialled at once.
    m.update({ [NAME]: cluster([endpoint(rec.port)]) });
    assert.equal((await send(picked(m.pick(NAME)))).status, 200);
    assert.equal(m.stats()[NAME]!.endpoints[0]!.connectFailures, 0);
    await rec.close();

    const off = manager({ now: t.now, connectBackoff: false });
    off.update({ [NAME]: cluster([endpoint(dead)]) });
    assert.equal((await send(picked(off.pick(NAME)))).error, 'connect-failure');
    assert.equal((await send(picked(off.pick(NAME)))).error, 'connect-failure', 'dialled again without backoff');
  });
});

describe('timeout backoff (a hung endpoint)', () => {
  /** Reports a timeout for a request that got no answer, as the shadow writer does when its timer fires. */
  async function timeOut(p: Picked, hung: { remotePorts: number[] }, seen: number) {
    const ac = new AbortController();
    const sent = send(p, '/', { signal: ac.signal });
    await waitForCount(() => hung.remotePorts.length, seen + 1, { what: 'the request to reach the hung endpoint' });
    p.onDone({ kind: 'timeout' });
    ac.abort();
    await sent;
  }

  it(`${TIMEOUTS_TO_BACK_OFF} timeouts in a row back it off; a TCP connect does not end that, only an answer does`, async () => {
    let answer = false;
    const hung = await portRecorder((_req, res) => {
      if (answer) res.end('ok');
    });
    const t = clock();
    const m = manager({ now: t.now });
    m.update({ [NAME]: cluster([endpoint(hung.port)]) });

    for (let i = 0; i < TIMEOUTS_TO_BACK_OFF; i++) await timeOut(picked(m.pick(NAME)), hung, i);
    assert.deepEqual(m.pick(NAME), { ok: false, flag: 'UH' }, 'backed off after the timeouts');
    assert.equal(m.stats()[NAME]!.endpoints[0]!.backoffForMs, 1_000);

    // The probe connects (a new socket: the aborted ones are gone) but times out: still stuck, longer backoff.
    t.advance(1_000);
    await timeOut(picked(m.pick(NAME)), hung, TIMEOUTS_TO_BACK_OFF);
    assert.deepEqual(m.pick(NAME), { ok: false, flag: 'UH' });
    assert.equal(m.stats()[NAME]!.endpoints[0]!.backoffForMs, 2_000);

    // It answers again: the next probe's answer brings it back.
    answer = true;
    t.advance(2_000);
    assert.equal((await send(picked(m.pick(NAME)))).status, 200);
    assert.equal(m.stats()[NAME]!.endpoints[0]!.connectFailures, 0);
    assert.equal((await send(picked(m.pick(NAME)))).status, 200);
    await hung.close();
  });

  it('an answer in between resets the count; without backoff (the primary manager) timeouts never skip', async () => {
    const rec = await portRecorder();
    const m = manager({ now: clock().now });
    m.update({ [NAME]: cluster([endpoint(rec.port)]) });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < TIMEOUTS_TO_BACK_OFF - 1; i++) picked(m.pick(NAME)).onDone({ kind: 'timeout' });
      assert.equal((await send(picked(m.pick(NAME)))).status, 200);
    }
    assert.equal(m.stats()[NAME]!.endpoints[0]!.connectFailures, 0);

    const off = manager({ now: clock().now, connectBackoff: false });
    off.update({ [NAME]: cluster([endpoint(rec.port)]) });
    for (let i = 0; i < TIMEOUTS_TO_BACK_OFF * 2; i++) picked(off.pick(NAME)).onDone({ kind: 'timeout' });
    assert.equal((await send(picked(off.pick(NAME)))).status, 200);
    await rec.close();
  });
});

describe('outlier detection', () => {
  const od = { consecutive5xxErrors: 3, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 50, minHealthPercent: 0 };

  it('ejects after N consecutive 5xx, returns after base time, and the next ejection lasts twice as long', async () => {
    const bad = await upstream('bad', { kind: 'answer', status: 500 });
    const good = await upstream('good');
    const t = clock();
    const m = manager({ now: t.now });
    m.update({ [NAME]: cluster([endpoint(bad.port), endpoint(good.port)], { outlierDetection: od }) });

    // Round robin alternates; the bad endpoint sees its third 500 on the fifth request.
    for (let i = 0; i < 6; i++) await send(picked(m.pick(NAME)));
    assert.equal(bad.requests.length, 3);
    let ep = m.stats()[NAME]!.endpoints[0]!;
    assert.equal(ep.ejected, true);
    assert.equal(ep.ejectedForMs, 30_000);
    for (let i = 0; i < 4; i++) assert.equal(picked(m.pick(NAME)).endpoint.port, good.port);

    t.advance(30_000);
    assert.equal(m.stats()[NAME]!.endpoints[0]!.ejected, false, 'back after baseEjectionTime');
    const ports = new Set<number>();
    for (let i = 0; i < 8; i++) {
      const p = picked(m.pick(NAME));
      ports.add(p.endpoint.port);
      await send(p);
    }
    assert.ok(ports.has(bad.port));
    ep = m.stats()[NAME]!.endpoints[0]!;
    assert.equal(ep.ejected, true, 'ejected again');
    assert.equal(ep.ejections, 2);
    assert.equal(ep.ejectedForMs, 60_000, 'base × number of ejections');
    t.advance(30_000);
    assert.equal(m.stats()[NAME]!.endpoints[0]!.ejected, true);
    t.advance(30_000);
    assert.equal(m.stats()[NAME]!.endpoints[0]!.ejected, false);
  });

  it('a success resets the count; connect failures, resets and timeouts count as 5xx', () => {
    const m = manager({ now: clock().now, random: seeded() });
    m.update({ [NAME]: cluster([endpoint(40_030), endpoint(40_031)], { outlierDetection: od }) });
    const on = (kind: 'ok' | '500' | 'reset' | 'timeout') => {
      let p = picked(m.pick(NAME));
      while (p.endpoint.port !== 40_030) {
        p.onDone({ kind: 'cancelled' });
        p = picked(m.pick(NAME));
      }
      if (kind === 'ok') p.onDone({ kind: 'response', status: 204 });
      else if (kind === '500') p.onDone({ kind: 'response', status: 500 });
      else p.onDone({ kind });
    };
    on('500');
    on('500');
    on('ok');
    on('500');
    on('reset');
    assert.equal(m.stats()[NAME]!.endpoints[0]!.ejected, false);
    assert.equal(m.stats()[NAME]!.endpoints[0]!.consecutive5xx, 2);
    on('timeout');
    assert.equal(m.stats()[NAME]!.endpoints[0]!.ejected, true);
  });

  it('consecutiveGatewayErrors counts only 502/503/504 and connection errors', () => {
    const gw = { ...od, consecutive5xxErrors: 0, consecutiveGatewayErrors: 2 };
    const m = manager({ now: clock().now });
    // Weighting the first endpoint heavily keeps weighted round robin on it for the whole test.
    m.update({
      [NAME]: cluster([endpoint(40_032, 1_000_000), endpoint(40_033, 1)], { outlierDetection: gw }),
    });
    const stats = () => m.stats()[NAME]!.endpoints[0]!;
    const report = (o: Parameters<Picked['onDone']>[0]) => {
      const p = picked(m.pick(NAME));
      assert.equal(p.endpoint.port, 40_032);
      p.onDone(o);
    };
    report({ kind: 'response', status: 500 });
    report({ kind: 'response', status: 500 });
    assert.equal(stats().ejected, false, '500 is not a gateway error');
    report({ kind: 'response', status: 503 });
    report({ kind: 'connect-failure' });
    assert.equal(stats().ejected, true);
  });

  it('maxEjectionPercent is strict (Envoy): 10% of 2 endpoints ejects nothing', () => {
    const m = manager({ now: clock().now });
    m.update({ [NAME]: cluster([endpoint(40_034), endpoint(40_035)], { outlierDetection: { ...od, consecutive5xxErrors: 1, maxEjectionPercent: 10 } }) });
    const p = picked(m.pick(NAME));
    p.onDone({ kind: 'response', status: 500 });
    const s = m.stats()[NAME]!;
    assert.equal(
      s.endpoints.some((e) => e.ejected),
      false,
    );
    assert.equal(s.counters.ejectionsOverflow, 1);
  });

  it('all ejected means UH; below minHealthPercent the balancer panics and uses every endpoint', () => {
    const t = clock();
    const all = { ...od, consecutive5xxErrors: 1, maxEjectionPercent: 100 };
    const m = manager({ now: t.now });
    m.update({ [NAME]: cluster([endpoint(40_036), endpoint(40_037)], { outlierDetection: all }) });
    picked(m.pick(NAME)).onDone({ kind: 'response', status: 500 });
    picked(m.pick(NAME)).onDone({ kind: 'response', status: 500 });
    assert.deepEqual(m.pick(NAME), { ok: false, flag: 'UH' });

    const panicky = manager({ now: t.now });
    panicky.update({ [NAME]: cluster([endpoint(40_036), endpoint(40_037)], { outlierDetection: { ...all, minHealthPercent: 60 } }) });
    picked(panicky.pick(NAME)).onDone({ kind: 'response', status: 500 });
    assert.equal(panicky.stats()[NAME]!.panic, true);
    const ports = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const p = picked(panicky.pick(NAME));
      ports.add(p.endpoint.port);
      p.onDone({ kind: 'cancelled' });
    }
    assert.equal(ports.size, 2, 'panic mode balances over the ejected endpoint too');
  });
});

describe('connection pools', () => {
  it('sequential requests reuse one keep-alive connection', async () => {
    const rec = await portRecorder();
    const m = manager();
    m.update({ [NAME]: cluster([endpoint(rec.port)]) });
    for (let i = 0; i < 5; i++) {
      assert.equal((await send(picked(m.pick(NAME)))).status, 200);
      // undici waits one event-loop turn (setImmediate) before reusing a socket, in case the server closes
      // it despite keep-alive; a request sent sooner opens a second connection. Real traffic arrives via I/O.
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(rec.remotePorts.length, 5);
    assert.equal(new Set(rec.remotePorts).size, 1, `remote ports ${rec.remotePorts}`);
    assert.equal(rec.connections(), 1);
    await m.close();
    await rec.close();
  });

  it('maxRequestsPerConnection closes a connection after that many requests', async () => {
    const rec = await portRecorder();
    const m = manager();
    m.update({ [NAME]: cluster([endpoint(rec.port)], { connectionPool: { maxRequestsPerConnection: 2 } }) });
    for (let i = 0; i < 4; i++) {
      assert.equal((await send(picked(m.pick(NAME)))).status, 200);
      await new Promise((resolve) => setImmediate(resolve));
    }
    // The first connection serves exactly two; no connection serves more than two.
    assert.deepEqual(
      rec.remotePorts.map((p) => p === rec.remotePorts[0]),
      [true, true, false, false],
    );
    const perConnection = new Map<number, number>();
    for (const p of rec.remotePorts) perConnection.set(p, (perConnection.get(p) ?? 0) + 1);
    assert.ok(
      [...perConnection.values()].every((n) => n <= 2),
      `remote ports ${rec.remotePorts}`,
    );
    await m.close();
    await rec.close();
  });

  it('maxRequestsPerConnection 1 turns keep-alive off', async () => {
    const rec = await portRecorder();
    const m = manager();
    m.update({ [NAME]: cluster([endpoint(rec.port)], { connectionPool: { maxRequestsPerConnection: 1 } }) });
    for (let i = 0; i < 3; i++) {
      assert.equal((await send(picked(m.pick(NAME)))).status, 200);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(new Set(rec.remotePorts).size, 3, `remote ports ${rec.remotePorts}`);
    await m.close();
    await rec.close();
  });

  it('a reset is reported once and not retried by the pool', async () => {
    const rec = await portRecorder((req) => req.socket.destroy());
    const m = manager();
    m.update({ [NAME]: cluster([endpoint(rec.port)]) });
    const r = await send(picked(m.pick(NAME)));
    assert.equal(r.error, 'reset');
    assert.equal(rec.remotePorts.length, 1, 'the pool did not retry');
    await m.close();
    await rec.close();
  });

  it('defaultMaxConnections caps connections per endpoint; the DestinationRule overrides it', async () => {
    // A hung upstream: every request holds its connection, so the number of connections is the cap.
    const hung = await portRecorder(() => {});
    const m = manager({ defaultMaxConnections: 2 });
    m.update({ [NAME]: cluster([endpoint(hung.port)]) });
    const ac = new AbortController();
    const pending = Array.from({ length: 5 }, () => send(picked(m.pick(NAME)), '/', { signal: ac.signal }));
    // Two requests reach the endpoint; the pool's own count says the other three wait in its queue, not on a
    // connection being opened (no amount of waiting could prove a third connection will never come).
    await waitForCount(() => hung.remotePorts.length, 2, { what: 'two requests on their connections' });
    const pool = (name: string) => m.stats()[name]!.endpoints[0]!.pool;
    assert.deepEqual([pool(NAME).connected, pool(NAME).queued], [2, 3], 'two connections, three requests queued in the pool');
    assert.equal(hung.connections(), 2);
    assert.equal(hung.remotePorts.length, 2);

    const other = `${NAME}-dr`;
    m.update({ [NAME]: cluster([endpoint(hung.port)]), [other]: cluster([endpoint(hung.port)], { connectionPool: { maxConnections: 3 } }, other) });
    const more = Array.from({ length: 5 }, () => send(picked(m.pick(other)), '/', { signal: ac.signal }));
    await waitForCount(() => hung.remotePorts.length, 2 + 3, { what: 'three more requests on their connections' });
    assert.deepEqual([pool(other).connected, pool(other).queued], [3, 2], 'the DestinationRule maxConnections (3) wins over the default');
    assert.equal(hung.connections(), 2 + 3);
    ac.abort();
    await Promise.all([...pending, ...more]);
    await hung.close();
  });

  it('defaultMaxPending bounds the copies waiting for a connection (UO beyond); the DestinationRule overrides it', async () => {
    const hung = await portRecorder(() => {});
    const m = manager({ defaultMaxConnections: 2, defaultMaxPending: 1 });
    m.update({ [NAME]: cluster([endpoint(hung.port)]) });
    const ac = new AbortController();
    const sent = Array.from({ length: 3 }, () => send(picked(m.pick(NAME)), '/', { signal: ac.signal }));
    assert.deepEqual(m.pick(NAME), { ok: false, flag: 'UO' }, 'two on connections, one waiting, the fourth overflows');

    m.update({ [NAME]: cluster([endpoint(hung.port)], { connectionPool: { maxPendingRequests: 2 } }) });
    sent.push(send(picked(m.pick(NAME)), '/', { signal: ac.signal }));
    assert.deepEqual(m.pick(NAME), { ok: false, flag: 'UO' }, 'http1MaxPendingRequests 2 wins over the default');
    ac.abort();
    await Promise.all(sent);
    await hung.close();
  });

  it('close() waits for in-flight requests, then pick answers NC', async () => {
    // Held until close() has begun: the request is surely in flight when it is called, however slow the machine.
    const slow = await upstream('slow', { kind: 'hold' });
    const m = manager();
    m.update({ [NAME]: cluster([endpoint(slow.port)]) });
    const inFlight = send(picked(m.pick(NAME)));
    await slow.waitForRequests(1);
    const closing = m.close();
    assert.equal(slow.release(), 1);
    await closing;
    assert.equal((await inFlight).status, 200);
    assert.deepEqual(m.pick(NAME), { ok: false, flag: 'NC' });
  });
});

describe('classifyUpstreamError', () => {
  it('classifies real undici failures', async () => {
    const m = manager();
    const hang = await upstream('hang', { kind: 'hang' });
    const reset = await upstream('reset', { kind: 'reset' });
    const dead = await deadPort();
    const names = {
      dead: 'outbound|1||dead',
      hang: 'outbound|1||hang',
      reset: 'outbound|1||reset',
    };
    m.update({
      [names.dead]: cluster([endpoint(dead)], {}, names.dead),
      [names.hang]: cluster([endpoint(hang.port)], {}, names.hang),
      [names.reset]: cluster([endpoint(reset.port)], {}, names.reset),
    });
    assert.equal((await send(picked(m.pick(names.dead)))).error, 'connect-failure');
    assert.equal((await send(picked(m.pick(names.hang)), '/', { headersTimeout: 50 })).error, 'timeout');
    assert.equal((await send(picked(m.pick(names.reset)))).error, 'reset');
    const ac = new AbortController();
    const aborted = send(picked(m.pick(names.hang)), '/', { signal: ac.signal });
    await hang.waitForRequests(2);
    ac.abort();
    assert.equal((await aborted).error, 'cancelled');

    assert.equal(classifyUpstreamError(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), 'connect-failure');
    assert.equal(classifyUpstreamError(Object.assign(new Error('x'), { code: 'UND_ERR_BODY_TIMEOUT' })), 'timeout');
    assert.equal(classifyUpstreamError(new TypeError('fetch failed', { cause: Object.assign(new Error('r'), { code: 'ECONNRESET' }) })), 'reset');
    assert.equal(classifyUpstreamError(new DOMException('gone', 'AbortError')), 'cancelled');
    assert.equal(classifyUpstreamError('weird'), 'reset');
    await m.destroy();
  });
});
