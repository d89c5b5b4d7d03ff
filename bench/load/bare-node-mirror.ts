// The load bench's "bare Node mirror" peer: node:http + undici, every request to the primary and a
// fire-and-forget copy to the shadow. No routing, metrics or logs. Timeouts as nginx's peer config (1 s);
// at most 1000 copies in flight (as Shadowgate's default), beyond that a copy is dropped.
//   node bare-node-mirror.js PORT http://PRIMARY http://SHADOW [PROCESSES]     (prints "listening PORT")
// PROCESSES > 1 shares the port over that many node:cluster workers, as `shadowgate --workers N` does: the
// baseline for what splitting one load over several event loops costs, whoever splits it.
import cluster from 'node:cluster';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const [port = '0', primaryUrl = '', shadowUrl = '', processes = '1'] = process.argv.slice(2);
if (Number(processes) > 1 && cluster.isPrimary) supervise(Number(processes));
else serve();

function supervise(n: number): void {
  let listening = 0;
  for (let i = 0; i < n; i++) {
    cluster.fork().on('message', (m: { port?: number }) => {
      if (m.port !== undefined && ++listening === n) console.log(`listening ${m.port}`);
    });
  }
  const stop = () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  };
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
}

function serve(): void {
  const primary = new Pool(primaryUrl, { connections: 128 });
  const shadow = new Pool(shadowUrl, { connections: 256, connectTimeout: 1_000, headersTimeout: 1_000, bodyTimeout: 1_000 });
  const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);
  const strip = (h: Record<string, string | string[] | undefined>) =>
    Object.fromEntries(Object.entries(h).filter(([k, v]) => v !== undefined && !HOP.has(k))) as Record<string, string | string[]>;
  let copies = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const opts = {
        path: req.url ?? '/',
        method: (req.method ?? 'GET') as 'GET',
        headers: strip(req.headers),
        body: chunks.length ? Buffer.concat(chunks) : null,
      };
      primary.request(opts).then(
        (up) => {
          res.writeHead(up.statusCode, strip(up.headers));
          up.body.pipe(res);
        },
        () => res.writeHead(502).end(),
      );
      if (copies >= 1000) return;
      copies++;
      shadow
        .request(opts)
        .then((r) => r.body.dump())
        .catch(() => {})
        .finally(() => copies--);
    });
  });
  server.keepAliveTimeout = 120_000;
  server.listen(Number(port), '127.0.0.1', () => {
    const bound = (server.address() as AddressInfo).port;
    if (cluster.isWorker) process.send?.({ port: bound });
    else console.log(`listening ${bound}`);
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}
