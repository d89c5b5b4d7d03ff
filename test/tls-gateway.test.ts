// Issue 17: Istio Gateways served, TLS terminated. Real curl and Node TLS clients against certificates made by openssl.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls, { type TLSSocket } from 'node:tls';
import { runValidate } from '../src/cli/validate.js';
import { type Certs, makeCa, opensslMissing } from './harness/certs.js';
import { client, freePort, send, serviceYaml, startGateway, type TestGateway } from './harness/gateway.js';
import { startUpstream, type TestUpstream } from './harness/upstream.js';

after(() => client.close());

interface Curl {
  code: number;
  stdout: string;
  stderr: string;
}

/** curl, asynchronously: the gateway runs in this process and must keep serving while curl waits. */
function curl(args: string[]): Promise<Curl> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '20', ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as NodeJS.ErrnoException & { code?: number }).code as unknown as number) || 1 : 0, stdout, stderr });
    });
  });
}

/** The certificate a TLS server presents for `servername` (undefined: the handshake failed). */
function presented(port: number, servername: string | undefined, ca: Buffer): Promise<{ cn?: string; fingerprint: string; error?: string }> {
  return new Promise((resolve) => {
    const opts: tls.ConnectionOptions = { host: '127.0.0.1', port, ca, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] };
    if (servername) opts.servername = servername;
    const s = tls.connect(opts, () => {
      const c = s.getPeerCertificate();
      resolve({ cn: c.subject?.CN as string | undefined, fingerprint: c.fingerprint256 });
      s.destroy();
    });
    s.on('error', (e) => resolve({ fingerprint: '', error: e.message }));
  });
}

const skip = opensslMissing();

function gatewayYaml(name: string, servers: string): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ${name}}
spec:
  selector: {istio: ingressgateway}
  servers:
${servers}`;
}

describe('Istio Gateway with TLS termination', { skip }, () => {
  let certs: Certs;
  let otherCa: Certs;
  let v1: TestUpstream;
  let v2: TestUpstream;
  let meshPort: number;
  let httpsPort: number;
  let httpPort: number;
  let mtlsPort: number;
  let optPort: number;
  let tg: TestGateway;
  let ca: Buffer;
  const logs: string[] = [];

  before(async () => {
    certs = makeCa();
    certs.issue('a', 'a.example.com', ['DNS:a.example.com']);
    certs.issue('b', 'b.example.com', ['DNS:b.example.com']);
    certs.issue('m', 'm.example.com', ['DNS:m.example.com']);
    certs.issue('client', 'good-client', []);
    otherCa = makeCa();
    otherCa.issue('client', 'stranger', []);
    ca = readFileSync(certs.path('ca.crt'));
    v1 = await startUpstream('v1', { kind: 'answer', body: 'v1\n' });
    v2 = await startUpstream('v2', { kind: 'answer', body: 'v2\n' });
    [meshPort, httpsPort, httpPort, mtlsPort, optPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const p = (f: string) => certs.path(f);
    tg = await startGateway(
      {
        'service.yaml': serviceYaml('web', meshPort, [
          { upstream: v1, labels: { version: 'v1' } },
          { upstream: v2, labels: { version: 'v2' } },
        ]),
        'gateway.yaml': gatewayYaml(
          'public',
          `  - port: {number: ${httpsPort}, name: https-a, protocol: HTTPS}
    name: site-a
    hosts: [a.example.com]
    tls: {mode: SIMPLE, serverCertificate: ${p('a.crt')}, privateKey: ${p('a.key')}}
  - port: {number: ${httpsPort}, name: https-b, protocol: HTTPS}
    name: site-b
    hosts: ["*/b.example.com"]
    tls: {mode: SIMPLE, serverCertificate: ${p('b.crt')}, privateKey: ${p('b.key')}, minProtocolVersion: TLSV1_2}
  - port: {number: ${httpPort}, name: http, protocol: HTTP}
    hosts: ["*.example.com"]
    tls: {httpsRedirect: true}
  - port: {number: ${mtlsPort}, name: https-m, protocol: HTTPS}
    name: site-m
    hosts: [m.example.com]
    tls: {mode: MUTUAL, serverCertificate: ${p('m.crt')}, privateKey: ${p('m.key')}, caCertificates: ${p('ca.crt')}}
  - port: {number: ${optPort}, name: https-o, protocol: HTTPS}
    name: site-o
    bind: 127.0.0.1
    hosts: [m.example.com]
    tls: {mode: OPTIONAL_MUTUAL, serverCertificate: ${p('m.crt')}, privateKey: ${p('m.key')}, caCertificates: ${p('ca.crt')}}
`,
        ),
        // Bound to the gateway only: the mesh port never sees these routes.
        'vs-gateway.yaml': `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge}
spec:
  hosts: ["*.example.com"]
  gateways: [public]
  http:
  - route:
    - destination: {host: web, subset: v1}
    mirror: {host: web, subset: v2}
`,
        // No gateways: the mesh's only.
        'vs-mesh.yaml': `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - route:
    - destination: {host: web, subset: v2}
`,
      },
      { log: (l) => logs.push(l), store: undefined },
    );
  });

  after(async () => {
    await tg?.close();
    await v1?.close();
    await v2?.close();
    certs?.remove();
    otherCa?.remove();
  });

  it('serves two hosts on one port, each with its own certificate picked by SNI, verified by curl --cacert', async () => {
    for (const host of ['a.example.com', 'b.example.com']) {
      const r = await curl(['--cacert', certs.path('ca.crt'), '--resolve', `${host}:${httpsPort}:127.0.0.1`, `https://${host}:${httpsPort}/hello`]);
      assert.equal(r.code, 0, `curl to ${host}: ${r.stderr}`);
      assert.equal(r.stdout, 'v1\n');
      assert.equal((await presented(httpsPort, host, ca)).cn, host);
    }
    const seen = v1.requests.at(-1)!;
    assert.equal(seen.url, '/hello');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(logs.filter((l) => l.includes('error')).length, 0, logs.join('\n'));
  });

  it('fails the handshake for a name no server takes, and without SNI', async () => {
    assert.ok((await presented(httpsPort, 'c.other.org', ca)).error);
    assert.ok((await presented(httpsPort, undefined, ca)).error);
    const text = await tg.gw.metrics.registry.metrics();
    assert.match(text, new RegExp(`shadowgate_tls_handshake_failures_total\\{port="${httpsPort}",reason="handshake"\\} [1-9]`));
  });

  it('routes by Host within the gateway: a host the VirtualService does not take is 404', async () => {
    const r = await curl([
      '--cacert',
      certs.path('ca.crt'),
      '--resolve',
      `a.example.com:${httpsPort}:127.0.0.1`,
      '-H',
      'host: other.org',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `https://a.example.com:${httpsPort}/`,
    ]);
    assert.equal(r.stdout, '404');
  });

  it('offers h2 by ALPN and serves HTTP/2 over TLS', async () => {
    const r = await curl([
      '--http2',
      '--cacert',
      certs.path('ca.crt'),
      '--resolve',
      `a.example.com:${httpsPort}:127.0.0.1`,
      '-w',
      ' %{http_version}',
      `https://a.example.com:${httpsPort}/h2`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'v1\n 2');
    assert.equal(v1.requests.at(-1)!.url, '/h2');
  });

  it('keeps VirtualServices without gateways on the mesh ports, and gateway-bound ones off them', async () => {
    const before = v2.requests.length;
    const r = await send(meshPort, '/mesh', { headers: { host: 'web' } });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'v2\n');
    await v2.waitForRequests(before + 1);
    assert.equal(v2.requests.at(-1)!.headers['x-shadowgate-mirror'], undefined, 'the mesh route does not mirror');
  });

  it('mirrors through an HTTPS server: the shadow sees a copy', async () => {
    const before = v2.requests.length;
    const r = await curl([
      '--cacert',
      certs.path('ca.crt'),
      '--resolve',
      `b.example.com:${httpsPort}:127.0.0.1`,
      `https://b.example.com:${httpsPort}/copied?x=1`,
    ]);
    assert.equal(r.stdout, 'v1\n');
    await v2.waitForRequests(before + 1);
    const copy = v2.requests.at(-1)!;
    assert.equal(copy.url, '/copied?x=1');
    assert.ok(copy.headers['x-shadowgate-mirror'] !== undefined);
  });

  it('answers 301 to https on a plain server with httpsRedirect', async () => {
    const r = await send(httpPort, '/path?q=1', { headers: { host: 'a.example.com' } });
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, 'https://a.example.com/path?q=1');
    const other = await send(httpPort, '/', { headers: { host: 'nope.org' } });
    assert.equal(other.status, 404);
  });

  it('MUTUAL refuses a client without a certificate or with one of another CA, and serves a good one', async () => {
    const base = ['--cacert', certs.path('ca.crt'), '--resolve', `m.example.com:${mtlsPort}:127.0.0.1`, `https://m.example.com:${mtlsPort}/m`];
    const none = await curl(base);
    assert.notEqual(none.code, 0, 'no client certificate: refused');
    const stranger = await curl(['--cert', otherCa.path('client.crt'), '--key', otherCa.path('client.key'), ...base]);
    assert.notEqual(stranger.code, 0, 'a certificate of another CA: refused');
    const good = await curl(['--cert', certs.path('client.crt'), '--key', certs.path('client.key'), ...base]);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout, 'v1\n');
    const text = await tg.gw.metrics.registry.metrics();
    assert.match(text, new RegExp(`shadowgate_tls_handshake_failures_total\\{port="${mtlsPort}",reason="client_certificate_missing"\\} 1`));
  });

  it('OPTIONAL_MUTUAL serves a client without a certificate or with a good one, and refuses one of another CA', async () => {
    const base = ['--cacert', certs.path('ca.crt'), '--resolve', `m.example.com:${optPort}:127.0.0.1`, `https://m.example.com:${optPort}/o`];
    assert.equal((await curl(base)).stdout, 'v1\n');
    assert.equal((await curl(['--cert', certs.path('client.crt'), '--key', certs.path('client.key'), ...base])).stdout, 'v1\n');
    assert.notEqual((await curl(['--cert', otherCa.path('client.crt'), '--key', otherCa.path('client.key'), ...base])).code, 0);
    assert.equal(tg.gw.snapshot.listeners.find((l) => l.port === optPort)?.bind, '127.0.0.1');
  });

  it('exposes each server certificate expiry per host on /metrics', async () => {
    const text = await tg.gw.metrics.registry.metrics();
    const notAfter = Date.parse(new X509Certificate(readFileSync(certs.path('a.crt'))).validTo) / 1000;
    assert.ok(
      text.includes(`shadowgate_tls_certificate_expiry_timestamp_seconds{gateway="default/public",server="site-a",host="a.example.com"} ${notAfter}`),
      text
        .split('\n')
        .filter((l) => l.includes('expiry'))
        .join('\n'),
    );
  });
});

describe('certificate rotation and bad certificates', { skip }, () => {
  let certs: Certs;
  let up: TestUpstream;

  before(async () => {
    certs = makeCa();
    up = await startUpstream('app', { kind: 'answer', body: 'ok' });
  });
  after(async () => {
    await up?.close();
    certs?.remove();
  });

  function files(port: number, servers: string): Record<string, string> {
    return {
      'service.yaml': `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: app, annotations: {shadowgate.dev/listen: "false"}}
spec:
  hosts: [app.internal]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {http: ${up.port}}}]
`,
      'gateway.yaml': gatewayYaml('gw', servers.replaceAll('PORT', String(port))),
      'vs.yaml': `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app}
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{route: [{destination: {host: app.internal}}]}]
`,
    };
  }

  it('serves a certificate rotated on disk to new connections while a keep-alive connection keeps working', async () => {
    certs.issue('r1', 'rot.example.com', ['DNS:rot.example.com']);
    certs.issue('r2', 'rot.example.com', ['DNS:rot.example.com']);
    copyFileSync(certs.path('r1.crt'), certs.path('live.crt'));
    copyFileSync(certs.path('r1.key'), certs.path('live.key'));
    const port = await freePort();
    const tg = await startGateway(
      files(
        port,
        `  - port: {number: PORT, name: https, protocol: HTTPS}
    hosts: [rot.example.com]
    tls: {mode: SIMPLE, serverCertificate: ${certs.path('live.crt')}, privateKey: ${certs.path('live.key')}}
`,
      ),
    );
    const ca = readFileSync(certs.path('ca.crt'));
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca, servername: 'rot.example.com' });
    const get = () =>
      new Promise<{ status: number; fingerprint: string; reused: boolean }>((resolve, reject) => {
        const req = https.get({ host: '127.0.0.1', port, path: '/', agent, servername: 'rot.example.com', headers: { host: 'rot.example.com' } }, (res) => {
          const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, fingerprint, reused: req.reusedSocket }));
        });
        req.on('error', reject);
      });
    try {
      const first = await get();
      assert.equal(first.status, 200);
      const oldPrint = first.fingerprint;
      // Rotation as cert-manager or a mounted Secret does it: each file replaced whole.
      copyFileSync(certs.path('r2.crt'), certs.path('next.crt'));
      copyFileSync(certs.path('r2.key'), certs.path('next.key'));
      const refreshed = () => tg.gw.tls.certificates().some((c) => c.fingerprint && c.fingerprint !== oldPrint);
      const waiting = (async () => {
        while (!refreshed()) await once(tg.gw.tls, 'refreshed');
      })();
      renameSync(certs.path('next.key'), certs.path('live.key'));
      renameSync(certs.path('next.crt'), certs.path('live.crt'));
      await waiting;
      const fresh = await presented(port, 'rot.example.com', ca);
      assert.notEqual(fresh.fingerprint, oldPrint, 'a new connection gets the new certificate');
      const again = await get();
      assert.equal(again.status, 200);
      assert.equal(again.reused, true, 'the keep-alive connection was kept');
      assert.equal(again.fingerprint, oldPrint, 'on the old certificate');
    } finally {
      agent.destroy();
      await tg.close();
    }
  });

  it('re-reads the certificate files on a reload that finds the config unchanged (SIGHUP), without a file watch', async () => {
    certs.issue('h1', 'hup.example.com', ['DNS:hup.example.com']);
    certs.issue('h2', 'hup.example.com', ['DNS:hup.example.com']);
    copyFileSync(certs.path('h1.crt'), certs.path('hup.crt'));
    copyFileSync(certs.path('h1.key'), certs.path('hup.key'));
    const port = await freePort();
    const tg = await startGateway(
      files(
        port,
        `  - port: {number: PORT, name: https, protocol: HTTPS}
    hosts: [hup.example.com]
    tls: {mode: SIMPLE, serverCertificate: ${certs.path('hup.crt')}, privateKey: ${certs.path('hup.key')}}
`,
      ),
      { watchCertificates: false },
    );
    try {
      const ca = readFileSync(certs.path('ca.crt'));
      const first = await presented(port, 'hup.example.com', ca);
      copyFileSync(certs.path('h2.crt'), certs.path('hup.crt'));
      copyFileSync(certs.path('h2.key'), certs.path('hup.key'));
      assert.equal((await presented(port, 'hup.example.com', ca)).fingerprint, first.fingerprint, 'no watch: nothing changes by itself');
      assert.equal((await tg.gw.reload({ trigger: 'signal' })).result, 'unchanged');
      const after = await presented(port, 'hup.example.com', ca);
      assert.equal(after.fingerprint, new X509Certificate(readFileSync(certs.path('h2.crt'))).fingerprint256);
    } finally {
      await tg.close();
    }
  });

  it('reports a bad key and an expired certificate in one line each; the other servers keep serving', async () => {
    certs.issue('good', 'good.example.com', ['DNS:good.example.com']);
    certs.issue('badkey', 'bad.example.com', ['DNS:bad.example.com']);
    certs.issueBetween('old', 'old.example.com', ['DNS:old.example.com'], '20200101000000Z', '20200102000000Z');
    const port = await freePort();
    const logs: string[] = [];
    const p = (f: string) => certs.path(f);
    const tg = await startGateway(
      files(
        port,
        `  - port: {number: PORT, name: https-good, protocol: HTTPS}
    name: good
    hosts: [good.example.com]
    tls: {mode: SIMPLE, serverCertificate: ${p('good.crt')}, privateKey: ${p('good.key')}}
  - port: {number: PORT, name: https-bad, protocol: HTTPS}
    name: bad
    hosts: [bad.example.com]
    tls: {mode: SIMPLE, serverCertificate: ${p('badkey.crt')}, privateKey: ${p('good.key')}}
  - port: {number: PORT, name: https-old, protocol: HTTPS}
    name: old
    hosts: [old.example.com]
    tls: {mode: SIMPLE, serverCertificate: ${p('old.crt')}, privateKey: ${p('old.key')}}
  - port: {number: PORT, name: https-missing, protocol: HTTPS}
    name: missing
    hosts: [gone.example.com]
    tls: {mode: SIMPLE, serverCertificate: ${p('nothere.crt')}, privateKey: ${p('nothere.key')}}
`,
      ),
      { log: (l) => logs.push(l) },
    );
    try {
      const mismatch = logs.filter((l) => l.includes('[key-mismatch]'));
      assert.equal(mismatch.length, 1, logs.join('\n'));
      assert.match(
        mismatch[0]!,
        /gateway\.yaml:\d+: error: Gateway default\/gw spec\.servers\[1\]\.tls\.privateKey: .*good\.key is not the private key of .*badkey\.crt/,
      );
      const expired = logs.filter((l) => l.includes('[certificate-expired]'));
      assert.equal(expired.length, 1, logs.join('\n'));
      assert.match(expired[0]!, /spec\.servers\[2\]\.tls\.serverCertificate: .*old\.crt expired on 2020-01-02/);
      const missing = logs.filter((l) => l.includes('[certificate-unreadable]'));
      assert.equal(missing.length, 2, logs.join('\n'));
      assert.match(missing[0]!, /nothere\.(crt|key): no such file/);
      const ca = readFileSync(certs.path('ca.crt'));
      assert.equal((await presented(port, 'good.example.com', ca)).cn, 'good.example.com');
      assert.ok((await presented(port, 'bad.example.com', ca)).error, 'the server with a mismatched key is not served');
      const r = await curl(['--cacert', certs.path('ca.crt'), '--resolve', `good.example.com:${port}:127.0.0.1`, `https://good.example.com:${port}/`]);
      assert.equal(r.stdout, 'ok');
    } finally {
      await tg.close();
    }
  });

  it('validate checks certificates: unreadable, mismatched, expired, expiring, SANs not covering the hosts', async () => {
    certs.issue('v-good', 'x', ['DNS:v.example.com']);
    certs.issue('v-other', 'x', ['DNS:w.example.com']);
    const port = await freePort();
    const p = (f: string) => certs.path(f);
    const tg = files(
      port,
      `  - port: {number: PORT, name: https-v, protocol: HTTPS}
    hosts: [v.example.com]
    tls: {mode: SIMPLE, serverCertificate: ${p('v-good.crt')}, privateKey: ${p('v-good.key')}}
  - port: {number: PORT, name: https-not-covered, protocol: HTTPS}
    hosts: [not-covered.example.com]
    tls: {mode: SIMPLE, serverCertificate: ${p('v-other.crt')}, privateKey: ${p('v-other.key')}}
  - port: {number: PORT, name: https-k, protocol: HTTPS}
    hosts: [k.example.com]
    tls: {mode: SIMPLE, serverCertificate: ${p('v-good.crt')}, privateKey: ${p('v-other.key')}}
  - port: {number: PORT, name: https-old, protocol: HTTPS}
    hosts: [old.example.com]
    tls: {mode: SIMPLE, serverCertificate: ${p('old.crt')}, privateKey: ${p('old.key')}}
  - port: {number: PORT, name: https-nf, protocol: HTTPS}
    hosts: [nf.example.com]
    tls: {mode: MUTUAL, serverCertificate: ${p('absent.crt')}, privateKey: ${p('v-good.key')}, caCertificates: ${p('ca.crt')}}
`,
    );
    const dir = mkdtempSync(join(tmpdir(), 'shadowgate-validate-tls-'));
    for (const [name, yaml] of Object.entries(tg)) writeFileSync(join(dir, name), yaml);
    const out: string[] = [];
    try {
      const code = await runValidate({ files: [dir], output: 'text' }, (l) => out.push(l));
      assert.equal(code, 1, out.join('\n'));
      const text = out.join('\n');
      assert.match(
        text,
        /gateway\.yaml:\d+: warning: Gateway default\/gw spec\.servers\[1\]\.tls\.serverCertificate: .*v-other\.crt \(DNS:w\.example\.com\) does not cover host\(s\) not-covered\.example\.com.*\[certificate-san\]/,
      );
      assert.match(text, /spec\.servers\[2\]\.tls\.privateKey: .*v-other\.key is not the private key of .*v-good\.crt \[key-mismatch\]/);
      assert.match(text, /spec\.servers\[3\]\.tls\.serverCertificate: .*old\.crt expired on 2020-01-02.*\[certificate-expired\]/);
      assert.match(text, /spec\.servers\[4\]\.tls\.serverCertificate: .*absent\.crt: no such file \[certificate-unreadable\]/);
      // The test CA's certificates live two days: within the 14-day warning.
      assert.match(text, /spec\.servers\[0\]\.tls\.serverCertificate: .*v-good\.crt expires on .* \(in [01] day\(s\)\) \[certificate-expiring\]/);
      assert.equal(out.filter((l) => l.includes('spec.servers[0]')).length, 1, 'the good server has nothing else to say');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('examples/tls', { skip }, () => {
  it('serves as its README says: SIMPLE and MUTUAL hosts on one port, the redirect, and validate finds nothing wrong', async () => {
    const certs = mkdtempSync(join(tmpdir(), 'shadowgate-example-tls-'));
    const made = spawnSync('sh', ['examples/tls/make-certs.sh'], { env: { ...process.env, CERTS_DIR: certs }, encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const [https, http, mesh] = [await freePort(), await freePort(), await freePort()];
    const v1 = await startUpstream('v1', { kind: 'answer', body: 'This is version 1\n' });
    const v2 = await startUpstream('v2', { kind: 'answer', body: 'This is version 2\n' });
    const gatewayText = readFileSync('examples/tls/gateway.yaml', 'utf8')
      .replaceAll('examples/tls/certs', certs)
      .replaceAll('number: 8443', `number: ${https}`)
      .replaceAll('number: 8080', `number: ${http}`);
    const files = {
      'service.yaml': serviceYaml('nginx', mesh, [
        { upstream: v1, labels: { version: 'v1' } },
        { upstream: v2, labels: { version: 'v2' } },
      ]),
      'gateway.yaml': gatewayText,
      'virtual-service.yaml': readFileSync('examples/tls/virtual-service.yaml', 'utf8'),
    };
    const tg = await startGateway(files);
    try {
      const ca = ['--cacert', join(certs, 'ca.crt')];
      const nginx = await curl([...ca, '--resolve', `nginx.example.com:${https}:127.0.0.1`, `https://nginx.example.com:${https}/`]);
      assert.equal(nginx.stdout, 'This is version 1\n', nginx.stderr);
      await v2.waitForRequests(1);
      const admin = ['--resolve', `admin.example.com:${https}:127.0.0.1`, `https://admin.example.com:${https}/`];
      assert.notEqual((await curl([...ca, ...admin])).code, 0);
      const withCert = await curl([...ca, '--cert', join(certs, 'client.crt'), '--key', join(certs, 'client.key'), ...admin]);
      assert.equal(withCert.stdout, 'This is version 1\n', withCert.stderr);
      // The MUTUAL host cannot be reached over the SIMPLE host's handshake: 421, on HTTP/1.1 and HTTP/2 alike.
      for (const proto of ['--http1.1', '--http2']) {
        const fronted = await curl([
          proto,
          ...ca,
          '--resolve',
          `nginx.example.com:${https}:127.0.0.1`,
          '-H',
          'host: admin.example.com',
          '-w',
          '%{http_code}',
          '-o',
          '/dev/null',
          `https://nginx.example.com:${https}/`,
        ]);
        assert.equal(fronted.stdout, '421', `${proto}: ${fronted.stderr}`);
      }
      assert.match(await tg.gw.metrics.registry.metrics(), new RegExp(`shadowgate_tls_misdirected_requests_total\\{port="${https}"\\} 2`));
      const redirect = await send(http, '/a?b=1', { headers: { host: 'nginx.example.com' } });
      assert.equal(redirect.status, 301);
      assert.equal(redirect.headers.location, 'https://nginx.example.com/a?b=1');
      const out: string[] = [];
      assert.equal(await runValidate({ files: [tg.dir], output: 'text', failureThreshold: 'warning' }, (l) => out.push(l)), 0, out.join('\n'));
    } finally {
      await tg.close();
      await v1.close();
      await v2.close();
      rmSync(certs, { recursive: true, force: true });
    }
  });
});
