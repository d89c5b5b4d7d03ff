// `shadowgate demo`: the article's three steps, replayed in one process — two versions, the gateway, a client.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { Gateway } from '../gateway/index.js';
import { MemoryAccessLog } from '../telemetry/index.js';
import { seededRandom } from './seeded-random.js';
import { type LogLine, VersionServer } from './version-server.js';

const SEED = fileURLToPath(new URL('../../../examples/seed/', import.meta.url));

export interface DemoOptions {
  keep: boolean;
  /** Requests per step (the article sends three). */
  requests: number;
  out: (line: string) => void;
}

async function portIsFree(port: number): Promise<boolean> {
  const srv = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    srv.close();
  }
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const indent = (text: string, by = '    ') =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => by + l)
    .join('\n');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor((s.length - 1) / 2)]!;
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const { out } = opts;
  const v1 = new VersionServer(1);
  const v2 = new VersionServer(2);
  await v1.listen(8081);
  await v2.listen(8082);
  const port = (await portIsFree(8000)) ? 8000 : await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'shadowgate-demo-'));
  const read = (name: string) => readFileSync(join(SEED, name), 'utf8');
  const serviceYaml = read('service.yaml')
    .replace('number: 8000', `number: ${port}`)
    .replace('http: 8081', `http: ${v1.port}`)
    .replace('http: 8082', `http: ${v2.port}`);
  writeFileSync(join(dir, 'service.yaml'), serviceYaml);

  const access = new MemoryAccessLog();
  let gateway: Gateway | undefined;
  for (const admin of ['127.0.0.1:15000', '127.0.0.1:0']) {
    try {
      gateway = await Gateway.start({
        files: [dir],
        bind: '127.0.0.1',
        admin,
        accessLog: access,
        watch: false,
        log: () => {},
        // A fixed seed, so step 1's split between the versions is the same on every run.
        random: seededRandom(3),
        store: join(dir, 'compare.db'),
      });
      break;
    } catch (err) {
      if (admin.endsWith(':0')) throw err;
    }
  }
  const gw = gateway!;
  const client = new Agent({ keepAliveTimeout: 1_000 });
  const curl = async () => {
    const res = await request(`http://127.0.0.1:${port}/`, { headers: { host: `nginx:${port}`, 'user-agent': 'curl/7.35.0' }, dispatcher: client });
    return (await res.body.text()).trimEnd();
  };
  const settle = async () => {
    for (let i = 0; i < 200 && gw.shadows.shadowsInFlight > 0; i++) await new Promise((r) => setTimeout(r, 10));
  };
  const showLogs = () => {
    for (const [name, server] of [
      ['nginx-v1', v1],
      ['nginx-v2', v2],
    ] as const) {
      out(`log of ${name}:`);
      out(server.log.length === 0 ? '<none>' : server.log.map((l) => l.text).join('\n'));
    }
  };
  // kubectl apply replaces a resource of the same name: the demo keeps one file per resource kind.
  const apply = async (files: string[]) => {
    for (const f of files) {
      const text = read(f);
      writeFileSync(join(dir, f.startsWith('virtual-service') ? 'virtual-service.yaml' : f), text);
      out(`applying ${f}:`);
      out(indent(text.replace(/^#.*\n/gm, '')));
    }
    const r = await gw.reload();
    if (r.result === 'rejected') throw new Error(`the demo's config was rejected: ${r.problems.map((p) => p.message).join('; ')}`);
  };
  const send = async () => {
    const answers: string[] = [];
    for (let i = 0; i < opts.requests; i++) {
      out(`$ curl http://nginx:${port}`);
      const a = await curl();
      answers.push(a);
      out(a);
      await new Promise((r) => setTimeout(r, 300));
    }
    await settle();
    return answers;
  };
  const clearLogs = () => {
    v1.log.length = 0;
    v2.log.length = 0;
  };

  try {
    out('Shadowgate demo: "Traffic Mirroring in Kubernetes Using Istio", replayed on this machine.');
    out(`nginx v1 answers on 127.0.0.1:${v1.port}, nginx v2 on 127.0.0.1:${v2.port}; the gateway serves nginx:${port} on 127.0.0.1:${port}.`);
    out(`Each "curl http://nginx:${port}" below is sent as curl -H 'Host: nginx:${port}' http://127.0.0.1:${port}/ would send it.`);
    out('');
    out('== Step 1: the nginx service and its two versions, no routing rules ==');
    out('applying service.yaml:');
    out(indent(serviceYaml.replace(/^#.*\n/gm, '')));
    const step1 = await send();
    const n1 = step1.filter((a) => a.endsWith('1')).length;
    out(`Traffic is flowing between both versions: v1 answered ${n1}, v2 answered ${step1.length - n1}.`);
    showLogs();
    out('');

    clearLogs();
    out('== Step 2: a DestinationRule names the versions, a VirtualService sends all traffic to v1 ==');
    await apply(['destination-rule.yaml', 'virtual-service-v1.yaml']);
    await send();
    showLogs();
    out(`All answers came from v1; v2 received ${v2.log.length} requests.`);
    out('');

    clearLogs();
    const mark = access.entries.length;
    out('== Step 3: mirror 100% of the traffic to v2 (mirror_percent: 100) ==');
    await apply(['virtual-service-mirror.yaml']);
    await send();
    showLogs();
    const paired = v1.log.filter((p) => v2.log.some((s) => Math.abs(s.at.getTime() - p.at.getTime()) < 1_000)).length;
    out(
      `All answers still came from v1, and v2 received a copy of each of the ${v1.log.length} requests (${paired} logged within the same second, ` +
        `x-forwarded-for ${[...new Set(v2.log.map((l) => l.forwardedFor))].join(', ')}); v2's answers never reached the client.`,
    );
    out('');

    out("== What Istio does not show: each copy from the sender's side, and v2's answers compared ==");
    const primary = access.entries.slice(mark);
    const primaryMs = primary.map((e) => e.upstream_service_time_ms ?? e.duration_ms);
    const shadowSent = await gw.metrics.total('shadowgate_shadows_sampled_total');
    const shadowOk = await gw.metrics.total('shadowgate_shadow_requests_total', { response_code: '200' });
    const abandoned = await gw.metrics.total('shadowgate_shadow_abandoned_total');
    const shadowHist = (await gw.metrics.shadowDuration.get()).values;
    const sum = shadowHist.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
    const count = shadowHist.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
    out(
      `primary (v1): ${primary.length} requests, ${primary.filter((e) => e.response_code === 200).length} answered 200, median upstream time ${median(primaryMs).toFixed(1)} ms`,
    );
    out(`shadow  (v2): ${shadowSent} copies sent, ${shadowOk} answered 200, ${abandoned} abandoned, mean time ${(count ? sum / count : 0).toFixed(1)} ms`);
    const comparator = gw.comparator!;
    for (const e of await comparator.endpoints()) {
      out(`compared: ${e.compared} answers of v2 with v1's, endpoint "${e.endpoint}"`);
      if (e.fields.length === 0) out('  no difference');
      for (const f of e.fields) {
        const kinds = Object.keys(f.kinds).join(', ');
        const example = f.example ? `, e.g. ${JSON.stringify(f.example.primary)} vs ${JSON.stringify(f.example.candidate)}` : '';
        out(`  ${f.field} differs in ${((f.candidateDiffs / Math.max(1, e.compared)) * 100).toFixed(0)}% of requests (${kinds})${example}`);
      }
    }
    const verdict = await comparator.verdict();
    out(`verdict: ${verdict.result}${verdict.reasons.length > 0 ? ` (${verdict.reasons[0]})` : ''}`);
    out('(`shadowgate verdict --admin HOST:PORT` prints this for a pipeline to gate on: exit 0 PASS, 1 FAIL, 3 INCONCLUSIVE.)');

    if (opts.keep) {
      out('');
      out('Everything is still running, with the mirror on. Try:');
      out(`  curl -H 'Host: nginx' http://127.0.0.1:${port}/`);
      out(`  diff explorer: http://${gw.adminAddress}/ui`);
      out(`  admin:   http://${gw.adminAddress}/config_dump`);
      out(`  metrics: http://${gw.adminAddress}/metrics`);
      out('New log lines from both versions follow. Ctrl-C stops everything.');
      const follow = (name: string) => (l: LogLine) => out(`[${name}] ${l.text}`);
      v1.onLog = follow('nginx-v1');
      v2.onLog = follow('nginx-v2');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      out('Stopping.');
    }
    return 0;
  } finally {
    await gw.shutdown();
    await client.close();
    await v1.close();
    await v2.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
