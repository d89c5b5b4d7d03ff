// HTTP/2 against HTTP/1.1 through the gateway, mirroring 100%, loaded by h2load (nghttp2-client): same
// upstreams, same gateway, same requests in flight, runs interleaved in rounds. `npm run bench:h2 [-- --duration S --rounds N]`.
import { execFile, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Gateway } from '../../src/gateway/index.js';
import { MemoryAccessLog } from '../../src/telemetry/index.js';
import { mirrorServiceYaml } from '../../test/harness/service-yaml.js';

const { values } = parseArgs({
  options: { duration: { type: 'string', default: '8' }, rounds: { type: 'string', default: '2' }, inflight: { type: 'string', default: '64' } },
});
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const inflight = Number(values.inflight);

if (spawnSync('h2load', ['--version']).status !== 0) {
  process.stderr.write('h2load is missing: apt-get install -y nghttp2-client\n');
  process.exit(2);
}

async function upstream(text: string): Promise<http.Server> {
  const s = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(text));
  });
  s.keepAliveTimeout = 60_000;
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

const v1 = await upstream('This is version 1\n');
const v2 = await upstream('This is version 2\n');
const dir = mkdtempSync(join(tmpdir(), 'shadowgate-bench-h2-'));
// The service port is taken from a port-0 probe of this process only: the bench owns the machine while it runs.
const probe = http.createServer().listen(0, '127.0.0.1');
await once(probe, 'listening');
const port = (probe.address() as AddressInfo).port;
await new Promise((r) => probe.close(r));
const p = (s: http.Server) => (s.address() as AddressInfo).port;
writeFileSync(join(dir, 'web.yaml'), mirrorServiceYaml({ host: 'web', port, primary: p(v1), candidate: p(v2) }));
const gw = await Gateway.start({
  files: [dir],
  bind: '127.0.0.1',
  admin: '127.0.0.1:0',
  accessLog: new MemoryAccessLog(),
  watch: false,
  log: () => {},
  drainTimeoutMs: 2_000,
});

interface Run {
  rps: number;
  failed: number;
  meanMs: number;
}

/** Runs h2load without blocking: the gateway serves from this process's event loop. */
async function h2load(args: string[]): Promise<Run> {
  const out = await new Promise<string>((resolve) =>
    execFile('h2load', [...args, '-D', String(duration), `http://127.0.0.1:${port}/`], { timeout: (duration + 30) * 1000 }, (_err, stdout) =>
      resolve(stdout ?? ''),
    ),
  );
  const rps = Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(out)?.[1] ?? Number.NaN);
  const failed = Number(/(\d+) failed/.exec(out)?.[1] ?? Number.NaN);
  const meanMs = Number(/time for request:\s+\S+\s+\S+\s+([\d.]+)ms/.exec(out)?.[1] ?? Number.NaN);
  return { rps, failed, meanMs };
}

const streams = 8;
const modes = {
  'HTTP/2 (h2c)': ['-c', String(inflight / streams), '-m', String(streams)],
  'HTTP/1.1': ['--h1', '-c', String(inflight)],
} as const;
const results: Record<string, Run[]> = { 'HTTP/2 (h2c)': [], 'HTTP/1.1': [] };
const startLoad = loadavg();
try {
  for (let round = 0; round < rounds; round++) {
    for (const [name, args] of Object.entries(modes)) results[name]!.push(await h2load([...args]));
  }
} finally {
  const shadows = gw.shadows.shadowsInFlight;
  await gw.shutdown();
  v1.close();
  v2.close();
  rmSync(dir, { recursive: true, force: true });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  process.stdout.write(
    `${cpus().length} cores, Node ${process.version}; load average ${startLoad.map((l) => l.toFixed(1)).join(' ')} at the start, ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} at the end; ${inflight} requests in flight, mirroring 100%, ${rounds} × ${duration} s per protocol, interleaved\n`,
  );
  process.stdout.write('| protocol | req/s (median) | runs | mean ms | failed |\n|---|--:|---|--:|--:|\n');
  for (const [name, runs] of Object.entries(results)) {
    if (runs.length === 0) continue;
    process.stdout.write(
      `| ${name} | ${Math.round(median(runs.map((r) => r.rps)))} | ${runs.map((r) => Math.round(r.rps)).join(', ')} | ${median(runs.map((r) => r.meanMs))} | ${runs.reduce((a, r) => a + r.failed, 0)} |\n`,
    );
  }
  process.stdout.write(`shadows still in flight at the end: ${shadows}\n`);
}
