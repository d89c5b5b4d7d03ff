// The cost of TLS termination: new connections per second (a full handshake and one request each, `Connection:
// close`) and keep-alive requests per second, HTTPS (an Istio Gateway server) against plain HTTP (a service port),
// through the same gateway to the same upstream, loaded by wrk in interleaved rounds; and nginx terminating TLS with
// the same certificate in front of the same upstream (one worker, as the gateway here), when nginx is installed.
// `npm run build && node dist/bench/tls/index.js [--duration 5 --rounds 2 --connections 16]`.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Gateway } from '../../src/gateway/index.js';
import { MemoryAccessLog } from '../../src/telemetry/index.js';

const { values } = parseArgs({
  options: { duration: { type: 'string', default: '5' }, rounds: { type: 'string', default: '2' }, connections: { type: 'string', default: '16' } },
});
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const connections = Number(values.connections);

for (const tool of ['wrk', 'openssl']) {
  if (spawnSync(tool, ['--version']).error) {
    process.stderr.write(`${tool} is missing (apt-get install -y ${tool})\n`);
    process.exit(2);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'shadowgate-bench-tls-'));
const ssl = (args: string[]) => {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
};
// P-256, as cert-manager's and most ingress certificates are today.
ssl([
  'req',
  '-x509',
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:prime256v1',
  '-nodes',
  '-keyout',
  'server.key',
  '-out',
  'server.crt',
  '-days',
  '2',
  '-subj',
  '/CN=bench.example.com',
  '-addext',
  'subjectAltName=DNS:bench.example.com',
]);

const upstream = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.end('This is version 1\n'));
});
upstream.keepAliveTimeout = 60_000;
upstream.listen(0, '127.0.0.1');
await once(upstream, 'listening');

async function freePort(): Promise<number> {
  const probe = http.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  return port;
}
const plainPort = await freePort();
const tlsPort = await freePort();

writeFileSync(
  join(dir, 'config.yaml'),
  `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web}
spec:
  hosts: [web]
  ports: [{number: ${plainPort}, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${(upstream.address() as AddressInfo).port}}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bench}
spec:
  servers:
  - port: {number: ${tlsPort}, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, serverCertificate: ${join(dir, 'server.crt')}, privateKey: ${join(dir, 'server.key')}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: ["*"]
  gateways: [bench, mesh]
  http: [{route: [{destination: {host: web}}]}]
`,
);
const gw = await Gateway.start({
  files: [join(dir, 'config.yaml')],
  bind: '127.0.0.1',
  admin: '127.0.0.1:0',
  accessLog: new MemoryAccessLog(),
  watch: false,
  log: () => {},
});

function wrk(url: string, close: boolean): Promise<number> {
  const args = ['-t1', `-c${connections}`, `-d${duration}s`, ...(close ? ['-H', 'Connection: close'] : []), url];
  return new Promise((resolve) => {
    execFile('wrk', args, { encoding: 'utf8', timeout: (duration + 30) * 1000 }, (_err, stdout) => {
      resolve(Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN));
    });
  });
}

/**
 * nginx with `ssl` on one worker, proxying to the same upstream over kept-alive connections; its defaults for
 * sessions (no shared cache, tickets on) and protocols (TLS 1.2 and 1.3), as the gateway's.
 */
async function startNginx(): Promise<{ port: number; child: ChildProcess } | undefined> {
  if (spawnSync('nginx', ['-v']).error) {
    process.stderr.write('nginx is missing (apt-get install -y nginx): the nginx rows are left out\n');
    return undefined;
  }
  const port = await freePort();
  const d = join(dir, 'nginx');
  mkdirSync(d);
  writeFileSync(
    join(d, 'nginx.conf'),
    `daemon off;
worker_processes 1;
pid ${d}/nginx.pid;
error_log ${d}/error.log error;
${process.getuid?.() === 0 ? 'user root;\n' : ''}events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${d}/client_body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
  keepalive_requests 1000000;
  upstream web { server 127.0.0.1:${(upstream.address() as AddressInfo).port}; keepalive 64; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${join(dir, 'server.crt')};
    ssl_certificate_key ${join(dir, 'server.key')};
    location / { proxy_pass http://web; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`,
  );
  const child = spawn('nginx', ['-p', d, '-c', join(d, 'nginx.conf'), '-e', join(d, 'error.log')], { stdio: 'ignore' });
  // Ready when it answers over TLS (bounded: 10 s).
  for (let i = 0; i < 100; i++) {
    if (spawnSync('curl', ['-sk', '-o', '/dev/null', `https://127.0.0.1:${port}/`]).status === 0) return { port, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  process.stderr.write('nginx did not start: the nginx rows are left out\n');
  return undefined;
}
const nginx = await startNginx();

const scenarios: Array<{ name: string; url: string; close: boolean }> = [
  { name: 'plain HTTP, keep-alive      (req/s)', url: `http://127.0.0.1:${plainPort}/`, close: false },
  { name: 'HTTPS, keep-alive           (req/s)', url: `https://127.0.0.1:${tlsPort}/`, close: false },
  { name: 'plain HTTP, new connections (conn/s)', url: `http://127.0.0.1:${plainPort}/`, close: true },
  { name: 'HTTPS, new connections      (conn/s)', url: `https://127.0.0.1:${tlsPort}/`, close: true },
  ...(nginx
    ? [
        { name: 'nginx HTTPS, keep-alive     (req/s)', url: `https://127.0.0.1:${nginx.port}/`, close: false },
        { name: 'nginx HTTPS, new conns      (conn/s)', url: `https://127.0.0.1:${nginx.port}/`, close: true },
      ]
    : []),
];
const results = new Map<string, number[]>();
for (let round = 0; round < rounds; round++) {
  for (const s of scenarios) {
    const rps = await wrk(s.url, s.close);
    results.set(s.name, [...(results.get(s.name) ?? []), rps]);
  }
}
await gw.shutdown();
if (nginx) {
  nginx.child.kill('SIGTERM');
  await once(nginx.child, 'exit');
}
upstream.close();
rmSync(dir, { recursive: true, force: true });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
process.stdout.write(
  `TLS termination cost: ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)}, wrk -t1 -c${connections} -d${duration}s, ${rounds} round(s), median shown\n`,
);
for (const [name, xs] of results) process.stdout.write(`  ${name}  ${median(xs).toFixed(0).padStart(7)}   (${xs.map((x) => x.toFixed(0)).join(', ')})\n`);
const m = (i: number) => median(results.get(scenarios[i]!.name)!);
process.stdout.write(`  HTTPS / plain: keep-alive ${(m(1) / m(0)).toFixed(2)}x, new connections ${(m(3) / m(2)).toFixed(2)}x\n`);
if (nginx) process.stdout.write(`  Shadowgate HTTPS / nginx HTTPS: keep-alive ${(m(1) / m(4)).toFixed(2)}x, new connections ${(m(3) / m(5)).toFixed(2)}x\n`);
