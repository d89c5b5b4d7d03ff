// HTTP/1.1 upgrades on the service ports (WebSocket): routed like any request, then bytes both ways, never mirrored.
import type { IncomingMessage } from 'node:http';
import { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { classifyUpstreamError, releaseFromSilenceBound, type UpstreamFailure } from '../upstream/index.js';
import type { DownstreamHook } from './upstream-attempt.js';

/**
 * What becomes of a request that asks to upgrade. Istio configures Envoy's connection manager with
 * `upgrade_configs: [{upgrade_type: websocket}]` only (pilot's listener builder), so:
 * - `tunnel`: `websocket` (case-insensitive, as Envoy compares it) is proxied as an upgrade, without a body;
 * - `plain`: `h2c` is served as an ordinary request without the Upgrade (Envoy's HTTP/1 codec strips an h2c
 *   upgrade, RFC 9113 §3.1 deprecates it); only when it has no body, since Node hands over the raw socket;
 * - `refused`: any other type gets 403, Envoy's `upgrade_failed` local reply (conn_manager_impl.cc).
 */
export type UpgradeKind = 'tunnel' | 'plain' | 'refused';

export interface PendingUpgrade {
  kind: UpgradeKind;
  /** The `Upgrade` value sent upstream. */
  protocol: string;
  socket: Duplex;
  /** Bytes the client sent after the head (the start of its first frames); written upstream after the 101. */
  head: Buffer;
}

const pending = new WeakMap<IncomingMessage, PendingUpgrade>();

/** The upgrade a request asked for (set by the listener), or undefined for an ordinary request. */
export function upgradeOf(req: IncomingMessage): PendingUpgrade | undefined {
  return pending.get(req);
}

export function classifyUpgrade(value: string | undefined, hasBody: boolean): UpgradeKind {
  const v = (value ?? '').trim().toLowerCase();
  // A handshake is a GET without a body (RFC 6455 §4.1); one with a body is refused rather than half-forwarded
  // (its bytes would reach the upstream only as tunnel data, after a head that announced them).
  if (v === 'websocket') return hasBody ? 'refused' : 'tunnel';
  if (v === 'h2c' && !hasBody) return 'plain';
  return 'refused';
}

/**
 * Node's `upgrade` event hands over the socket without a response object: one is built on it, so the
 * request passes the same phases (head checks, routing, local answers, metrics and log) as any other.
 * The connection ends after any answer but a 101: Node's parser is gone, no second request can follow.
 */
export function acceptUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, serve: (req: IncomingMessage, res: ServerResponse) => void): void {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  pending.set(req, { kind: classifyUpgrade(req.headers.upgrade, hasBody), protocol: req.headers.upgrade ?? '', socket, head });
  socket.on('error', () => socket.destroy());
  const start = () => {
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.on('finish', () => {
      if (res.statusCode !== 101) socket.end();
    });
    serve(req, res);
  };
  // A pipelined request before this one may still be answering on the socket: the upgrade waits its turn.
  const prior = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!prior) {
    start();
    return;
  }
  prior.once('finish', () => setImmediate(start));
  prior.once('close', () => {
    if (!prior.writableFinished) socket.destroy();
  });
}

export type UpgradeOutcome =
  /** The upstream answered with something else than 101; the answer was sent downstream. */
  | { kind: 'answered'; status: number }
  /** The upstream switched protocols; the tunnel ran and is closed now. */
  | { kind: 'tunnelled'; bytesUp: number; bytesDown: number; idleTimeout: boolean; upstreamReset: boolean }
  | { kind: 'failed'; failure: UpstreamFailure; afterCommit: boolean };

export interface UpgradeOptions {
  dispatcher: Dispatcher;
  path: string;
  method: string;
  headers: Record<string, string | string[]>;
  upgrade: PendingUpgrade;
  res: ServerResponse;
  /** Where the request's one 'close' listener calls in when the client goes away early. */
  downstream: DownstreamHook;
  /** Writes the response head downstream (a 101 too). */
  commit(status: number, headers: Record<string, string | string[] | undefined>): void;
  /** Every byte sent downstream, the tunnel's too. */
  onData(chunk: Buffer): void;
  /** Why the tunnel is being torn down, before its sockets close (the access log is written on the close). */
  onTearDown(why: 'idle_timeout' | 'upstream_reset'): void;
  /** The tunnel is open (101 sent): for the open-connections gauge. */
  onOpen(): void;
  /** No byte either way for this long: both sides closed (Envoy's stream idle timeout). */
  idleTimeoutMs: number;
  /** performance.now() deadline of the route timeout until the 101 (Envoy does not time out an upgraded stream). */
  routeDeadline?: number;
}

/** Sends the upgrade request to the primary endpoint, then splices the two sockets until either side closes. */
export function proxyUpgrade(o: UpgradeOptions): Promise<UpgradeOutcome> {
  return new Promise((resolve) => {
    const { res } = o;
    let controller: Dispatcher.DispatchController | undefined;
    let aborted: 'route' | 'downstream' | undefined;
    let committed = false;
    let status = 0;
    let settled = false;
    let routeTimer: NodeJS.Timeout | undefined;
    const done = (outcome: UpgradeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(routeTimer);
      o.downstream.onClose = undefined;
      resolve(outcome);
    };
    const abort = (why: 'route' | 'downstream') => {
      if (settled || aborted) return;
      aborted = why;
      controller?.abort(new Error(`${why} abort`));
    };
    o.downstream.onClose = { downstreamClosed: () => abort('downstream') };
    if (o.routeDeadline !== undefined) routeTimer = setTimeout(() => abort('route'), Math.max(0, o.routeDeadline - performance.now()));

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (aborted) c.abort(new Error(`${aborted} abort`));
      },
      onResponseStart(_c, statusCode, headers) {
        if (statusCode < 200) return;
        status = statusCode;
        committed = true;
        o.commit(statusCode, headers as Record<string, string | string[] | undefined>);
      },
      onResponseData(c, chunk) {
        o.onData(chunk);
        if (!res.write(chunk)) {
          c.pause();
          res.once('drain', () => c.resume());
        }
      },
      onResponseEnd() {
        res.end();
        done({ kind: 'answered', status });
      },
      onResponseError(_c, err) {
        const failure = aborted === 'route' ? 'timeout' : aborted === 'downstream' ? 'cancelled' : classifyUpstreamError(err);
        done({ kind: 'failed', failure, afterCommit: committed });
      },
      onRequestUpgrade(_c, statusCode, headers, upstream) {
        clearTimeout(routeTimer);
        o.downstream.onClose = undefined;
        const client = o.upgrade.socket;
        if (aborted || client.destroyed) {
          upstream.destroy();
          return done({ kind: 'failed', failure: 'cancelled', afterCommit: false });
        }
        committed = true;
        o.commit(statusCode, { ...(headers as Record<string, string | string[] | undefined>), connection: 'upgrade' });
        res.end();
        o.onOpen();
        splice(client, upstream, o.upgrade.head, o.idleTimeoutMs, o.onData, o.onTearDown, done);
      },
    };
    o.dispatcher.dispatch({ path: o.path, method: o.method as Dispatcher.HttpMethod, headers: o.headers, body: null, upgrade: o.upgrade.protocol }, handler);
  });
}

/**
 * Bytes both ways with back-pressure (pipe pauses the reader while the writer's buffer is full, so a peer
 * that never reads holds at most a socket buffer of ours per direction). An end on either side closes both
 * after a flush; an error, reset or the idle timeout closes both at once.
 */
function splice(
  client: Duplex,
  upstream: Duplex,
  head: Buffer,
  idleTimeoutMs: number,
  onDown: (chunk: Buffer) => void,
  onTearDown: (why: 'idle_timeout' | 'upstream_reset') => void,
  done: (o: UpgradeOutcome) => void,
): void {
  let bytesUp = head.length;
  let bytesDown = 0;
  let idleTimeout = false;
  let upstreamReset = false;
  let closed = 0;
  const onClosed = () => {
    if (++closed < 2) return;
    done({ kind: 'tunnelled', bytesUp, bytesDown, idleTimeout, upstreamReset });
  };
  const tearDown = () => {
    client.destroy();
    upstream.destroy();
  };
  client.once('close', onClosed);
  upstream.once('close', onClosed);
  client.on('error', tearDown);
  upstream.on('error', () => {
    upstreamReset = true;
    onTearDown('upstream_reset');
    tearDown();
  });
  client.on('data', (c: Buffer) => {
    bytesUp += c.length;
  });
  upstream.on('data', (c: Buffer) => {
    bytesDown += c.length;
    onDown(c);
  });
  // The tunnel's idle bound replaces the pool's bound on a silent upstream (upstream/socket-idle.ts).
  releaseFromSilenceBound(upstream as Socket);
  for (const s of [client, upstream] as Socket[]) {
    s.setTimeout(idleTimeoutMs, () => {
      idleTimeout = true;
      onTearDown('idle_timeout');
      tearDown();
    });
  }
  // An end (FIN) or a close on either side closes the tunnel, once what is already read was written on: Envoy's
  // HTTP/1 connections do not half-close, and a WebSocket peer closes only after its Close frame anyway.
  const finish = () => {
    for (const s of [client, upstream]) if (!s.destroyed) s.end(() => s.destroy());
  };
  client.once('end', finish);
  upstream.once('end', finish);
  client.once('close', finish);
  upstream.once('close', finish);
  if (head.length > 0) upstream.write(head);
  client.pipe(upstream, { end: false });
  upstream.pipe(client, { end: false });
  client.resume();
}
