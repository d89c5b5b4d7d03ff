// HTTP/2 upstreams as Envoy treats them: circuit breakers count streams, not connections (http2MaxRequests,
// http1MaxPendingRequests, maxConcurrentStreams, maxRequestsPerConnection), a refused stream (REFUSED_STREAM, or
// above a GOAWAY's last stream id) is retried as `refused-stream`, and the workload-side Istio metrics of a gRPC
// call say request_protocol="grpc" with its grpc_response_status. Real h2c servers on loopback throughout.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { client, freePort, send, startGateway, type TestGateway } from './harness/gateway.js';
import { echoClient, grpc, startGrpcServer, unary } from './harness/grpc.js';
import { mirrorServiceYaml } from './harness/service-yaml.js';

after(() => client.close());

interface H2Stream {
  path: string;
  /** Which connection (session) of the server it arrived on, counted from 0. */
  session: number;
  stream: http2.ServerHttp2Stream;
}

/** An h2c server that hands every stream to `onStream` and records it; waits resolve on arrivals, never on time. */
async function h2Server(name: string, onStream: (s: H2Stream, all: H2Stream[]) => void = ({ stream }) => answer(stream, name), settings: http2.Settings = {}) {
  const streams: H2Stream[] = [];
  const sessions: http2.ServerHttp2Session[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const server = http2.createServer({ settings });
  server.on('session', (s) => sessions.push(s));
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const s = { path: String(headers[':path']), session: sessions.indexOf(stream.session as http2.ServerHttp2Session), stream };
    streams.push(s);
    onStream(s, streams);
    for (const w of waiters.splice(0)) {
      if (streams.length >= w.n) w.resolve();
      else waiters.push(w);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    streams,
    sessions,
    /** Resolves when n streams arrived; a bound (not a latency) turns a gateway that never sends them into a failure, not a hang. */
    waitForStreams: (n: number) =>
      streams.length >= n
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`${name}: expected ${n} streams, got ${streams.length}`)), 10_000);
            waiters.push({
              n,
              resolve: () => {
                clearTimeout(timer);
                resolve();
              },
            });
          }),
    async close() {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function answer(stream: http2.ServerHttp2Stream, body: string): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond({ ':status': 200, 'content-type': 'text/plain' });
  stream.end(body);
}

/** web on an h2 port, v1 and v2; the route goes to v1, mirrored to v2 only with `mirror`. */
function config(port: number, v1: number, v2: number, opts: { v1Pool?: string; v2Pool?: string; mirror?: boolean; routeExtra?: string } = {}): string {
  return mirrorServiceYaml({
    host: 'web',
    port,
    portName: 'http2-web',
    protocol: 'HTTP2',
    primary: v1,
    candidate: v2,
    labels: { app: 'web' },
    connectionPool: { v1: opts.v1Pool, v2: opts.v2Pool },
    mirrors: opts.mirror ? ['v2'] : [],
    routeExtra: opts.routeExtra,
  });
}

async function withGateway<T>(yaml: string, fn: (tg: TestGateway, port: number) => Promise<T>, port: number): Promise<T> {
  const tg = await startGateway({ 'web.yaml': yaml });
  try {
    return await fn(tg, port);
  } finally {
    await tg.close();
  }
}

const get = (port: number, path = '/') => send(port, path, { headers: { host: 'web' } });

describe('HTTP/2 upstream circuit breakers count streams', () => {
  it('shadows to an h2 endpoint with one connection and one pending slot run many streams on it, none dropped', async () => {
    const v1 = await h2Server('v1');
    // v2 holds every stream until ten are open at once: only then does it answer them all.
    const v2 = await h2Server('v2', (_s, all) => {
      if (all.length === 10) for (const s of all) answer(s.stream, 'v2');
    });
    const port = await freePort();
    const yaml = config(port, v1.port, v2.port, {
      v2Pool: '{tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}',
      mirror: true,
    });
    try {
      await withGateway(
        yaml,
        async (tg) => {
          const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => get(port, `/item/${i}`)));
          assert.deepEqual(
            answers.map((a) => a.body),
            Array(10).fill('v1'),
          );
          // Idle once every copy ended: answered, or given up (dropped at once, or after the shadow timeout).
          await tg.gw.shadows.idle();
          assert.equal(await tg.gw.metrics.total('shadowgate_shadow_abandoned_total'), 0, 'no copy dropped as too_many_in_flight');
          assert.equal(v2.streams.length, 10);
          assert.equal(v2.sessions.length, 1, 'one connection carried all ten shadows');
        },
        port,
      );
    } finally {
      await v1.close();
      await v2.close();
    }
  });

  for (const [whose, http, settings] of [
    ['the DestinationRule maxConcurrentStreams', 'http1MaxPendingRequests: 1, maxConcurrentStreams: 2', {}],
    ["the server's SETTINGS_MAX_CONCURRENT_STREAMS", 'http1MaxPendingRequests: 1', { maxConcurrentStreams: 2 }],
  ] as const)
    it(`streams per connection (${whose}) × maxConnections is what runs, http1MaxPendingRequests what waits; beyond, 503 UO`, async () => {
      const held: http2.ServerHttp2Stream[] = [];
      const v1 = await h2Server('v1', ({ stream }) => held.push(stream), settings);
      const v2 = await h2Server('v2');
      const port = await freePort();
      const yaml = config(port, v1.port, v2.port, {
        v1Pool: `{tcp: {maxConnections: 1}, http: {${http}}}`,
        routeExtra: '    retries: {attempts: 0}\n',
      });
      try {
        await withGateway(
          yaml,
          async (tg) => {
            const running = [get(port, '/a'), get(port, '/b')];
            await v1.waitForStreams(2);
            const waiting = get(port, '/c');
            // The third waits in the pool for a stream slot (its arrival shows only in the cluster's pending count):
            // the fourth overflows at once.
            await until(() => clusterStats(tg, 'v1').pendingRequests === 1);
            const overflow = await get(port, '/d');
            assert.equal(overflow.status, 503);
            assert.equal(v1.streams.length, 2, 'the upstream never saw more than its two streams');
            for (const s of held.splice(0)) answer(s, 'v1');
            await v1.waitForStreams(3);
            for (const s of held.splice(0)) answer(s, 'v1');
            assert.deepEqual(
              (await Promise.all([...running, waiting])).map((a) => a.status),
              [200, 200, 200],
            );
            assert.equal(v1.sessions.length, 1);
            assert.ok(tg.access.entries.some((e) => e.response_flags === 'UO'));
          },
          port,
        );
      } finally {
        await v1.close();
        await v2.close();
      }
    });

  it('http2MaxRequests bounds the requests in flight to the cluster whatever the stream capacity', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    const v1 = await h2Server('v1', ({ stream }) => held.push(stream));
    const v2 = await h2Server('v2');
    const port = await freePort();
    const yaml = config(port, v1.port, v2.port, { v1Pool: '{http: {http2MaxRequests: 3}}' });
    try {
      await withGateway(
        yaml,
        async () => {
          const running = [get(port, '/1'), get(port, '/2'), get(port, '/3')];
          await v1.waitForStreams(3);
          const r = await get(port, '/4');
          assert.equal(r.status, 503);
          assert.match(r.body, /overflow/);
          for (const s of held.splice(0)) answer(s, 'v1');
          assert.deepEqual(
            (await Promise.all(running)).map((a) => a.status),
            [200, 200, 200],
          );
        },
        port,
      );
    } finally {
      await v1.close();
      await v2.close();
    }
  });

  it('maxRequestsPerConnection drains an h2 connection after that many streams', async () => {
    const v1 = await h2Server('v1');
    const v2 = await h2Server('v2');
    const port = await freePort();
    const yaml = config(port, v1.port, v2.port, { v1Pool: '{http: {maxRequestsPerConnection: 2}}' });
    try {
      await withGateway(
        yaml,
        async () => {
          for (let i = 0; i < 4; i++) assert.equal((await get(port, `/${i}`)).status, 200);
          assert.deepEqual(
            v1.streams.map((s) => s.session),
            [0, 0, 1, 1],
          );
        },
        port,
      );
    } finally {
      await v1.close();
      await v2.close();
    }
  });
});

/** Polls a condition on the gateway's own counters (no event says a request is waiting in a pool). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 5));
}

function clusterStats(tg: TestGateway, subset: string) {
  const stats = Object.values(tg.gw.primaryClusters.stats()).find((c) => c.name.includes(`|${subset}|`));
  assert.ok(stats, `no primary cluster for ${subset}`);
  return stats;
}

describe('refused streams', () => {
  it('REFUSED_STREAM is retried (Istio default retryOn has refused-stream); without retries it is 503 UR', async () => {
    let refuse = 1;
    const v1 = await h2Server('v1', ({ stream }) => {
      if (refuse-- > 0) return stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      // Echo the request body: a retried POST must arrive whole.
      let body = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => {
        body += c;
      });
      stream.on('end', () => answer(stream, `v1:${body}`));
    });
    const v2 = await h2Server('v2');
    const port = await freePort();
    try {
      await withGateway(
        config(port, v1.port, v2.port),
        async (tg) => {
          const r = await send(port, '/pay', { method: 'POST', headers: { host: 'web' }, body: 'amount=5' });
          assert.equal(r.status, 200);
          assert.equal(r.body, 'v1:amount=5', 'the retry carried the whole body');
          assert.equal(v1.streams.length, 2, 'refused once, retried once');
          assert.equal(tg.access.entries.at(-1)!.response_flags, '-');
        },
        port,
      );
      refuse = 1;
      await withGateway(
        config(port, v1.port, v2.port, { routeExtra: '    retries: {attempts: 2, retryOn: unavailable}\n' }),
        async (tg) => {
          const before = v1.streams.length;
          const r = await get(port, '/');
          assert.equal(r.status, 503);
          assert.match(r.body, /refused stream/);
          assert.equal(v1.streams.length - before, 1, 'retryOn without refused-stream (or reset, 5xx) does not retry it');
          assert.equal(tg.access.entries.at(-1)!.response_flags, 'UR');
        },
        port,
      );
    } finally {
      await v1.close();
      await v2.close();
    }
  });

  it('a stream above a GOAWAY last-stream-id is retried on a new connection', async () => {
    const v1 = await h2Server('v1', (s, all) => {
      if (all.length === 1) return; // held until the second arrives
      if (all.length === 2) {
        // The server leaves after the first stream: the second (a higher id) was never processed.
        const first = all[0]!.stream;
        s.stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, first.id);
        answer(first, 'v1 first');
        return;
      }
      answer(s.stream, 'v1 again');
    });
    const v2 = await h2Server('v2');
    const port = await freePort();
    try {
      await withGateway(
        config(port, v1.port, v2.port),
        async () => {
          const first = get(port, '/first');
          await v1.waitForStreams(1);
          const second = await get(port, '/second');
          assert.equal(second.status, 200);
          assert.equal(second.body, 'v1 again');
          assert.equal((await first).body, 'v1 first');
          assert.deepEqual(
            v1.streams.map((s) => [s.path, s.session]),
            [
              ['/first', 0],
              ['/second', 0],
              ['/second', 1],
            ],
          );
        },
        port,
      );
    } finally {
      await v1.close();
      await v2.close();
    }
  });
});

describe('destination-side Istio metrics of gRPC calls', () => {
  it('primary and shadow attempts are counted with request_protocol="grpc" and their grpc_response_status', async () => {
    const v1 = await startGrpcServer('v1');
    const v2 = await startGrpcServer('v2', { kind: 'fail', code: grpc.status.NOT_FOUND, details: 'gone' });
    const port = await freePort();
    const tg = await startGateway({
      'echo.yaml': mirrorServiceYaml({ host: 'echo', port, portName: 'grpc-echo', primary: v1.port, candidate: v2.port, labels: { app: 'echo' } }),
    });
    const c = echoClient(port, 'echo');
    try {
      for (let i = 0; i < 3; i++) assert.equal((await unary(c, `x${i}`)).value, `v1:x${i}`);
      await v2.waitForCalls(3);
      await tg.gw.shadows.idle();
      const text = await (await fetch(`http://${tg.gw.adminAddress}/metrics`)).text();
      const line = (version: string) =>
        text.split('\n').find((l) => l.startsWith('istio_requests_total{reporter="destination"') && l.includes(`destination_version="${version}"`));
      assert.match(line('v1') ?? '', /request_protocol="grpc",grpc_response_status="0",.*response_code="200".*\} 3$/);
      assert.match(line('v2') ?? '', /request_protocol="grpc",grpc_response_status="5",.*response_code="200".*\} 3$/);
    } finally {
      c.close();
      await tg.close();
      await v1.close();
      await v2.close();
    }
  });
});
