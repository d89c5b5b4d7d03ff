// `shadowgate validate` as `kubectl apply -R` and `istioctl analyze` users expect: directories read recursively,
// problems in file and line order, --failure-threshold; and the watcher seeing files in subdirectories.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readSources, watchSources } from '../src/sources/index.js';
import { within } from './harness/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'shadowgate.js');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A temporary tree: keys are relative paths, subdirectories made as needed. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'shadowgate-cli-validate-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const serviceEntry = (name: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [${name}]
  ports: [{number: 8080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, labels: {version: v1}}]
`;

const virtualService = (name: string, host: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}}
spec:
  hosts: [${host}]
  http:
  - route:
    - destination: {host: ${host}}
`;

describe('validate -f DIR reads the tree as kubectl apply -R does', () => {
  it('the nginx-takeover example: files in subdirectories are read (no more "0/0 accepted", exit 0)', () => {
    const r = run('validate', '-f', 'deploy/k8s/examples/nginx-takeover');
    assert.match(r.stdout, /istio\/virtual-service-mirror\.yaml/);
    assert.match(r.stdout, /takeover\/nginx-v1\.yaml/);
    assert.doesNotMatch(r.stdout, / 0\/0 resource\(s\) accepted/);
    const kustomization = r.stdout.split('\n').filter((l) => /kustomization\.yaml/.test(l));
    assert.equal(kustomization.length, 2, 'both kustomization.yaml files are read');
    for (const line of kustomization) assert.match(line, /: info: skipped Kustomization/);
  });

  it('hidden entries (.git, a ConfigMap volume`s ..data and ..2024_ directories) are skipped: nothing is read twice', () => {
    const dir = tree({
      'team/a/se.yaml': serviceEntry('reviews'),
      'team/a/vs.yaml': virtualService('reviews', 'reviews'),
      '.git/objects/vs.yaml': virtualService('from-git', 'reviews'),
      'cm/..2024_11_29_10_00_00.123/se.yaml': serviceEntry('ratings'),
    });
    // A mounted ConfigMap: visible names link into ..data, which links to the timestamped directory.
    symlinkSync('..2024_11_29_10_00_00.123', join(dir, 'cm', '..data'));
    symlinkSync(join('..data', 'se.yaml'), join(dir, 'cm', 'se.yaml'));
    // A symlink loop is walked once.
    symlinkSync('..', join(dir, 'team', 'loop'));
    try {
      const read = readSources([dir]);
      assert.deepEqual(
        read.files.map((f) => f.slice(dir.length + 1)),
        ['cm/se.yaml', 'team/a/se.yaml', 'team/a/vs.yaml'],
      );
      const r = run('validate', '-f', dir, '-f', join(dir, 'team', 'a', 'vs.yaml'));
      assert.equal(r.code, 0, r.stdout);
      assert.match(r.stdout, /^3 file\(s\), 3\/3 resource\(s\) accepted/m);
      assert.doesNotMatch(r.stdout, /defined twice|from-git/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a directory with no resource at all fails, as kubectl apply says "no objects passed to apply"', () => {
    const dir = tree({
      'README.md': '# nothing here\n',
      'sub/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n',
    });
    try {
      const r = run('validate', '-f', dir);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, /error: no resource Shadowgate reads in .* \[no-resources\]/);
      assert.match(r.stdout, /kustomization\.yaml:\d+:\d+: info: skipped Kustomization/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('validate: problems in file and line order; --failure-threshold', () => {
  const dir = tree({
    'b.yaml': `${virtualService('b', 'nowhere-b')}---\n${virtualService('b2', 'nowhere-b2')}`,
    'a.yaml': `kind: VirtualService\napiVersion: networking.istio.io/v1\nmetadata: {name: a}\nspec:\n  hosts: [nowhere-a]\n  http:\n  - route:\n    - destination: {host: nowhere-a}\n  mirror_percent: 5\n`,
    'c.yaml': 'a: [1\nb: :\n',
  });

  it('sorted by file, then line, then column, whatever their severity', () => {
    const r = run('validate', '-f', dir);
    const lines = r.stdout.trim().split('\n').slice(0, -1);
    const keys = lines.map((l) => {
      const m = /^.*\/([a-z]\.yaml):(\d+):(\d+): /.exec(l);
      assert.ok(m, l);
      return [m[1]!, Number(m[2]), Number(m[3])] as const;
    });
    const sorted = [...keys].sort((x, y) => x[0].localeCompare(y[0]) || x[1] - y[1] || x[2] - y[2]);
    assert.deepEqual(keys, sorted, r.stdout);
    assert.ok(keys.some((k) => k[0] === 'a.yaml') && keys.some((k) => k[0] === 'c.yaml'));
  });

  it('a YAML syntax error names its position once, as file:line:col, not again in the message', () => {
    const r = run('validate', '-f', join(dir, 'c.yaml'));
    assert.equal(r.code, 1);
    const errors = r.stdout.split('\n').filter((l) => l.includes('[malformed-yaml]'));
    assert.ok(errors.length > 0, r.stdout);
    for (const line of errors) {
      assert.match(line, /c\.yaml:\d+:\d+: error: /);
      assert.doesNotMatch(line, /at line \d+|column \d+|\^/, line);
    }
    // An anchor never set is a plain mistake, not "an alias bomb".
    const unresolved = tree({ 'u.yaml': 'a: *nowhere\n' });
    try {
      const u = run('validate', '-f', unresolved);
      assert.match(u.stdout, /Unresolved alias .*\[malformed-yaml\]/);
    } finally {
      rmSync(unresolved, { recursive: true, force: true });
    }
  });

  it('--failure-threshold warning fails on warnings; error (the default) does not', () => {
    const warningsOnly = tree({ 'vs.yaml': virtualService('lonely', 'nowhere') });
    try {
      const byDefault = run('validate', '-f', warningsOnly);
      assert.match(byDefault.stdout, /0 error\(s\), [1-9]\d* warning\(s\)/);
      assert.equal(byDefault.code, 0);
      assert.equal(run('validate', '-f', warningsOnly, '--failure-threshold', 'error').code, 0);
      assert.equal(run('validate', '-f', warningsOnly, '--failure-threshold', 'warning').code, 1);
      const clean = run('validate', '-f', 'examples/istio-mirroring-task', '--failure-threshold', 'warning');
      assert.equal(clean.code, 0, clean.stdout);
      const bad = run('validate', '-f', warningsOnly, '--failure-threshold', 'info');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--failure-threshold must be warning or error/);
    } finally {
      rmSync(warningsOnly, { recursive: true, force: true });
    }
  });

  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});

describe('the watcher sees files in subdirectories', () => {
  it('a file written in a subdirectory, and one in a subdirectory made after the watch began, each call back', async () => {
    const dir = tree({ 'sub/se.yaml': serviceEntry('reviews') });
    // Each callback reads what a reload would read; a step waits for the callback that sees its change
    // (events coalesce, so counting callbacks would race).
    const waiters: { pred: (files: string[], text: string) => boolean; resolve: () => void }[] = [];
    const stop = watchSources(
      [dir],
      () => {
        const read = readSources([dir]);
        const text = read.sources.map((s) => s.text).join('\n');
        for (const w of waiters.splice(0))
          if (w.pred(read.files, text)) w.resolve();
          else waiters.push(w);
      },
      { settleMs: 50, pollMs: 10 },
    );
    // The watcher does not hold the process open (persistent: false): this does, while the test waits.
    const keepAlive = setInterval(() => {}, 1_000);
    const until = (pred: (files: string[], text: string) => boolean) =>
      within(new Promise<void>((resolve) => waiters.push({ pred, resolve })), `a callback that sees ${pred.toString()}`);
    try {
      let seen = until((_f, text) => text.includes('ratings'));
      writeFileSync(join(dir, 'sub', 'se.yaml'), serviceEntry('ratings'));
      await seen;
      mkdirSync(join(dir, 'new', 'deeper'), { recursive: true });
      seen = until((files) => files.some((f) => f.endsWith(join('new', 'deeper', 'vs.yaml'))));
      writeFileSync(join(dir, 'new', 'deeper', 'vs.yaml'), virtualService('r', 'reviews'));
      await seen;
    } finally {
      clearInterval(keepAlive);
      stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Kubernetes Services in the files satisfy host references', () => {
  it('a VirtualService naming nginx beside a Service nginx is not an unknown host; the Service gets no listener', () => {
    const dir = tree({
      'vs.yaml': virtualService('nginx', 'nginx'),
      'svc.yaml': `apiVersion: v1
kind: Service
metadata:
  name: nginx
  annotations: {shadowgate.dev/backends: nginx-backends}
spec:
  selector: {app: nginx}
  ports: [{name: http, port: 80, targetPort: 8080}]
`,
    });
    try {
      const before = run('validate', '-f', join(dir, 'vs.yaml'));
      assert.match(before.stdout, /\[unknown-host\]/, 'without the Service, the host is unknown');
      const r = run('validate', '-f', dir, '-o', 'json');
      assert.equal(r.code, 0, r.stdout);
      const out = JSON.parse(r.stdout) as { problems: { code: string; file?: string }[]; listeners: unknown[]; clusters: { name: string }[] };
      assert.deepEqual(
        out.problems.filter((p) => p.code === 'unknown-host'),
        [],
      );
      assert.deepEqual(
        out.problems.filter((p) => p.code === 'skipped-kind'),
        [],
        'the Service is read, not skipped',
      );
      assert.deepEqual(out.listeners, [], 'a Service in a file names a destination; its port is not bound');
      assert.ok(
        out.clusters.some((c) => c.name.includes('nginx.default.svc.cluster.local')),
        JSON.stringify(out.clusters),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
