// Who may use the admin listener: a Host allow-list against DNS rebinding (loopback names, IP literals, the bind
// name and --admin-allowed-hosts pass; other names get 403, in a real browser too), an Origin check against
// cross-site posts, and the optional token (--admin-token-file) on the UI, the API and /config_dump, with probes
// and scrapes open unless --admin-token-scope all. Real sockets; the browser part in headless Chromium.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { AdminAccess, type AdminAccessOptions, AdminServer, type AdminSource } from '../src/admin/index.js';
import { cli } from './compare-scenario.js';
import { client, startGateway } from './harness/gateway.js';
import { fixtureSource, launchChromium } from './harness/ui.js';

after(() => client.close());

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request with exactly these headers (Host included): what a browser or a scraper would send. */
function call(address: string, path: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<Answer> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port, path, method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The fixtures' admin source, recording the POSTs that reached it. */
function source(posts: string[]): AdminSource {
  const base = fixtureSource();
  return {
    ...base,
    async api(req) {
      if (req.method === 'POST') {
        posts.push(`${req.path} ${req.body ?? ''}`);
        return { status: 200, body: '{"started":[]}' };
      }
      return base.api(req);
    },
  };
}

async function withAdmin(o: AdminAccessOptions, body: (address: string, posts: string[]) => Promise<void>): Promise<void> {
  const posts: string[] = [];
  const admin = new AdminServer(source(posts), new AdminAccess(o));
  const address = await admin.listen('127.0.0.1', 0);
  try {
    await body(address, posts);
  } finally {
    await admin.close();
  }
}

describe('admin listener: Host and Origin', () => {
  it('answers loopback names and any IP literal, refuses other names with 403 on every path', async () => {
    await withAdmin({}, async (address) => {
      const port = address.split(':').pop();
      for (const host of [
        `127.0.0.1:${port}`,
        `localhost:${port}`,
        'LOCALHOST.',
        `app.localhost:${port}`,
        `[::1]:${port}`,
        '10.42.0.7:15000',
        '[fd00::7]:15000',
      ]) {
        const a = await call(address, '/api/runs', { host });
        assert.equal(a.status, 200, `${host}: ${a.body}`);
      }
      // A rebinding page's requests carry its own name; probes and scrapes by name are refused as well.
      for (const path of ['/api/runs', '/ui', '/metrics', '/ready', '/config_dump', '/']) {
        const a = await call(address, path, { host: `evil.example:${port}` });
        assert.equal(a.status, 403, path);
        assert.match(a.body, /Host "evil\.example:\d+" is not allowed here \(add it with --admin-allowed-hosts\)/);
      }
      assert.equal((await call(address, '/api/runs', { host: 'shadowgate-admin.test:15000' })).status, 403);
      assert.equal((await call(address, '/api/runs', { host: 'a b' })).status, 403, 'not a host at all');
    });
  });

  it('answers configured names, exactly or as a domain, and the name it binds', async () => {
    await withAdmin({ allowedHosts: ['shadowgate-admin', '.svc.cluster.local'], bindHost: 'admin.internal' }, async (address) => {
      for (const host of [
        'shadowgate-admin:15000',
        'Shadowgate-Admin',
        'shadowgate-admin.test.svc.cluster.local:15000',
        'svc.cluster.local',
        'admin.internal:15000',
      ])
        assert.equal((await call(address, '/api/runs', { host })).status, 200, host);
      for (const host of ['shadowgate-admin.test:15000', 'evilsvc.cluster.local', 'shadowgate-admin.evil.example'])
        assert.equal((await call(address, '/api/runs', { host })).status, 403, host);
    });
    assert.throws(() => new AdminAccess({ allowedHosts: ['not a host'] }), /is not a host name/);
  });

  it('refuses a cross-site POST (its Origin) before it reaches the API; a same-origin one passes', async () => {
    await withAdmin({}, async (address, posts) => {
      const host = address;
      const post = (origin: string) => call(address, '/api/runs', { host, origin }, 'POST', '{"note":"x"}');
      for (const origin of ['http://evil.example', 'http://203.0.113.9', 'null', 'file://']) {
        const a = await post(origin);
        assert.equal(a.status, 403, `${origin}: ${a.body}`);
        assert.match(a.body, /Origin ".*" is not allowed here/);
      }
      assert.deepEqual(posts, [], 'nothing refused reached the API');
      assert.equal((await post(`http://${address}`)).status, 200, 'the UI on this listener');
      assert.equal((await post('http://localhost:3000')).status, 200, 'a loopback page');
      assert.equal((await call(address, '/api/runs', { host }, 'POST', '{}')).status, 200, 'no Origin: not a browser');
      assert.equal(posts.length, 3);
    });
  });
});

describe('admin listener: the token', () => {
  const token = 's3cr3t-T0ken_42';
  const bearer = { authorization: `Bearer ${token}` };
  const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`anyone:${password}`).toString('base64')}` });

  it('wants it on the UI, the API and /config_dump (Bearer, or Basic as a browser sends it), not on probes and scrapes', async () => {
    await withAdmin({ token }, async (address, posts) => {
      for (const path of ['/api/runs', '/ui', '/ui/app.js', '/config_dump', '/']) {
        const a = await call(address, path);
        assert.equal(a.status, 401, path);
        assert.equal(a.headers['www-authenticate'], 'Basic realm="shadowgate admin", charset="UTF-8", Bearer realm="shadowgate admin"');
      }
      for (const headers of [{ authorization: 'Bearer wrong' }, { authorization: `Bearer ${token}x` }, basic('wrong'), { authorization: token }])
        assert.equal((await call(address, '/api/runs', headers)).status, 401, JSON.stringify(headers));
      assert.equal((await call(address, '/api/runs', { ...bearer })).status, 200);
      assert.equal((await call(address, '/api/runs', basic(token))).status, 200);
      assert.equal((await call(address, '/ui', basic(token))).status, 200);
      assert.equal((await call(address, '/api/runs', {}, 'POST', '{}')).status, 401);
      assert.deepEqual(posts, []);
      assert.equal((await call(address, '/api/runs', bearer, 'POST', '{}')).status, 200);
      for (const path of ['/metrics', '/ready', '/healthz']) assert.equal((await call(address, path)).status, 200, path);
      // The Host check comes first: the token does not make a rebinding name acceptable.
      assert.equal((await call(address, '/api/runs', { ...bearer, host: 'evil.example' })).status, 403);
    });
  });

  it('with scope all, probes and scrapes want it too', async () => {
    await withAdmin({ token, tokenScope: 'all' }, async (address) => {
      for (const path of ['/metrics', '/ready', '/healthz']) {
        assert.equal((await call(address, path)).status, 401, path);
        assert.equal((await call(address, path, bearer)).status, 200, path);
      }
    });
  });

  it("a gateway's /api/gate takes it from Flagger's payload (metadata.token), which cannot carry a header", async () => {
    const tg = await startGateway({}, { adminAccess: { token } });
    try {
      const address = tg.gw.adminAddress;
      const gate = (metadata: Record<string, string>, headers: Record<string, string> = {}) =>
        call(address, '/api/gate', headers, 'POST', JSON.stringify({ name: 'podinfo', namespace: 'test', phase: 'Progressing', checksum: 'abc', metadata }));
      assert.equal((await gate({})).status, 401);
      assert.equal((await gate({ token: 'wrong' })).status, 401);
      const ok = await gate({ token });
      // Past the token: judged (nothing to judge here, so 412), and the token is not echoed back.
      assert.equal(ok.status, 412, ok.body);
      assert.doesNotMatch(ok.body, new RegExp(token));
      assert.equal((await gate({}, bearer)).status, 412);
      assert.equal((await call(address, '/api/verdict')).status, 401);
      assert.equal((await call(address, '/metrics')).status, 200);

      // The commands that ask a gateway send it from --admin-token-file.
      const file = join(tg.dir, 'token');
      writeFileSync(file, `${token}\n`);
      const refused = await cli('verdict', '--admin', address);
      assert.equal(refused.status, 4, refused.stderr);
      assert.match(refused.stderr, /answered 401: the admin listener wants its token/);
      const asked = await cli('verdict', '--admin', address, '--admin-token-file', file);
      assert.equal(asked.status, 3, `INCONCLUSIVE (comparison is off), not refused: ${asked.stderr}`);
      assert.equal((await cli('verdict', '--store', file, '--admin-token-file', file)).status, 2, '--admin-token-file goes with --admin');
    } finally {
      await tg.close();
    }
  });
});

describe('admin listener: serve flags', () => {
  it('checks the access flags before starting, and lists them in serve --help', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shadowgate-admin-access-'));
    try {
      const empty = join(dir, 'empty');
      writeFileSync(empty, '\n');
      const spaced = join(dir, 'spaced');
      writeFileSync(spaced, 'two words\n');
      const cases: Array<[string[], RegExp]> = [
        [['--admin-token-file', join(dir, 'missing')], /--admin-token-file: cannot read .*missing: ENOENT/],
        [['--admin-token-file', empty], /must hold one token/],
        [['--admin-token-file', spaced], /must hold one token/],
        [['--admin-token-scope', 'all'], /--admin-token-scope goes with --admin-token-file/],
        [['--admin-token-scope', 'some'], /--admin-token-scope must be api or all/],
        [['--admin-allowed-hosts', 'ok.example,bad host'], /--admin-allowed-hosts: "bad host" is not a host name/],
      ];
      for (const [args, message] of cases) {
        const r = await cli('serve', '-f', dir, '--store', 'off', ...args);
        assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
      }
      const help = await cli('serve', '--help');
      for (const flag of ['--admin-allowed-hosts NAMES', '--admin-token-file PATH', '--admin-token-scope api|all']) assert.ok(help.stdout.includes(flag), flag);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('admin listener: serve with the flags, under --workers', () => {
  it('the supervisor process applies --admin-allowed-hosts, --admin-token-file and --admin-token-scope', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shadowgate-admin-serve-'));
    const token = 'serve-token-9';
    writeFileSync(join(dir, 'token'), `${token}\n`);
    mkdirSync(join(dir, 'config'));
    writeFileSync(
      join(dir, 'config', 'se.yaml'),
      'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: reviews, annotations: {shadowgate.dev/listen: "false"}}\nspec:\n  hosts: [reviews]\n  ports: [{number: 9080, name: http, protocol: HTTP}]\n  resolution: STATIC\n  endpoints: [{address: 127.0.0.1}]\n',
    );
    const args = [
      'serve',
      '-f',
      join(dir, 'config'),
      '--bind',
      '127.0.0.1',
      '--admin',
      '127.0.0.1:0',
      '--access-log',
      'off',
      '--store',
      'off',
      '--workers',
      '2',
    ];
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin', 'shadowgate.js'), ...args, '--admin-allowed-hosts', 'admin.test', '--admin-token-file', join(dir, 'token')],
      {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let text = '';
      const address = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (c: Buffer) => {
          text += c.toString();
          const m = /ready: .*admin http:\/\/(127\.0\.0\.1:\d+)/.exec(text);
          if (m) resolve(m[1]!);
        });
        child.on('exit', () => reject(new Error(`exited before ready: ${text}`)));
      });
      const bearer = { authorization: `Bearer ${token}` };
      assert.equal((await call(address, '/api/verdict', { host: 'admin.test:15000', ...bearer })).status, 200);
      assert.equal((await call(address, '/api/verdict', { host: 'other.test:15000', ...bearer })).status, 403);
      assert.equal((await call(address, '/api/verdict', { host: 'admin.test:15000' })).status, 401);
      assert.equal((await call(address, '/metrics', { host: 'admin.test:15000' })).status, 200);
      assert.equal((await call(address, '/ready')).status, 200);
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('admin listener: the shipped manifests', () => {
  it("the Deployment's --admin-allowed-hosts lets through the names Flagger's webhook and Argo's web metric call", () => {
    const d = parse(readFileSync(join(ROOT, 'deploy/k8s/gateway/deployment.yaml'), 'utf8')) as {
      spec: { template: { spec: { containers: Array<{ args: string[] }> } } };
    };
    const args = d.spec.template.spec.containers[0]!.args;
    // Kubernetes expands $(POD_NAMESPACE) in args; the rollouts examples run in namespace test.
    const hosts = args[args.indexOf('--admin-allowed-hosts') + 1]!.replaceAll('$(POD_NAMESPACE)', 'test').split(',');
    const access = new AdminAccess({ allowedHosts: hosts, bindHost: '0.0.0.0' });
    const urls = [
      ...readFileSync(join(ROOT, 'deploy/rollouts/flagger/canary.yaml'), 'utf8').matchAll(/url: (http:\/\/shadowgate-admin[^\s]*)/g),
      ...readFileSync(join(ROOT, 'deploy/rollouts/argo/analysis-template.yaml'), 'utf8').matchAll(/value: (http:\/\/shadowgate-admin[^\s]*)/g),
    ].map((m) => new URL(m[1]!));
    assert.equal(urls.length, 2);
    for (const u of [...urls, new URL('http://shadowgate-admin:15000'), new URL('http://shadowgate-admin.test.svc.cluster.local:15000')])
      assert.ok(access.allowsHost(u.hostname), u.host);
    assert.ok(!access.allowsHost('shadowgate-admin.other'));
  });
});

describe('admin listener in a browser', () => {
  it('a page reached by a rebinding name gets 403; the UI with the token works through the browser’s own Basic prompt', async (t) => {
    const token = 'browser-token-7';
    // evil.example resolves to 127.0.0.1 in this browser: the state a DNS rebinding attack reaches.
    const launched = await launchChromium(['--host-resolver-rules=MAP evil.example 127.0.0.1']);
    if (!launched.browser) {
      t.skip(launched.skip);
      return;
    }
    const browser = launched.browser;
    const admin = new AdminServer(fixtureSource(), new AdminAccess({ token }));
    const address = await admin.listen('127.0.0.1', 0);
    const port = address.split(':').pop();
    try {
      const rebinding = await browser.newPage();
      const refused = await rebinding.goto(`http://evil.example:${port}/api/runs`);
      assert.equal(refused?.status(), 403);
      const context = await browser.newContext({ httpCredentials: { username: 'me', password: token } });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(`http://${address}/ui#/runs`);
      // The page's own fetches to /api carry the credentials the browser was given: the runs are listed.
      await page.locator('main > .view[data-ready="#/runs"]').waitFor();
      assert.equal(await page.locator('main tbody tr').count(), 2);
      assert.deepEqual(problems, []);
      await context.close();
    } finally {
      await browser.close();
      await admin.close();
    }
  });
});
