// TLS termination of the service ports: per port, a TLS server that is never bound itself (the port's HTTP server
// owns the socket and hands each new connection here), a secure context per Gateway server picked by SNI, client
// certificates checked for MUTUAL, and certificates re-read when their files change. A context replaced only
// changes the next handshakes: connections already up keep theirs. TCP tunnels (Gateway API TLS listeners in
// Terminate mode) are handshaken by a second TLS server of the port that offers no ALPN protocol: the SNI callback
// cannot change what ALPN answers (Node copies only the certificate and key of the context it returns), and an
// ALPNCallback cannot decline without a fatal alert.
import { EventEmitter } from 'node:events';
import { type FSWatcher, watch } from 'node:fs';
import type { Socket } from 'node:net';
import { dirname } from 'node:path';
import { type SecureContext, type TLSSocket, Server as TlsServer } from 'node:tls';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ServerTls } from '../config/index.js';
// config's own modules, not its index (which loads the compiler and yaml): see config/index.ts.
import { formatProblem } from '../config/problems.js';
import { filesOf, type Inspected, inspectServerTls, type SecretLookup } from './credentials.js';
import { SniIndex } from './sni.js';

/** `h2` when the client chose it by ALPN; otherwise HTTP/1.1 (or h2 by prior knowledge, told by its preface). */
export type SecureProtocol = 'h1' | 'h2';

/** Hands a handshaken connection to the port's HTTP servers. */
export type Serve = (socket: TLSSocket, protocol: SecureProtocol) => void;

/** Hands a handshaken tunnel connection on (its `servername` says which route). */
export type Secured = (socket: TLSSocket) => void;

export interface TlsTerminationOptions {
  /** One line per problem (stderr by default in the gateway). */
  log: (line: string) => void;
  registry?: Registry;
  /** Time to complete a handshake (the head timeout: a handshake is the first part of a request's head). */
  handshakeTimeoutMs: number;
  /** Kubernetes Secrets for `credentialName` (none: such servers are reported and not served). */
  secrets?: SecretLookup;
  now?: () => number;
  /** Re-read certificates when their files change (on by default). */
  watch?: boolean;
}

interface Loaded {
  tls: ServerTls;
  /** Undefined when the server never loaded: its names get no certificate. */
  context: SecureContext | undefined;
  key: string;
  notAfterMs: number | undefined;
  fingerprint: string | undefined;
  /** The last problems logged for it, so a watch firing again does not repeat them. */
  said: string;
  /** Its Secret is not known yet: the cluster's Secrets are still being listed. */
  pending?: boolean;
}

const serverId = (port: number, t: ServerTls) => `${port}|${t.source.gateway}|${t.source.server}`;

/** On a decrypted socket: the server its handshake chose, and the port's servers then (for misdirected requests). */
const CHOSEN = Symbol('shadowgate tls server');
type Tagged = { [CHOSEN]?: { port: number; sni: SniIndex<Loaded>; chosen: Loaded | undefined } };

class PortTerminator {
  readonly server: TlsServer;
  /** Tunnels' handshakes: no ALPN offered (made on the first tunnel connection). */
  private tunnelServer: TlsServer | undefined;
  sni = new SniIndex<Loaded>();
  servers: ServerTls[] = [];
  serve: Serve | undefined;
  tunnel: Secured | undefined;

  constructor(
    readonly port: number,
    private readonly owner: TlsTermination,
    private readonly handshakeTimeoutMs: number,
  ) {
    this.server = this.tlsServer(['h2', 'http/1.1']);
    this.server.on('secureConnection', (socket: TLSSocket) => this.secured(socket));
  }

  /** A TLS server of the port's secure contexts by SNI, offering `alpn` (none: no ALPN protocol is negotiated). */
  private tlsServer(alpn: string[] | undefined): TlsServer {
    const server = new TlsServer({
      ...(alpn ? { ALPNProtocols: alpn } : {}),
      handshakeTimeout: this.handshakeTimeoutMs,
      rejectUnauthorized: false,
      SNICallback: (name, cb) => cb(null, this.sni.lookup(name)?.context),
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      this.owner.handshakeFailures.inc({ port: String(this.port), reason: 'handshake' });
      this.owner.emit('handshakeError', err, socket);
      socket.destroy();
    });
    return server;
  }

  /** The server handshaking tunnels: Gateway API TLS listeners in Terminate mode take SIMPLE TLS only. */
  tunnels(): TlsServer {
    if (!this.tunnelServer) {
      this.tunnelServer = this.tlsServer(undefined);
      this.tunnelServer.on('secureConnection', (socket: TLSSocket) => {
        if (this.tunnel) this.tunnel(socket);
        else socket.destroy();
      });
    }
    return this.tunnelServer;
  }

  close(): void {
    this.server.close();
    this.tunnelServer?.close();
  }

  /**
   * After the handshake (a name no server takes, with no `*` server, got no certificate: it failed, as in Envoy): a
   * MUTUAL server requires a verified client certificate, an OPTIONAL_MUTUAL one refuses only an unverified one; the
   * decrypted socket is tagged with its server (misdirected()) and served by its ALPN protocol.
   */
  private secured(socket: TLSSocket): void {
    const chosen = this.sni.lookup(socket.servername || undefined);
    const mode = chosen?.tls.mode;
    if (mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') {
      const presented = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
      if ((mode === 'MUTUAL' || presented) && !socket.authorized) {
        this.owner.handshakeFailures.inc({ port: String(this.port), reason: presented ? 'client_certificate_invalid' : 'client_certificate_missing' });
        socket.destroy();
        return;
      }
    }
    if (!this.serve) {
      socket.destroy();
      return;
    }
    (socket as TLSSocket & Tagged)[CHOSEN] = { port: this.port, sni: this.sni, chosen };
    this.serve(socket, socket.alpnProtocol === 'h2' ? 'h2' : 'h1');
  }
}

/** Every TLS port's terminator; the gateway's listeners ask it to take connections on the ports that terminate TLS. */
export class TlsTermination extends EventEmitter {
  private readonly ports = new Map<number, PortTerminator>();
  private readonly loaded = new Map<string, Loaded>();
  private readonly watchers = new Map<string, FSWatcher>();
  private settle: NodeJS.Timeout | undefined;
  private config = new Map<number, ServerTls[]>();
  readonly handshakeFailures: Counter<'port' | 'reason'>;
  readonly loads: Counter<'result'>;
  readonly misdirectedRequests: Counter<'port'>;
  private readonly now: () => number;
  secrets: SecretLookup | undefined;

  constructor(private readonly opts: TlsTerminationOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.secrets = opts.secrets;
    const registers = opts.registry ? [opts.registry] : [];
    this.handshakeFailures = new Counter({
      name: 'shadowgate_tls_handshake_failures_total',
      help: 'TLS connections refused on the service ports, by port and reason (handshake, client_certificate_missing, client_certificate_invalid)',
      labelNames: ['port', 'reason'] as const,
      registers,
    });
    this.loads = new Counter({
      name: 'shadowgate_tls_certificate_loads_total',
      help: 'Server certificates (re)loaded, by result: loaded (a new secure context), failed (not loaded; the last good one, if any, keeps serving)',
      labelNames: ['result'] as const,
      registers,
    });
    this.misdirectedRequests = new Counter({
      name: 'shadowgate_tls_misdirected_requests_total',
      help: 'Requests answered 421, by port: their Host belongs to another server of the port than the one their TLS handshake chose',
      labelNames: ['port'] as const,
      registers,
    });
    const loaded = this.loaded;
    new Gauge({
      name: 'shadowgate_tls_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the certificate each Gateway server presents, per host (seconds since the epoch)',
      labelNames: ['gateway', 'server', 'host'] as const,
      registers,
      collect() {
        this.reset();
        for (const l of loaded.values()) {
          if (l.notAfterMs === undefined || l.context === undefined) continue;
          for (const host of l.tls.hosts) this.set({ gateway: l.tls.source.gateway, server: l.tls.source.server, host }, l.notAfterMs / 1000);
        }
      },
    });
  }

  /**
   * True (and counted) for a request whose Host another server of the port takes than the one its connection's SNI
   * chose: answered 421 (RFC 9110 §15.5.20), so a client cannot reach a MUTUAL server's routes over a SIMPLE
   * server's handshake (Envoy keeps one route table per server for the same reason).
   */
  misdirected(req: { socket: unknown; headers: { host?: string | undefined } }): boolean {
    let tag: Tagged[typeof CHOSEN];
    try {
      tag = (req.socket as Tagged | null)?.[CHOSEN];
    } catch {
      return false; // an HTTP/2 stream whose session is gone
    }
    if (!tag) return false;
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
    const owner = tag.sni.lookup(host || undefined);
    if (owner === undefined || owner === tag.chosen) return false;
    this.misdirectedRequests.inc({ port: String(tag.port) });
    return true;
  }

  /** False while a server waits for its Secret to be listed (readiness waits: a handshake now would fail). */
  ready(): boolean {
    for (const l of this.loaded.values()) if (l.pending) return false;
    return true;
  }

  /** True when `port` terminates TLS now. */
  terminates(port: number): boolean {
    return this.ports.has(port);
  }

  /** The servers of each TLS port (from the snapshot being applied); ports absent serve plain HTTP. */
  configure(byPort: ReadonlyMap<number, readonly ServerTls[]>): void {
    this.config = new Map([...byPort].map(([p, s]) => [p, [...s]]));
    this.refresh();
  }

  /**
   * Re-reads every server's material: what changed gets a new secure context (new handshakes use it), what did not
   * keeps its own, and what fails keeps the last good one (said once, one line naming the file and the field).
   */
  refresh(): void {
    const keep = new Set<string>();
    for (const [port, servers] of this.config) {
      let t = this.ports.get(port);
      if (!t) {
        t = new PortTerminator(port, this, this.opts.handshakeTimeoutMs);
        this.ports.set(port, t);
      }
      const sni = new SniIndex<Loaded>();
      for (const tls of servers) {
        const id = serverId(port, tls);
        keep.add(id);
        const entry = this.load(id, tls);
        for (const h of tls.hosts) sni.add(h, entry);
      }
      // Client certificates are asked for on the whole port when any server wants them (the server is known only
      // after the ClientHello); secured() refuses where the chosen server requires one.
      (t.server as TlsServer & { requestCert: boolean }).requestCert = servers.some((s) => s.mode !== 'SIMPLE');
      t.sni = sni;
      t.servers = [...servers];
    }
    for (const [port, t] of this.ports) {
      if (this.config.has(port)) continue;
      this.ports.delete(port);
      t.close();
    }
    for (const id of this.loaded.keys()) if (!keep.has(id)) this.loaded.delete(id);
    if (this.opts.watch !== false) this.watchFiles();
    this.emit('refreshed');
  }

  private load(id: string, tls: ServerTls): Loaded {
    const before = this.loaded.get(id);
    const got: Inspected = inspectServerTls(tls, this.now(), this.secrets);
    if (before && before.key === got.key && before.context) {
      before.tls = tls;
      return before;
    }
    const said = got.problems.map(formatProblem).join('\n');
    const fresh = said !== before?.said;
    if (got.context) {
      const entry: Loaded = { tls, context: got.context, key: got.key, notAfterMs: got.notAfterMs, fingerprint: got.fingerprint, said };
      this.loaded.set(id, entry);
      this.loads.inc({ result: 'loaded' });
      if (fresh) for (const p of got.problems) this.opts.log(`shadowgate: ${formatProblem(p)}`);
      if (before?.context)
        this.opts.log(
          `shadowgate: ${tls.source.resource} ${tls.source.server}: certificate reloaded (${got.fingerprint?.slice(0, 23)}...), new handshakes use it`,
        );
      return entry;
    }
    this.loads.inc({ result: 'failed' });
    const kept = before?.context ? ' (the previous certificate keeps serving)' : ' (this server is not served)';
    if (fresh) for (const p of got.problems) this.opts.log(`shadowgate: ${formatProblem(p)}${p.severity === 'error' ? kept : ''}`);
    if (before?.context) {
      before.said = said;
      before.tls = tls;
      return before;
    }
    const entry: Loaded = { tls, context: undefined, key: got.key, notAfterMs: undefined, fingerprint: undefined, said };
    if (got.problems.some((p) => p.severity === 'info' && p.code === 'credential-not-found')) entry.pending = true;
    this.loaded.set(id, entry);
    return entry;
  }

  /** Takes a new connection of `port` when it terminates TLS (false: serve it as plain HTTP). */
  accept(port: number, socket: Socket, serve: Serve): boolean {
    const t = this.ports.get(port);
    if (!t) return false;
    t.serve = serve;
    t.server.emit('connection', socket);
    return true;
  }

  /** Takes a new connection of `port` to be terminated as a TCP tunnel (no ALPN); false when the port has no TLS. */
  acceptTunnel(port: number, socket: Socket, secured: Secured): boolean {
    const t = this.ports.get(port);
    if (!t) return false;
    t.tunnel = secured;
    t.tunnels().emit('connection', socket);
    return true;
  }

  /** The certificate fingerprint each server presents now (for tests and /config_dump). */
  certificates(): Array<{ gateway: string; server: string; hosts: string[]; fingerprint?: string; notAfter?: string }> {
    return [...this.loaded.values()].map((l) => {
      const c: { gateway: string; server: string; hosts: string[]; fingerprint?: string; notAfter?: string } = {
        gateway: l.tls.source.gateway,
        server: l.tls.source.server,
        hosts: l.tls.hosts,
      };
      if (l.context && l.fingerprint) c.fingerprint = l.fingerprint;
      if (l.context && l.notAfterMs !== undefined) c.notAfter = new Date(l.notAfterMs).toISOString();
      return c;
    });
  }

  /**
   * Watches the directories of the certificate files (a file replaced by rename, or a mounted Secret's `..data`
   * swap, is seen there, not on the file); a burst of changes is read once, after it settles.
   */
  private watchFiles(): void {
    const dirs = new Set<string>();
    for (const servers of this.config.values()) for (const s of servers) for (const f of filesOf(s)) dirs.add(dirname(f));
    for (const [dir, w] of this.watchers) {
      if (dirs.has(dir)) continue;
      w.close();
      this.watchers.delete(dir);
    }
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.changed());
        w.on('error', () => {
          w.close();
          this.watchers.delete(dir);
        });
        this.watchers.set(dir, w);
      } catch {
        // A directory that does not exist: its files are reported by the load; the next config apply retries.
      }
    }
  }

  private changed(): void {
    clearTimeout(this.settle);
    // A rotation writes the certificate and the key one after the other: read them once both are down.
    this.settle = setTimeout(() => this.refresh(), 100);
    this.settle.unref();
  }

  close(): void {
    clearTimeout(this.settle);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    for (const t of this.ports.values()) t.close();
    this.ports.clear();
  }
}
