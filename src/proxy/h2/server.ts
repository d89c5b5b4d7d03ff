// The downstream HTTP/2 (h2c) server of one service port: bounded sessions whose streams enter the same data
// path as HTTP/1.1 requests, through Node's compatibility API.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { DEFAULT_H2_LIMITS, type H2Limits, serverSettings } from './limits.js';
import { type Protocol, sniffProtocol } from './preface.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** One port's HTTP/2 server and the sessions it holds (for draining). */
export class H2Server {
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private closing = false;

  constructor(handle: RequestHandler, limits: H2Limits = DEFAULT_H2_LIMITS) {
    this.server = http2.createServer({
      settings: serverSettings(limits),
      maxHeaderListPairs: limits.maxHeaderPairs,
      maxSessionMemory: limits.maxSessionMemoryMiB,
      // h2c only: an HTTP/1 connection never reaches this server (the preface decides first).
    });
    this.server.on('session', (session) => this.track(session, limits));
    this.server.on('request', (req, res) => {
      adaptRequest(req);
      adaptResponse(res);
      // The compatibility API mirrors IncomingMessage/ServerResponse closely enough for the data path
      // (headers, url, method, body events, pause/resume, writeHead/write/end, 'drain', 'close').
      handle(req as unknown as IncomingMessage, res as unknown as ServerResponse);
    });
    // A malformed frame or header block costs that stream or session only.
    this.server.on('sessionError', () => {});
  }

  /** Hands a sniffed connection (its preface put back) to the HTTP/2 server. */
  accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    // The HTTP/1.1 side's head timeout is not ours: a session with an open stream may be quiet for long (a gRPC
    // stream waiting for its next message); sessions close on their own idle timeout (track()).
    socket.setTimeout(0);
    this.server.emit('connection', socket);
  }

  private track(session: http2.ServerHttp2Session, limits: H2Limits): void {
    this.sessions.add(session);
    session.on('close', () => this.sessions.delete(session));
    session.on('error', () => {});
    // The connection window: Node's default (64 KiB) would throttle every stream together; Envoy's edge value.
    session.on('connect', () => {
      try {
        session.setLocalWindowSize(limits.connectionWindowBytes);
      } catch {
        // The session closed meanwhile.
      }
    });
    // Idle: no stream open for idleTimeoutMs. An open stream (a long gRPC stream) keeps the session.
    session.setTimeout(limits.idleTimeoutMs, () => {
      if (openStreams(session) === 0) session.close();
    });
    if (this.closing) session.close();
  }

  /** GOAWAY to every session: streams in flight finish, no new ones start. */
  stopAccepting(): void {
    this.closing = true;
    for (const s of this.sessions) s.close();
  }

  /** Ends every session still open. */
  forceClose(): void {
    this.closing = true;
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
  }
}

/** Streams open per session, counted as the compatibility API hands them out. */
const streamCount = new WeakMap<http2.Http2Session, number>();

function openStreams(session: http2.Http2Session): number {
  return streamCount.get(session) ?? 0;
}

/**
 * The data path tells a finished answer from a client that went away (DC) by `writableFinished` at 'close'.
 * The compatibility API reports it true for any closed stream; here it means ended by us and not reset.
 */
function adaptResponse(res: http2.Http2ServerResponse): void {
  const stream = res.stream;
  Object.defineProperty(res, 'writableFinished', {
    get: () => res.writableEnded && stream.closed && stream.rstCode === http2.constants.NGHTTP2_NO_ERROR,
  });
}

/**
 * Makes an HTTP/2 request read like an HTTP/1.1 one to the data path: `host` from `:authority` and `headersDistinct` as Node builds it, without pseudo-headers. The pseudo-headers
 * stay in `headers` (the compatibility API reads `method` and `url` from them); forwardableHeaders drops them.
 */
function adaptRequest(req: http2.Http2ServerRequest): void {
  const h = req.headers as Record<string, string | string[] | undefined>;
  const session = req.stream.session;
  if (session) {
    streamCount.set(session, (streamCount.get(session) ?? 0) + 1);
    req.stream.once('close', () => streamCount.set(session, (streamCount.get(session) ?? 1) - 1));
  }
  const authority = h[':authority'];
  // RFC 9113 §8.3.1: with :authority present, Host must not decide the target. Routing reads Host, so
  // :authority replaces it: a different Host cannot pick another virtual host than the one :authority names.
  if (typeof authority === 'string') h.host = authority;
  let distinct: Record<string, string[]> | undefined;
  Object.defineProperty(req, 'headersDistinct', {
    get() {
      if (!distinct) {
        distinct = {};
        for (const [k, v] of Object.entries(h)) if (v !== undefined && k.charCodeAt(0) !== 58) distinct[k] = Array.isArray(v) ? v : [v];
      }
      return distinct;
    },
  });
}

/**
 * Serves HTTP/1.1 and h2c on one HTTP/1.1 server's port, as Envoy's HTTP connection manager with codec_type
 * AUTO does: each new connection's first bytes decide. The HTTP/1.1 server keeps listening and tracking its
 * connections (timeouts, closeIdleConnections); only its connection listener is put behind the sniff.
 */
export function acceptBoth(
  server: Server,
  handle: RequestHandler,
  onH2?: (socket: Socket) => void,
  /** Takes a connection to terminate TLS first (true), then serves the decrypted one by its ALPN protocol. */
  secure?: (socket: Socket, serve: (socket: Socket, protocol: Protocol) => void) => boolean,
): H2Server {
  const h2 = new H2Server(handle);
  const h1Listeners = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  // ALPN h2 goes straight to the HTTP/2 server; anything else is told by its first bytes, as on a plain port.
  const serve = (socket: Socket, protocol: Protocol): void => {
    if (protocol === 'h2') {
      onH2?.(socket);
      h2.accept(socket);
    } else sniff(socket);
  };
  const sniff = (socket: Socket) =>
    sniffProtocol(
      socket,
      (protocol) => {
        if (protocol === 'h2') {
          onH2?.(socket);
          return h2.accept(socket);
        }
        for (const l of h1Listeners) l.call(server, socket);
        socket.resume();
      },
      // Silence before the first bytes is the HTTP/1.1 server's to judge, as Node's own socket timeout does.
      () => {
        if (!server.emit('timeout', socket)) socket.destroy();
      },
    );
  server.on('connection', (socket: Socket) => {
    if (!secure?.(socket, serve)) sniff(socket);
  });
  return h2;
}
