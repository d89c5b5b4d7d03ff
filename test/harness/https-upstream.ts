// Test harness: an https upstream made from the test CA's certificates, recording what each request carried
// (SNI, the client certificate's CN, headers); `mutual` requires a client certificate signed by the CA.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Certs } from './certs.js';

export interface Seen {
  url: string;
  sni: string | false;
  clientCn: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

export interface HttpsUpstream {
  port: number;
  seen: Seen[];
  /** TLS handshakes that failed on this server (a client certificate missing, a client that gave up). */
  handshakeErrors: number;
  /** TLS connections accepted (a client that keeps its pool opens no new one). */
  connections: number;
  waitFor(n: number): Promise<void>;
  close(): Promise<void>;
}

export async function httpsUpstream(certs: Certs, name: string, mutual: boolean): Promise<HttpsUpstream> {
  const seen: Seen[] = [];
  const waiters: Array<() => void> = [];
  const server = https.createServer(
    {
      key: readFileSync(certs.path(`${name}.key`)),
      cert: readFileSync(certs.path(`${name}.crt`)),
      ca: readFileSync(certs.path('ca.crt')),
      requestCert: mutual,
      rejectUnauthorized: mutual,
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      const peer = mutual ? socket.getPeerCertificate() : undefined;
      seen.push({ url: req.url ?? '', sni: socket.servername ?? false, clientCn: peer?.subject?.CN as string | undefined, headers: req.headers });
      for (const w of waiters.splice(0)) w();
      req.resume();
      req.on('end', () => res.end(`${name} over TLS`));
    },
  );
  const up: HttpsUpstream = {
    port: 0,
    seen,
    handshakeErrors: 0,
    connections: 0,
    async waitFor(n) {
      while (seen.length < n) await new Promise<void>((r) => waiters.push(r));
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  server.on('tlsClientError', () => up.handshakeErrors++);
  server.on('secureConnection', () => up.connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  up.port = (server.address() as AddressInfo).port;
  return up;
}
