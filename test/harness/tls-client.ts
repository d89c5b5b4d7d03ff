// Test harness: an https client that sends a chosen SNI (or none) and says which server's certificate answered.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Certs } from './certs.js';
import { parseExposition, total } from './exposition.js';

/**
 * GET /through over TLS to `port` with SNI `servername` (undefined: none at all), the chain checked against `ca`;
 * `anyName` turns only the name check off, to see which upstream's certificate answered. Resolves with the answer
 * and that certificate's fingerprint, or with the error when the connection is refused.
 */
export function tlsGet(
  port: number,
  servername: string | undefined,
  ca: Buffer,
  anyName = false,
): Promise<{ status?: number; body?: string; fingerprint?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port,
        path: '/through',
        ca,
        agent: false,
        headers: { host: servername ?? 'x' },
        // '' sends no SNI at all (Node would otherwise take the Host header's name).
        servername: servername ?? '',
        ...(anyName ? { checkServerIdentity: () => undefined } : {}),
      },
      (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body, fingerprint }));
      },
    );
    req.on('error', (e) => resolve({ error: e.message }));
  });
}

/** The SHA-256 fingerprint of the certificate `name` issued by `certs`: which server answered a handshake. */
export function fingerprintOf(certs: Certs, name: string): string {
  return new X509Certificate(readFileSync(certs.path(`${name}.crt`))).fingerprint256;
}

/** `shadowgate_tls_passthrough_connections_total{port, result}` of a gateway (0 when not counted yet). */
export async function passthroughConnections(registry: { metrics(): Promise<string> }, port: number, result: string): Promise<number> {
  return total(parseExposition(await registry.metrics()), 'shadowgate_tls_passthrough_connections_total', { port: String(port), result });
}
