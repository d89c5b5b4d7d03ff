// TLS origination (DestinationRule `trafficPolicy.tls`): the connect options a cluster's pools dial with, read once per config.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { type ConnectionOptions, checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { ClientTls } from '../config/model.js';

export interface TlsConnect {
  options: ConnectionOptions;
  /** Changes with the settings and the files' contents: a rotated file gives new pools on the next config. */
  key: string;
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
 * Connect options for SIMPLE and MUTUAL. Throws one line naming the field and file for a file that cannot be
 * read, a certificate that does not parse, or a key that is not the certificate's. Verification follows Istio
 * (VERIFY_CERTIFICATE_AT_CLIENT, on by default since 1.20): the chain against `caCertificates` (else the
 * system roots), the name against `subjectAltNames`, else against the SNI; `insecureSkipVerify` turns both off.
 * SNI is `sni`, else the service host (Istio's auto SNI sends the host asked for; IPs carry no SNI, RFC 6066 §3).
 */
export function tlsConnect(tls: ClientTls, serviceHost: string): TlsConnect {
  const hash = createHash('sha256').update(JSON.stringify(tls)).update(serviceHost);
  const options: ConnectionOptions = { rejectUnauthorized: !tls.insecureSkipVerify };
  if (tls.caCertificates) {
    const ca = read('caCertificates', tls.caCertificates);
    options.ca = ca;
    hash.update(ca);
  }
  if (tls.clientCertificate && tls.privateKey) {
    const cert = read('clientCertificate', tls.clientCertificate);
    const key = read('privateKey', tls.privateKey);
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(cert);
    } catch (err) {
      throw new Error(`tls.clientCertificate ${tls.clientCertificate}: not a PEM certificate (${(err as Error).message})`);
    }
    let matches: boolean;
    try {
      matches = x509.checkPrivateKey(createPrivateKey(key));
    } catch (err) {
      throw new Error(`tls.privateKey ${tls.privateKey}: not a PEM private key (${(err as Error).message})`);
    }
    if (!matches) throw new Error(`tls.privateKey ${tls.privateKey} is not the key of tls.clientCertificate ${tls.clientCertificate}`);
    options.cert = cert;
    options.key = key;
    hash.update(cert).update(key);
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
