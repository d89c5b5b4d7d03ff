// A server's certificate, key and CA read and checked: the same checks for `validate` and for serving, each problem one
// line naming the file (or Secret) and the resource's field path. Only what cannot be served is an error.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Problem, ProblemCode, ServerTls } from '../config/index.js';

/** A certificate closer than this to its notAfter is warned about (cert-manager renews at two thirds of 90 days: 30). */
export const EXPIRY_WARNING_MS = 14 * 24 * 3600 * 1000;

/** TLS 1.3 suites are not configurable in Envoy (cipherSuites is for TLS 1.2): kept whatever cipherSuites says. */
const TLS13_SUITES = ['TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256'];

/** A Kubernetes Secret's data as Istio reads it for `credentialName` (sources/kubernetes hands these in). */
export interface SecretData {
  /** `Secret ns/name` */
  ref: string;
  data: Record<string, Buffer>;
}

/** `ns/name` → the Secret; undefined when the cluster has none by that name (or there is no cluster); 'pending' while Secrets are first listed. */
export type SecretLookup = (name: string) => SecretData | 'pending' | undefined;

export interface Inspected {
  /** Set when the server can be served (its certificate and key read and matched). */
  context?: SecureContext;
  /** Changes with the settings and every byte read: an unchanged key keeps the context it built before. */
  key: string;
  /** The leaf certificate's notAfter (ms since the epoch). */
  notAfterMs?: number;
  /** sha256 fingerprint of the leaf certificate, as Node prints it. */
  fingerprint?: string;
  problems: Problem[];
}

type Field = 'serverCertificate' | 'privateKey' | 'caCertificates' | 'credentialName' | 'cipherSuites' | 'minProtocolVersion';

class Report {
  readonly problems: Problem[] = [];
  constructor(private readonly t: ServerTls) {}
  add(severity: Problem['severity'], code: ProblemCode, field: Field | undefined, message: string): void {
    const s = this.t.source;
    const p: Problem = { severity, code, message, resource: s.resource, path: field ? `${s.path}.${field}` : s.path };
    if (s.file !== undefined) p.file = s.file;
    if (s.line !== undefined) p.line = s.line;
    this.problems.push(p);
  }
}

function readFile(r: Report, field: Field, path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? (err as Error).message);
    r.add('error', 'certificate-unreadable', field, `${path}: ${why}`);
    return undefined;
  }
}

/** What a Secret holds for TLS, as Istio reads it for `credentialName` (Gateway servers and DestinationRules alike). */
export interface SecretMaterial {
  /** `Secret ns/name` */
  ref: string;
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer;
}

/**
 * Istio's keys: `tls.crt`/`tls.key`/`ca.crt` (kubernetes.io/tls), or a generic Secret's `cert`/`key`/`cacert`. With
 * `separateCa` (MUTUAL), a CA missing from the Secret is read from `<name>-cacert`, as Istio does. 'pending' while the
 * cluster's Secrets are first listed; undefined when there is no such Secret.
 */
export function secretMaterial(name: string, secrets: SecretLookup, separateCa: boolean): SecretMaterial | 'pending' | undefined {
  const s = secrets(name);
  if (s === undefined || s === 'pending') return s;
  const d = s.data;
  const out: SecretMaterial = { ref: s.ref };
  const cert = d['tls.crt'] ?? d.cert;
  const key = d['tls.key'] ?? d.key;
  let ca = d['ca.crt'] ?? d.cacert;
  if (separateCa && !ca) {
    const other = secrets(`${name}-cacert`);
    const c = typeof other === 'object' ? other.data : undefined;
    ca = c?.['ca.crt'] ?? c?.cacert;
  }
  if (cert) out.cert = cert;
  if (key) out.key = key;
  if (ca) out.ca = ca;
  return out;
}

/**
 * Why the Secret `ns/name` cannot serve as a listener's certificate (missing, no certificate or key, not PEM, a key
 * not the certificate's), undefined when it can, 'pending' while the cluster's Secrets are first listed. The same
 * reading as serving (inspectServerTls), without the server's settings: what the status says is what is served.
 */
export function certificateSecretProblem(name: string, secrets: SecretLookup): string | 'pending' | undefined {
  const s = secretMaterial(name, secrets, false);
  if (s === 'pending') return s;
  if (!s) return `Secret ${name} not found`;
  if (!s.cert || !s.key) return `${s.ref} has no ${s.cert ? 'tls.key' : 'tls.crt'}`;
  try {
    if (!new X509Certificate(s.cert).checkPrivateKey(createPrivateKey(s.key))) return `${s.ref}: tls.key is not the private key of tls.crt`;
  } catch (err) {
    return `${s.ref}: not a PEM certificate and key (${(err as Error).message})`;
  }
  return undefined;
}

function fromSecret(r: Report, name: string, secrets: SecretLookup | undefined, mutual: boolean): { cert?: Buffer; key?: Buffer; ca?: Buffer; where: string } {
  const s = secrets && secretMaterial(name, secrets, mutual);
  if (s === 'pending') {
    r.add('info', 'credential-not-found', 'credentialName', `Secret ${name}: waiting for the cluster's Secrets to be listed`);
    return { where: `Secret ${name}` };
  }
  if (!s) {
    r.add(
      'error',
      'credential-not-found',
      'credentialName',
      secrets ? `Secret ${name} not found` : `Secret ${name}: credentialName needs a Secret (serve --kubernetes, or a Secret in the files)`,
    );
    return { where: `Secret ${name}` };
  }
  const { cert, key } = s;
  if (!cert || !key) r.add('error', 'credential-not-found', 'credentialName', `${s.ref} has no ${cert ? 'tls.key (or key)' : 'tls.crt (or cert)'}`);
  return { ...s, where: s.ref };
}

/**
 * Reads and checks one server's TLS material at `nowMs`: files unreadable, not PEM, a key that is not the
 * certificate's, a MUTUAL server without a CA are errors (not served); an expired certificate is an error but served
 * (Envoy serves it too: clients decide), one expiring within 14 days or whose SANs miss a server host a warning.
 */
export function inspectServerTls(t: ServerTls, nowMs: number, secrets?: SecretLookup): Inspected {
  const r = new Report(t);
  const mutual = t.mode !== 'SIMPLE';
  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  let ca: Buffer | undefined;
  let certWhere = t.serverCertificate ?? '';
  let keyWhere = t.privateKey ?? '';
  if (t.credentialName) {
    const s = fromSecret(r, t.credentialName, secrets, mutual);
    ({ cert, key, ca } = s);
    certWhere = `${s.where} tls.crt`;
    keyWhere = `${s.where} tls.key`;
  } else {
    if (t.serverCertificate) cert = readFile(r, 'serverCertificate', t.serverCertificate);
    if (t.privateKey) key = readFile(r, 'privateKey', t.privateKey);
    if (t.caCertificates) ca = readFile(r, 'caCertificates', t.caCertificates);
  }
  const certField: Field = t.credentialName ? 'credentialName' : 'serverCertificate';
  const keyField: Field = t.credentialName ? 'credentialName' : 'privateKey';
  const hash = createHash('sha256').update(JSON.stringify({ ...t, source: undefined }));
  for (const b of [cert, key, ca]) hash.update(b ?? '-');
  const out: Inspected = { key: hash.digest('hex').slice(0, 24), problems: r.problems };
  if (mutual && !ca && (t.caCertificates === undefined || t.credentialName)) {
    r.add('error', 'missing-field', t.credentialName ? 'credentialName' : 'caCertificates', `${t.mode} needs a CA to verify client certificates against`);
  }
  if (!cert || !key) return out;

  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    r.add('error', 'certificate-invalid', certField, `${certWhere}: not a PEM certificate (${(err as Error).message})`);
    return out;
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) {
      r.add('error', 'key-mismatch', keyField, `${keyWhere} is not the private key of ${certWhere}`);
      return out;
    }
  } catch (err) {
    r.add('error', 'certificate-invalid', keyField, `${keyWhere}: not a PEM private key (${(err as Error).message})`);
    return out;
  }
  if (ca) {
    try {
      new X509Certificate(ca);
    } catch (err) {
      r.add(
        'error',
        'certificate-invalid',
        t.credentialName ? 'credentialName' : 'caCertificates',
        `${t.caCertificates ?? certWhere}: not a PEM certificate (${(err as Error).message})`,
      );
      return out;
    }
  }

  const notAfter = Date.parse(x509.validTo);
  const notBefore = Date.parse(x509.validFrom);
  out.notAfterMs = notAfter;
  out.fingerprint = x509.fingerprint256;
  if (notAfter <= nowMs)
    r.add('error', 'certificate-expired', certField, `${certWhere} expired on ${new Date(notAfter).toISOString()} (served anyway: clients will refuse it)`);
  else if (notBefore > nowMs) r.add('error', 'certificate-expired', certField, `${certWhere} is not valid before ${new Date(notBefore).toISOString()}`);
  else if (notAfter - nowMs < EXPIRY_WARNING_MS) {
    const days = Math.floor((notAfter - nowMs) / (24 * 3600 * 1000));
    r.add('warning', 'certificate-expiring', certField, `${certWhere} expires on ${new Date(notAfter).toISOString()} (in ${days} day(s))`);
  }
  const missed = t.hosts.filter((h) => !sanCovers(x509, h));
  if (missed.length > 0) {
    r.add(
      'warning',
      'certificate-san',
      certField,
      `${certWhere} (${x509.subjectAltName ?? 'no SAN'}) does not cover host(s) ${missed.join(', ')}: clients checking the name will refuse it`,
    );
  }

  try {
    const opts: Parameters<typeof createSecureContext>[0] = { cert, key };
    if (ca) opts.ca = ca;
    if (t.minProtocolVersion) opts.minVersion = t.minProtocolVersion;
    if (t.maxProtocolVersion) opts.maxVersion = t.maxProtocolVersion;
    if (t.cipherSuites.length > 0) opts.ciphers = [...t.cipherSuites, ...TLS13_SUITES].join(':');
    out.context = createSecureContext(opts);
  } catch (err) {
    const field: Field = t.cipherSuites.length > 0 ? 'cipherSuites' : 'minProtocolVersion';
    r.add('error', 'certificate-invalid', field, `Node refuses these TLS settings: ${(err as Error).message}`);
  }
  return out;
}

/** A server host the certificate answers for: a name as clients check it (RFC 6125), a wildcard host by the same wildcard SAN. */
function sanCovers(x509: X509Certificate, host: string): boolean {
  if (host === '*') return true;
  if (host.startsWith('*.')) return (x509.subjectAltName ?? '').split(', ').includes(`DNS:${host}`);
  return x509.checkHost(host) !== undefined;
}

/** The files (not Secrets) a server reads: watched so that a rotation on disk reaches new handshakes. */
export function filesOf(t: ServerTls): string[] {
  if (t.credentialName) return [];
  return [t.serverCertificate, t.privateKey, t.caCertificates].filter((f): f is string => f !== undefined);
}
