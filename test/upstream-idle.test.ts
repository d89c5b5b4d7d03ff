// The bound on a silent upstream (src/upstream/socket-idle.ts; per stream over HTTP/2, h2/h2-pool.ts) over real
// sockets, through the pools and the primary attempt: an upstream that says nothing for the limit fails the request
// as a timeout, before or after its head; one that keeps sending is never cut, however long it takes in total. A
// limit of 400 ms stands in for 5 minutes. The attempt asks undici for no timers of its own (headersTimeout/
// bodyTimeout 0), so only this bound acts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { Pool } from 'undici';
import { type AttemptEvents, type AttemptOutcome, runAttempt } from '../src/proxy/upstream-attempt.js';
import { H2Pool } from '../src/upstream/h2/index.js';
import { skipContinueConnector } from '../src/upstream/skip-continue.js';
import { within } from './harness/wait.js';

const LIMIT_MS = 400;

const servers: http.Server[] = [];
const pools: Pool[] = [];
const h2Servers: http2.Http2Server[] = [];
const h2Pools: H2Pool[] = [];
after(async () => {
  await Promise.all(pools.map((p) => p.destroy()));
  for (const p of h2Pools) void p.close();
  for (const s of h2Servers) s.close();
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function listen(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

const committing: AttemptEvents = {
  retryOnStatus: () => false,
  commit() {},
  onData() {},
  onEnd() {},
};

/** A gateway-like front: every request runs one attempt to the upstream; resolves with the attempt's outcome. */
async function attemptThrough(upstream: http.RequestListener, pool?: Pool): Promise<{ outcome: AttemptOutcome; body: string; pool: Pool }> {
  if (!pool) {
    const upstreamPort = await listen(upstream);
    pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { connect: skipContinueConnector(5_000, undefined, LIMIT_MS), keepAliveTimeout: 60_000 });
    pools.push(pool);
  }
  return { ...(await attemptVia(pool)), pool };
}

/** An h2c upstream whose streams `onStream` serves, and an H2Pool to it with the test's limit. */
async function h2Upstream(onStream: (stream: http2.ServerHttp2Stream, path: string) => void): Promise<{ pool: H2Pool; sessions: () => number }> {
  const server = http2.createServer();
  h2Servers.push(server);
  let sessions = 0;
  server.on('session', () => sessions++);
  server.on('stream', (stream, headers) => onStream(stream, String(headers[':path'])));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const pool = new H2Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, {
    connectTimeoutMs: 5_000,
    idleTimeoutMs: 60_000,
    silentStreamMs: LIMIT_MS,
  });
  h2Pools.push(pool);
  return { pool, sessions: () => sessions };
}

/** The same over HTTP/2 (h2c). */
async function attemptThroughH2(onStream: (stream: http2.ServerHttp2Stream) => void): Promise<{ outcome: AttemptOutcome; body: string }> {
  return attemptVia((await h2Upstream(onStream)).pool);
}

/** Writes `parts` pieces, one every 40 ms (never silent for more than 40 ms), then ends. */
function trickle(stream: http2.ServerHttp2Stream, parts: number): void {
  stream.respond({ ':status': 200, 'content-type': 'text/plain' });
  let sent = 0;
  const timer = setInterval(() => {
    if (stream.destroyed) return clearInterval(timer);
    stream.write(`${sent};`);
    if (++sent === parts) {
      clearInterval(timer);
      stream.end();
    }
  }, 40);
}

async function attemptVia(dispatcher: Pool | H2Pool, path = '/'): Promise<{ outcome: AttemptOutcome; body: string }> {
  let outcome: Promise<AttemptOutcome> | undefined;
  const frontPort = await listen((_req, res) => {
    const events: AttemptEvents = { ...committing, commit: (status) => res.writeHead(status) };
    outcome = runAttempt({ dispatcher, path, method: 'GET', headers: {}, body: null, res, downstream: { onClose: undefined }, events });
    void outcome.then((o) => {
      if (o.kind === 'failed' && !o.afterCommit) res.writeHead(504).end('timed out');
      else if (o.kind === 'failed') res.destroy();
    });
  });
  const body = await within(
    new Promise<string>((resolve) => {
      http
        .get({ port: frontPort, host: '127.0.0.1', path }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            text += c;
          });
          res.on('end', () => resolve(text));
          res.on('error', () => resolve(text));
          res.on('aborted', () => resolve(text));
        })
        .on('error', () => resolve(''));
    }),
    'the front answered',
  );
  return { outcome: await within(outcome!, 'the attempt ended'), body };
}

test('an upstream that never answers fails the request after the idle limit, as a timeout', async () => {
  const { outcome, body } = await attemptThrough(() => {});
  assert.deepEqual(outcome, { kind: 'failed', failure: 'timeout', afterCommit: false });
  assert.equal(body, 'timed out');
});

test('an upstream that stops in the middle of its body is cut after the idle limit', async () => {
  const { outcome, body } = await attemptThrough((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first part;');
  });
  assert.deepEqual(outcome, { kind: 'failed', failure: 'timeout', afterCommit: true });
  assert.equal(body, 'first part;');
});

test('an upstream that keeps sending is never cut, however long the whole answer takes', async () => {
  const parts = 25; // one every 40 ms: 1 s in all, 2.5 times the limit, never silent for more than 40 ms
  const { outcome, body } = await attemptThrough((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    let sent = 0;
    const timer = setInterval(() => {
      res.write(`${sent};`);
      if (++sent === parts) {
        clearInterval(timer);
        res.end();
      }
    }, 40);
  });
  assert.deepEqual(outcome, { kind: 'answered', status: 200 });
  assert.equal(body, Array.from({ length: parts }, (_, i) => `${i};`).join(''));
});

test('a pooled connection closed for silence is not missed: the next request gets a new one', async () => {
  let connections = 0;
  let first: Pool | undefined;
  const upstream: http.RequestListener = (req, res) => {
    if ((req.socket as { counted?: boolean }).counted !== true) {
      (req.socket as { counted?: boolean }).counted = true;
      connections++;
    }
    res.end('ok');
  };
  const a = await attemptThrough(upstream);
  first = a.pool;
  assert.deepEqual(a.outcome, { kind: 'answered', status: 200 });
  // The keep-alive connection (pool keep-alive 60 s) stays idle past the limit and is closed by the bound.
  await within(new Promise<void>((resolve) => first!.once('disconnect', () => resolve())), 'the idle connection closed');
  const b = await attemptThrough(upstream, first);
  assert.deepEqual(b.outcome, { kind: 'answered', status: 200 });
  assert.equal(b.body, 'ok');
  assert.equal(connections, 2);
});

test('HTTP/2: a stream the upstream never answers fails after the idle limit, as a timeout', async () => {
  const { outcome, body } = await attemptThroughH2(() => {});
  assert.deepEqual(outcome, { kind: 'failed', failure: 'timeout', afterCommit: false });
  assert.equal(body, 'timed out');
});

test('HTTP/2: a stream that stops in the middle of its body is cut after the idle limit', async () => {
  const { outcome, body } = await attemptThroughH2((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.write('first part;');
  });
  assert.deepEqual(outcome, { kind: 'failed', failure: 'timeout', afterCommit: true });
  assert.equal(body, 'first part;');
});

test('HTTP/2: a stream that keeps sending is never cut; a silent one beside it on the same connection is', async () => {
  const parts = 25; // 1 s in all, 2.5 times the limit
  const { pool, sessions } = await h2Upstream((stream, path) => {
    if (path === '/busy') trickle(stream, parts);
  });
  const [busy, silent] = await Promise.all([attemptVia(pool, '/busy'), attemptVia(pool, '/silent')]);
  assert.deepEqual(busy.outcome, { kind: 'answered', status: 200 });
  assert.equal(busy.body, Array.from({ length: parts }, (_, i) => `${i};`).join(''));
  assert.deepEqual(silent.outcome, { kind: 'failed', failure: 'timeout', afterCommit: false });
  assert.equal(sessions(), 1);
});
