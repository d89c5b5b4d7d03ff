// The bound on a silent upstream (src/upstream/socket-idle.ts) over real sockets, through the pools' connector and
// the primary attempt: an upstream that says nothing for the limit fails the request as a timeout, before or after
// its head; one that keeps sending is never cut, however long it takes in total. A limit of 400 ms stands in for 5
// minutes. The attempt asks undici for no timers of its own (headersTimeout/bodyTimeout 0), so only this bound acts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { Pool } from 'undici';
import { type AttemptEvents, type AttemptOutcome, runAttempt } from '../src/proxy/upstream-attempt.js';
import { skipContinueConnector } from '../src/upstream/skip-continue.js';
import { within } from './harness/wait.js';

const LIMIT_MS = 400;

const servers: http.Server[] = [];
const pools: Pool[] = [];
after(async () => {
  await Promise.all(pools.map((p) => p.destroy()));
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
  const dispatcher = pool;
  let outcome: Promise<AttemptOutcome> | undefined;
  const frontPort = await listen((_req, res) => {
    const events: AttemptEvents = { ...committing, commit: (status) => res.writeHead(status) };
    outcome = runAttempt({ dispatcher, path: '/', method: 'GET', headers: {}, body: null, res, downstream: { onClose: undefined }, events });
    void outcome.then((o) => {
      if (o.kind === 'failed' && !o.afterCommit) res.writeHead(504).end('timed out');
      else if (o.kind === 'failed') res.destroy();
    });
  });
  const body = await within(
    new Promise<string>((resolve) => {
      http
        .get({ port: frontPort, host: '127.0.0.1', path: '/' }, (res) => {
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
  return { outcome: await within(outcome!, 'the attempt ended'), body, pool };
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
