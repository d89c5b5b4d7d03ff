// Issue 17, WebSocket pass-through: upgrades routed like any request, tunnelled both ways, never mirrored, bounded.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { freePort, serviceYaml, startGateway, type TestGateway } from './harness/gateway.js';
import { rawConnect, readResponse } from './harness/raw.js';
import { waitFor as waitUntil } from './harness/wait.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
/** RFC 6455 §1.3: the accept value for KEY. */
const ACCEPT = createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');

interface WsUpstream {
  port: number;
  /** Upgrade requests received (head only). */
  upgrades: http.IncomingMessage[];
  /** Ordinary requests received. */
  requests: http.IncomingMessage[];
  /** Server-side tunnel sockets, in order. */
  tunnels: Socket[];
  /** How the next upgrade is answered: echo after a 101, or refuse with this status. */
  refuseWith: number | undefined;
  /** Bytes to send first on every new tunnel. */
  greeting: string;
  close(): Promise<void>;
}

/** A WebSocket-ish upstream: a real RFC 6455 handshake, then echoes raw bytes (frames are opaque to a proxy). */
async function wsUpstream(): Promise<WsUpstream> {
  const up: WsUpstream = {
    port: 0,
    upgrades: [],
    requests: [],
    tunnels: [],
    refuseWith: undefined,
    greeting: '',
    close: async () => {
      for (const s of up.tunnels) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = http.createServer((req, res) => {
    up.requests.push(req);
    res.end('plain');
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket) => {
    up.upgrades.push(req);
    if (up.refuseWith !== undefined) {
      socket.end(`HTTP/1.1 ${up.refuseWith} Nope\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope`);
      return;
    }
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n${up.greeting}`);
    up.tunnels.push(socket);
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  up.port = (server.address() as AddressInfo).port;
  return up;
}

function handshake(path: string, protocol = 'websocket', extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: chat\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n${extra}\r\n`;
}

/** Reads from `socket` until `text` has arrived (everything after the response head). */
function readUntil(socket: Socket, text: string, already = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = already;
    if (got.includes(text)) return resolve(got);
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes(text)) {
        socket.off('data', onData);
        socket.off('close', onClose);
        resolve(got);
      }
    };
    const onClose = () => reject(new Error(`closed before ${JSON.stringify(text)} (got ${JSON.stringify(got)})`));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/** Sends a handshake and reads the 101 head; resolves with the socket and any bytes after the head. */
async function open(port: number, path: string): Promise<{ socket: Socket; head: string; rest: string }> {
  const socket = await rawConnect(port);
  socket.write(handshake(path));
  const got = await readUntil(socket, '\r\n\r\n');
  const end = got.indexOf('\r\n\r\n');
  return { socket, head: got.slice(0, end), rest: got.slice(end + 4) };
}

const VS = `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: chat}
spec:
  hosts: [chat]
  http:
  - name: admin
    match: [{uri: {prefix: /admin}}]
    directResponse: {status: 403, body: {string: forbidden}}
  - name: live
    match: [{uri: {prefix: /live}}]
    route: [{destination: {host: chat, subset: v1}}]
    mirror: {host: chat, subset: v2}
    mirrorPercentage: {value: 100}
  - name: rest
    route: [{destination: {host: chat, subset: v2}}]
`;

async function metric(tg: TestGateway, pattern: RegExp): Promise<string | undefined> {
  const res = await request(`http://${tg.gw.adminAddress}/metrics`);
  const text = await res.body.text();
  return pattern.exec(text)?.[1];
}

/** Re-checks `cond` at every turn of the event loop until it holds (bounded by the harness' safety net, not a count of turns). */
async function waitFor(cond: () => boolean | Promise<boolean>): Promise<void> {
  await waitUntil(cond, (ok) => ok, { what: cond.toString() });
}

describe('WebSocket pass-through', () => {
  let port: number;
  let v1: WsUpstream;
  let v2: WsUpstream;
  let tg: TestGateway;
  before(async () => {
    port = await freePort();
    v1 = await wsUpstream();
    v2 = await wsUpstream();
    const svc = serviceYaml('chat', port, [
      { upstream: { port: v1.port } as never, labels: { version: 'v1' } },
      { upstream: { port: v2.port } as never, labels: { version: 'v2' } },
    ]);
    tg = await startGateway({ 'chat.yaml': svc + VS }, { downstream: { upgradeIdleTimeoutMs: 60_000 } });
  });
  after(async () => {
    await tg.close();
    await v1.close();
    await v2.close();
  });

  it('echoes both ways through the mirrored route, counts 101, and sends no copy', async () => {
    v1.greeting = 'hello-from-server';
    // `/x/../live` normalises to /live: the route is chosen as for any request.
    const { socket, head, rest } = await open(port, '/x/../live?room=1');
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, new RegExp(`sec-websocket-accept: ${ACCEPT.replace(/[+/=]/g, '\\$&')}`, 'i'));
    assert.match(head, /\r\nupgrade: websocket/i);
    assert.match(head, /\r\nconnection: upgrade/i);
    await readUntil(socket, 'hello-from-server', rest);
    socket.write('ping-1');
    await readUntil(socket, 'ping-1');
    socket.write('ping-2');
    await readUntil(socket, 'ping-2');

    assert.equal(v1.upgrades.length, 1);
    const up = v1.upgrades[0]!;
    assert.equal(up.url, '/live?room=1');
    assert.equal(up.headers.upgrade, 'websocket');
    assert.equal(up.headers['sec-websocket-key'], KEY);
    assert.equal(up.headers.via, '1.1 shadowgate');
    assert.equal(v2.upgrades.length + v2.requests.length, 0, 'the mirror got no copy');
    assert.equal(await metric(tg, /shadowgate_downstream_upgraded_connections (\d+)/), '1');
    assert.equal(await metric(tg, /shadowgate_shadow_abandoned_total\{[^}]*reason="upgrade"\} (\d+)/), '1');

    socket.end();
    await once(socket, 'close');
    await waitFor(async () => (await metric(tg, /shadowgate_downstream_upgraded_connections (\d+)/)) === '0');
    await waitFor(() => tg.access.entries.some((e) => e.response_code === 101));
    assert.match((await metric(tg, /(istio_requests_total\{[^}]*response_code="101"[^}]*\} \d+)/)) ?? '', /destination_version="v1".* 1$/);
    assert.equal(v2.upgrades.length + v2.requests.length, 0);
    const entry = tg.access.entries.find((e) => e.response_code === 101)!;
    assert.equal(entry.route_name, 'live');
    assert.deepEqual(entry.mirrors, [{ cluster: entry.mirrors[0]!.cluster, outcome: 'abandoned:upgrade' }]);
  });

  it('a route rule cannot be bypassed by upgrading: /admin answers 403 and closes', async () => {
    const before = v1.upgrades.length + v2.upgrades.length;
    const socket = await rawConnect(port);
    socket.write(handshake('//admin/../admin/x'));
    const res = await readResponse(socket);
    assert.equal(res.status, 403);
    assert.equal(res.body, 'forbidden');
    await once(socket, 'close');
    assert.equal(v1.upgrades.length + v2.upgrades.length, before);
  });

  it('an upgrade Istio does not allow, or a handshake with a body, gets 403 (Envoy upgrade_failed); h2c is served as a plain request', async () => {
    const before = v1.upgrades.length + v2.upgrades.length;
    const socket = await rawConnect(port);
    socket.write(handshake('/live', 'spdy/3.1'));
    const res = await readResponse(socket);
    assert.equal(res.status, 403);
    await once(socket, 'close');
    assert.equal(v1.upgrades.length + v2.upgrades.length, before);

    const withBody = await rawConnect(port);
    withBody.write(`${handshake('/live', 'websocket', 'Content-Length: 5\r\n')}hello`);
    assert.equal((await readResponse(withBody)).status, 403);
    await once(withBody, 'close');
    assert.equal(v1.upgrades.length + v2.upgrades.length, before);

    const h2c = await rawConnect(port);
    const v2Plain = v2.requests.length;
    h2c.write(handshake('/other', 'h2c', 'HTTP2-Settings: AAMAAABkAAQAAP__\r\n'));
    const plain = await readResponse(h2c);
    assert.equal(plain.status, 200);
    assert.equal(plain.body, 'plain');
    assert.equal(v2.requests.length, v2Plain + 1);
    assert.equal(v2.requests.at(-1)!.headers.upgrade, undefined);
  });

  it('an upstream refusing the upgrade: its answer reaches the client, and the connection closes', async () => {
    v1.refuseWith = 426;
    try {
      const socket = await rawConnect(port);
      socket.write(handshake('/live'));
      const res = await readResponse(socket);
      assert.equal(res.status, 426);
      assert.equal(res.body, 'nope');
      await once(socket, 'close');
    } finally {
      v1.refuseWith = undefined;
    }
  });

  it('a client that never reads holds back the upstream (back-pressure), and loses nothing', async (t) => {
    v1.greeting = '';
    const { socket } = await open(port, '/live');
    await waitFor(() => v1.tunnels.length > 0 && !v1.tunnels.at(-1)!.destroyed && v1.upgrades.length > 0);
    const server = v1.tunnels.at(-1)!;
    server.unpipe(server);
    socket.pause();
    const total = 64 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let written = 0;
    let blocked = false;
    const pump = () => {
      while (written < total) {
        written += chunk.length;
        if (!server.write(chunk)) {
          blocked = true;
          server.once('drain', () => {
            blocked = false;
            pump();
          });
          return;
        }
      }
    };
    pump();
    // Stuck: blocked, and the count stays put across many event-loop turns (a tunnel without back-pressure
    // would drain the upstream into the gateway's memory until all 64 MiB were written).
    let last = -1;
    let still = 0;
    await waitFor(() => {
      if (blocked && written === last) still++;
      else still = 0;
      last = written;
      return still > 2_000 || written >= total;
    });
    assert.ok(written < total / 2, `the upstream wrote ${written} bytes to a client that reads nothing`);
    t.diagnostic(`the upstream could write ${(written / 1048576).toFixed(1)} MiB of 64 MiB to a client that reads nothing`);
    let received = 0;
    socket.on('data', (d: Buffer) => {
      received += d.length;
    });
    socket.resume();
    await waitFor(() => received >= total);
    assert.equal(received, total);
    socket.destroy();
    await waitFor(async () => (await metric(tg, /shadowgate_downstream_upgraded_connections (\d+)/)) === '0');
  });
});

describe('WebSocket idle timeout', () => {
  it('a tunnel with no byte either way for --upgrade-idle-timeout is closed on both sides', async () => {
    const port = await freePort();
    const v1 = await wsUpstream();
    const svc = serviceYaml('chat', port, [{ upstream: { port: v1.port } as never, labels: { version: 'v1' } }]);
    const tg = await startGateway({ 'chat.yaml': svc }, { downstream: { upgradeIdleTimeoutMs: 100 } });
    try {
      const { socket } = await open(port, '/');
      socket.write('x');
      await readUntil(socket, 'x');
      await once(socket, 'close');
      await waitFor(() => v1.tunnels[0]!.destroyed);
      await waitFor(() => tg.access.entries.some((e) => e.response_code === 101));
      assert.equal(tg.access.entries.find((e) => e.response_code === 101)!.response_flags, 'SI');
    } finally {
      await tg.close();
      await v1.close();
    }
  });
});
