// TLS origination (DestinationRule `trafficPolicy.tls`): the connect options a cluster's pools dial with, read once per config.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { type ConnectionOptions, checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { ClientTls } from '../config/model.js';
import { type SecretLookup, secretMaterial } from '../tls/index.js';

export interface TlsConnect {
  options: ConnectionOptions;
  /** Changes with the settings and the files' contents: a rotated file gives new pools on the next config. */
  key: string;
}

/** The cluster's Secrets have not been listed yet: not a problem to report, the cluster waits (503 UH) and is rebuilt once they are. */
export class SecretPending extends Error {
  readonly pending = true;
}

/** The CA, client certificate and key, and where each came from (for one-line errors). */
interface Material {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  caWhere: string;
  certWhere: string;
  keyWhere: string;
}

function fromFiles(tls: ClientTls): Material {
  const m: Material = {
    caWhere: `tls.caCertificates ${tls.caCertificates}`,
    certWhere: `tls.clientCertificate ${tls.clientCertificate}`,
    keyWhere: `tls.privateKey ${tls.privateKey}`,
  };
  if (tls.caCertificates) m.ca = read('caCertificates', tls.caCertificates);
  if (tls.clientCertificate && tls.privateKey) {
    m.cert = read('clientCertificate', tls.clientCertificate);
    m.key = read('privateKey', tls.privateKey);
  }
  return m;
}

/**
 * Istio's `credentialName` for origination: the Secret's `cert`/`key` (or `tls.crt`/`tls.key`) are the client pair,
 * MUTUAL only; its `cacert` (or `ca.crt`, or for MUTUAL a `<name>-cacert` Secret) verifies the upstream. No Secret,
 * or no way to read one, throws: the cluster never falls back to plain HTTP or to no client certificate.
 */
function fromSecret(tls: ClientTls, name: string, secrets: SecretLookup | undefined): Material {
  if (!secrets) throw new Error(`tls.credentialName ${name}: Secrets are read only with serve --kubernetes; the cluster answers 503 until then`);
  const mutual = tls.mode === 'MUTUAL';
  const s = secretMaterial(name, secrets, mutual);
  if (s === 'pending') throw new SecretPending(`tls.credentialName ${name}: waiting for the cluster's Secrets to be listed`);
  if (!s) throw new Error(`tls.credentialName: Secret ${name} not found; the cluster answers 503 until it exists`);
  const m: Material = { caWhere: `${s.ref} ca.crt`, certWhere: `${s.ref} tls.crt`, keyWhere: `${s.ref} tls.key` };
  if (s.ca) m.ca = s.ca;
  if (mutual) {
    if (!s.cert || !s.key)
      throw new Error(`tls.credentialName: ${s.ref} has no ${s.cert ? 'tls.key (or key)' : 'tls.crt (or cert)'}: MUTUAL needs a client certificate and key`);
    m.cert = s.cert;
    m.key = s.key;
  }
  return m;
}

function read(field: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`tls.${field} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * The upstream's certificate must name one of `sans` (Istio's subjectAltNames): DNS names and IPs as Node checks
 * a hostname (wildcards included), URIs (SPIFFE ids) exactly.
 */
function matchAny(sans: readonly string[]): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const names = (cert.subjectaltname ?? '').split(', ');
    for (const san of sans) {
      if (san.includes('://') ? names.includes(`URI:${san}`) : checkServerIdentity(san, cert) === undefined) return undefined;
    }
    const err = new Error(`the upstream certificate (${cert.subjectaltname ?? 'no SAN'}) matches none of subjectAltNames ${sans.join(', ')}`);
    return Object.assign(err, { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  };
}

/**
 * Connect options for SIMPLE and MUTUAL, from files or from a Secret (`credentialName`, looked up in `secrets`).
 * Throws one line naming the field and file (or Secret) for one that cannot be read or is missing, a certificate that does not parse, or a key that is not the certificate's. Verification follows Istio
 * (VERIFY_CERTIFICATE_AT_CLIENT, on by default since 1.20): the chain against `caCertificates` (else the
 * system roots), the name against `subjectAltNames`, else against the SNI; `insecureSkipVerify` turns both off.
 * SNI is `sni`, else the service host (Istio's auto SNI sends the host asked for; IPs carry no SNI, RFC 6066 §3).
 */
export function tlsConnect(tls: ClientTls, serviceHost: string, secrets?: SecretLookup): TlsConnect {
  const hash = createHash('sha256').update(JSON.stringify(tls)).update(serviceHost);
  const options: ConnectionOptions = { rejectUnauthorized: !tls.insecureSkipVerify };
  const m = tls.credentialName ? fromSecret(tls, tls.credentialName, secrets) : fromFiles(tls);
  if (m.ca) {
    try {
      new X509Certificate(m.ca);
    } catch (err) {
      throw new Error(`${m.caWhere}: not a PEM certificate (${(err as Error).message})`);
    }
    options.ca = m.ca;
    hash.update(m.ca);
  }
  if (m.cert && m.key) {
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(m.cert);
    } catch (err) {
      throw new Error(`${m.certWhere}: not a PEM certificate (${(err as Error).message})`);
    }
    let matches: boolean;
    try {
      matches = x509.checkPrivateKey(createPrivateKey(m.key));
    } catch (err) {
      throw new Error(`${m.keyWhere}: not a PEM private key (${(err as Error).message})`);
    }
    if (!matches) throw new Error(`${m.keyWhere} is not the key of ${m.certWhere}`);
    options.cert = m.cert;
    options.key = m.key;
    hash.update(m.cert).update(m.key);
  }
  const sni = tls.sni || serviceHost;
  if (sni && isIP(sni) === 0) options.servername = sni;
  if (tls.insecureSkipVerify) options.checkServerIdentity = () => undefined;
  else if (tls.subjectAltNames.length > 0) options.checkServerIdentity = matchAny(tls.subjectAltNames);
  else if (options.servername) {
    const name = options.servername;
    options.checkServerIdentity = (_host, cert) => checkServerIdentity(name, cert);
  }
  return { options, key: hash.digest('hex').slice(0, 16) };
}
