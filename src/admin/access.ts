// Who may use the admin listener. Two checks, both before any route:
// - DNS rebinding: a page on evil.example whose name is re-pointed at 127.0.0.1 makes the browser send its
//   requests, same-origin, to the admin port with `Host: evil.example`. So the Host must be a loopback name, an IP
//   literal (a rebinding page is always reached by a name; Prometheus scrapes pods by IP:port), the admin bind
//   name or a configured name. An `Origin` (which browsers send on POST and on cross-origin reads) must be the
//   Host's own name, a loopback name or a configured one, so a cross-site form to http://127.0.0.1:15000/api/runs
//   is refused too, from a page served by name or by IP. Refused: 403.
// - An optional token (--admin-token-file): on the UI, the API and /config_dump, or everywhere. Taken as
//   `Authorization: Bearer <token>` (scripts, Argo Rollouts' web metric headers) or Basic with the token as
//   password, which a browser asks for itself, so the UI works unchanged; Flagger's webhooks, which cannot set
//   headers, put it in their payload's `metadata.token` (server.ts). Missing or wrong: 401.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

export interface AdminAccessOptions {
  /**
   * Host names allowed besides loopback names, IP literals and the bind name: exact (`shadowgate-admin`), or with
   * a leading dot for a domain and its subdomains (`.svc.cluster.local`).
   */
  allowedHosts?: readonly string[];
  /** The name (or address) the listener was asked to bind (`--admin HOST:PORT`). */
  bindHost?: string;
  /** Required on the UI and the API when set. */
  token?: string;
  /** `all`: /metrics, /ready and /healthz want the token too (default: they stay open for probes and scrapes). */
  tokenScope?: 'api' | 'all';
}

export type AccessDecision = { ok: true } | { ok: false; status: 401 | 403; message: string };

/** Paths probes and scrapers read: open unless the token scope is `all`. */
const PROBE_PATHS = new Set(['/metrics', '/ready', '/healthz']);

const digest = (s: string) => createHash('sha256').update(s).digest();

/** A host name as compared: lower case, no trailing dot, no brackets around an IPv6 literal. */
function normalise(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/\.$/, '')
    .replace(/^\[(.*)\]$/, '$1');
}

/** The name part of a `Host` header (`name`, `name:port`, `[v6]:port`), or undefined when it is not one. */
export function hostName(header: string): string | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+)(?::(\d{1,5}))?$/.exec(header.trim());
  return m ? normalise(m[1]!) : undefined;
}

export class AdminAccess {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly token: Buffer | undefined;
  private readonly scope: 'api' | 'all';

  constructor(o: AdminAccessOptions = {}) {
    for (const raw of o.allowedHosts ?? []) {
      const h = normalise(raw);
      if (h === '' || h === '.') throw new Error('an allowed admin host is empty');
      if (!/^\.?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$/.test(h) && isIP(h) === 0) throw new Error(`"${raw}" is not a host name (or .domain for its subdomains)`);
      if (h.startsWith('.')) this.suffixes.push(h);
      else this.exact.add(h);
    }
    if (o.bindHost) this.exact.add(normalise(o.bindHost));
    if (o.token !== undefined) {
      if (o.token === '') throw new Error('the admin token is empty');
      this.token = digest(o.token);
    }
    this.scope = o.tokenScope ?? 'api';
  }

  get requiresToken(): boolean {
    return this.token !== undefined;
  }

  /** Loopback names, the bind name, the configured names; for a Host (not an Origin), any IP literal too. */
  allowsHost(name: string, anyAddress = true): boolean {
    if (isIP(name) !== 0 && (anyAddress || /^127\.|^::1$|^::ffff:127\./.test(name))) return true;
    if (name === 'localhost' || name.endsWith('.localhost')) return true;
    if (this.exact.has(name)) return true;
    return this.suffixes.some((s) => name === s.slice(1) || name.endsWith(s));
  }

  private tokenMatches(authorization: string | undefined): boolean {
    if (!this.token || authorization === undefined) return false;
    const m = /^(Bearer|Basic)\s+(\S+)\s*$/i.exec(authorization);
    if (!m) return false;
    let presented = m[2]!;
    if (m[1]!.toLowerCase() === 'basic') {
      const decoded = Buffer.from(presented, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return false;
      presented = decoded.slice(colon + 1);
    }
    // Digests of equal length: the comparison's time says nothing of the token's length or content.
    return timingSafeEqual(digest(presented), this.token);
  }

  /** A gate payload (Flagger's JSON) whose `metadata.token` is the token. */
  payloadTokenMatches(body: string): boolean {
    if (!this.token) return false;
    let v: unknown;
    try {
      v = JSON.parse(body);
    } catch {
      return false;
    }
    const token = (v as { metadata?: { token?: unknown } } | null)?.metadata?.token;
    return typeof token === 'string' && timingSafeEqual(digest(token), this.token);
  }

  check(req: { path: string; host: string | undefined; origin: string | undefined; authorization: string | undefined }): AccessDecision {
    const host = req.host === undefined ? undefined : hostName(req.host);
    if (req.host !== undefined) {
      if (host === undefined || !this.allowsHost(host))
        return { ok: false, status: 403, message: `Host "${req.host.slice(0, 100)}" is not allowed here (add it with --admin-allowed-hosts)` };
    }
    if (req.origin !== undefined) {
      let name: string | undefined;
      try {
        const u = new URL(req.origin);
        name = u.protocol === 'http:' || u.protocol === 'https:' ? normalise(u.hostname) : undefined;
      } catch {
        name = undefined;
      }
      // Same-origin (the page came from this listener, by the name in Host), or a name allowed by itself.
      if (name === undefined || (name !== host && !this.allowsHost(name, false)))
        return { ok: false, status: 403, message: `Origin "${req.origin.slice(0, 100)}" is not allowed here (add its host with --admin-allowed-hosts)` };
    }
    if (this.token && (this.scope === 'all' || !PROBE_PATHS.has(req.path)) && !this.tokenMatches(req.authorization))
      return { ok: false, status: 401, message: 'the admin listener wants its token: Authorization: Bearer <token> (--admin-token-file)' };
    return { ok: true };
  }
}
