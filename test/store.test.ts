// store/: what goes in comes back out, stays bounded, keeps secrets out of the file and survives SIGKILL.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { ComparisonResult, FieldDiff } from '../src/compare/types.js';
import { CompareStore, StoreError } from '../src/store/index.js';
import { seededRandom } from '../src/demo/seeded-random.js';

const STORE_JS = fileURLToPath(new URL('../src/store/index.js', import.meta.url));

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempFile(name = 'store.db'): string {
  const dir = mkdtempSync(join(tmpdir(), 'shadowgate-store-'));
  dirs.push(dir);
  return join(dir, name);
}

/** A compared result: primary and candidate 200 unless told otherwise. */
function result(over: Partial<ComparisonResult> & { requestId: string }): ComparisonResult {
  return {
    at: 1_700_000_000_000,
    endpoint: 'api GET /users/{id}',
    primary: { status: 200, latencyMs: 10 },
    candidate: { status: 200, latencyMs: 12 },
    candidateDiffs: [],
    ...over,
  };
}


/** The database and its WAL, as bytes on disk. */
function rawBytes(file: string): Buffer {
  const parts = [readFileSync(file)];
  if (existsSync(`${file}-wal`)) parts.push(readFileSync(`${file}-wal`));
  return Buffer.concat(parts);
}

function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

describe('CompareStore round trip', () => {
  it('keeps counters, fields, kinds and samples, and reads them back after reopening', () => {
    const file = tempFile();
    const store = CompareStore.open(file);
    const ep = 'api GET /users/{id}';
    store.record([
      result({
        requestId: 'r1',
        secondary: { status: 200, latencyMs: 11 },
        candidateDiffs: [
          { field: 'body.name', kind: 'value_changed', left: '"Ann"', right: '"Anne"' },
          { field: 'header.etag', kind: 'header_changed', left: 'a', right: 'b' },
        ],
        secondaryDiffs: [{ field: 'header.etag', kind: 'header_changed', left: 'a', right: 'c' }],
      }),
      result({
        requestId: 'r2',
        candidate: { status: 503, latencyMs: 30 },
        candidateDiffs: [
          { field: 'status', kind: 'status_changed', left: '200', right: '503' },
          { field: 'body.name', kind: 'field_missing', left: '"Ann"' },
          // Same field twice in one result: counts once for the field, once per kind.
          { field: 'body.name', kind: 'type_changed', left: '"Ann"', right: 'null' },
          { field: 'body.name', kind: 'type_changed', left: '"Ann"', right: 'null' },
        ],
      }),
      result({ requestId: 'r3', primary: { status: 0, latencyMs: 1000, error: 'timeout' }, candidateDiffs: [] }),
      // No candidate: an exchange row, nothing compared.
      result({ requestId: 'r4', candidate: undefined, secondary: { status: 200, latencyMs: 9 }, secondaryDiffs: [{ field: 'x', kind: 'value_changed' }] }),
    ]);
    store.record([result({ endpoint: 'api POST /users', requestId: 'r5' })]);
    store.close();

    const again = CompareStore.open(file);
    const stats = again.endpoints();
    assert.deepEqual(
      stats.map((s) => s.endpoint),
      ['api GET /users/{id}', 'api POST /users'],
    );
    const s = stats[0]!;
    assert.equal(s.compared, 3);
    assert.equal(s.withSecondary, 1);
    assert.equal(s.primaryErrors, 1);
    assert.equal(s.candidateErrors, 1);
    // r3's primary had no answer: counted as an error, not in the latency histogram.
    assert.equal(s.primaryLatency.count, 2);
    assert.equal(s.candidateLatency.count, 3);
    assert.deepEqual(s.fields, [
      { field: 'body.name', candidateDiffs: 2, secondaryDiffs: 0, kinds: { value_changed: 1, field_missing: 1, type_changed: 1 } },
      { field: 'header.etag', candidateDiffs: 1, secondaryDiffs: 1, kinds: { header_changed: 1 } },
      { field: 'status', candidateDiffs: 1, secondaryDiffs: 0, kinds: { status_changed: 1 } },
    ]);
    assert.equal(stats[1]!.compared, 1);
    assert.deepEqual(stats[1]!.fields, []);

    assert.deepEqual(again.samples(ep, 'body.name'), [
      { requestId: 'r1', at: 1_700_000_000_000, kind: 'value_changed', left: '"Ann"', right: '"Anne"' },
      { requestId: 'r2', at: 1_700_000_000_000, kind: 'field_missing', left: '"Ann"' },
    ]);
    assert.equal(again.samples(ep, 'body.name', 1).length, 1);
    assert.deepEqual(again.samples(ep, 'nope'), []);
    assert.deepEqual(again.totals().compared, 4);
    assert.deepEqual(again.totals().exchanges, 5);

    const newest = again.exchanges({ limit: 2 });
    assert.deepEqual(
      newest.map((x) => x.requestId),
      ['r5', 'r4'],
    );
    assert.equal(newest[1]!.candidate, undefined);
    assert.deepEqual(newest[1]!.secondary, { status: 200, latencyMs: 9 });
    assert.deepEqual(
      again.exchanges({ endpoint: ep }).map((x) => x.requestId),
      ['r4', 'r3', 'r2', 'r1'],
    );

    again.reset();
    assert.deepEqual(again.endpoints(), []);
    assert.equal(again.totals().exchanges, 0);
    assert.equal(again.totals().compared, 0);
    again.close();
    again.close(); // idempotent
    assert.throws(() => again.totals(), (e: unknown) => e instanceof StoreError && e.code === 'STORE_CLOSED');
  });
});

describe('CompareStore latency', () => {
  it('reports p50/p99 within 5% on known distributions', () => {
    const store = CompareStore.open(tempFile());
    const rand = seededRandom(7);
    const uniform: number[] = [];
    const lognormal: number[] = [];
    const batch: ComparisonResult[] = [];
    for (let i = 0; i < 20_000; i++) {
      const u = 1 + rand() * 999; // uniform 1..1000 ms
      // Box–Muller: lognormal around e^4 ≈ 55 ms with a long tail.
      const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
      const l = Math.exp(4 + 0.8 * z);
      uniform.push(u);
      lognormal.push(l);
      batch.push(result({ requestId: `l${i}`, primary: { status: 200, latencyMs: u }, candidate: { status: 200, latencyMs: l } }));
    }
    for (let i = 0; i < batch.length; i += 1000) store.record(batch.slice(i, i + 1000));
    const [s] = store.endpoints();
    store.close();
    const near = (got: number, want: number, what: string) =>
      assert.ok(Math.abs(got - want) / want <= 0.05, `${what}: got ${got}, exact ${want.toFixed(2)}`);
    assert.equal(s!.primaryLatency.count, 20_000);
    near(s!.primaryLatency.p50, exactQuantile(uniform, 0.5), 'uniform p50');
    near(s!.primaryLatency.p99, exactQuantile(uniform, 0.99), 'uniform p99');
    near(s!.candidateLatency.p50, exactQuantile(lognormal, 0.5), 'lognormal p50');
    near(s!.candidateLatency.p99, exactQuantile(lognormal, 0.99), 'lognormal p99');
  });

  it('handles a constant latency and sub-millisecond values', () => {
    const store = CompareStore.open(tempFile());
    store.record(
      Array.from({ length: 100 }, (_, i) =>
        result({ requestId: `c${i}`, primary: { status: 200, latencyMs: 250 }, candidate: { status: 200, latencyMs: 0.3 } }),
      ),
    );
    const [s] = store.endpoints();
    store.close();
    assert.ok(Math.abs(s!.primaryLatency.p50 - 250) <= 250 * 0.05);
    assert.ok(Math.abs(s!.primaryLatency.p99 - 250) <= 250 * 0.05);
    assert.ok(Math.abs(s!.candidateLatency.p99 - 0.3) <= 0.3 * 0.05);
  });
});

describe('CompareStore samples', () => {
  it('keeps at most maxSamplesPerField per field, a uniform reservoir over all diffs', () => {
    const store = CompareStore.open(tempFile(), { maxSamplesPerField: 5, random: seededRandom(42) });
    const ep = 'api GET /users/{id}';
    for (let b = 0; b < 10; b++) {
      store.record(
        Array.from({ length: 100 }, (_, i) =>
          result({
            requestId: `s${b * 100 + i}`,
            at: b * 100 + i,
            candidateDiffs: [
              { field: 'body.price', kind: 'value_changed', left: '1', right: '2' },
              { field: 'body.other', kind: 'value_changed', left: '1', right: '2' },
            ],
          }),
        ),
      );
    }
    const kept = store.samples(ep, 'body.price', 100);
    assert.equal(kept.length, 5);
    assert.equal(store.samples(ep, 'body.other', 100).length, 5);
    assert.equal(new Set(kept.map((s) => s.requestId)).size, 5);
    // A reservoir, not the first five: over 1000 diffs some later ones must have replaced the first.
    assert.ok(kept.some((s) => s.at >= 5), `samples: ${kept.map((s) => s.requestId).join(',')}`);
    assert.deepEqual(
      kept.map((s) => s.at),
      [...kept.map((s) => s.at)].sort((a, b) => a - b),
    );
    assert.equal(store.endpoints()[0]!.fields.find((f) => f.field === 'body.price')!.candidateDiffs, 1000);
    store.close();

    // A lower bound on reopening trims what is kept.
    const smaller = CompareStore.open(store.file, { maxSamplesPerField: 2 });
    assert.equal(smaller.samples(ep, 'body.price', 100).length, 2);
    smaller.close();
  });
});

describe('CompareStore retention', () => {
  it('keeps the newest maxExchanges rows and every aggregate', () => {
    const store = CompareStore.open(tempFile(), { maxExchanges: 50 });
    for (let b = 0; b < 20; b++) {
      store.record(Array.from({ length: 10 }, (_, i) => result({ requestId: `x${b * 10 + i}` })));
    }
    const t = store.totals();
    assert.equal(t.exchanges, 50);
    assert.equal(t.compared, 200);
    const rows = store.exchanges({ limit: 1000 });
    assert.equal(rows.length, 50);
    assert.equal(rows[0]!.requestId, 'x199');
    assert.equal(rows[49]!.requestId, 'x150');
    store.close();
  });

  it('keeps the file under maxBytes by deleting the oldest exchanges and samples', () => {
    const maxBytes = 256 * 1024;
    const store = CompareStore.open(tempFile(), { maxBytes, checkBytesEvery: 1, maxSamplesPerField: 20 });
    const pad = 'p'.repeat(200);
    let n = 0;
    for (let b = 0; b < 60; b++) {
      store.record(
        Array.from({ length: 50 }, () => {
          n++;
          return result({
            requestId: `${pad}-${n}`,
            endpoint: `api GET /e${n % 7}`,
            candidateDiffs: [{ field: `body.f${n % 40}`, kind: 'value_changed', left: pad, right: pad }],
          });
        }),
      );
      assert.ok(store.totals().bytes <= maxBytes, `after batch ${b}: ${store.totals().bytes} bytes`);
    }
    const t = store.totals();
    assert.ok(t.exchanges > 0 && t.exchanges < n, `exchanges kept: ${t.exchanges} of ${n}`);
    assert.equal(t.compared, n, 'aggregates are never trimmed');
    // The newest survive.
    assert.equal(store.exchanges({ limit: 1 })[0]!.requestId, `${pad}-${n}`);
    const fields = store.endpoints().flatMap((e) => e.fields);
    assert.equal(fields.reduce((sum, f) => sum + f.candidateDiffs, 0), n);
    store.close();
  });
});

describe('CompareStore redaction', () => {
  it('never writes credentials or configured header and JSON path values to the file', () => {
    const file = tempFile();
    const store = CompareStore.open(file);
    store.setRedaction({ headers: ['X-Api-Key'], fields: ['body.user.password', 'body.*[*].token'] });
    const ep = 'api GET /me';
    const diffs: FieldDiff[] = [
      { field: 'header.authorization', kind: 'header_changed', left: 'Bearer SECRET-AUTH-1', right: 'Bearer SECRET-AUTH-2' },
      { field: 'header.set-cookie', kind: 'header_extra', right: 'sid=SECRET-COOKIE' },
      { field: 'header.x-api-key', kind: 'header_changed', left: 'SECRET-KEY-1', right: 'SECRET-KEY-2' },
      { field: 'body.user.password', kind: 'value_changed', left: '"SECRET-PW-1"', right: '"SECRET-PW-2"' },
      { field: 'body.items[*].token', kind: 'value_changed', left: '"SECRET-TOK-1"', right: '"SECRET-TOK-2"' },
      // An ancestor's rendering holds the redacted child's value.
      { field: 'body.user', kind: 'type_changed', left: '{"password":"SECRET-PW-3"}', right: 'null' },
      { field: 'body.user.name', kind: 'value_changed', left: '"visible-1"', right: '"visible-2"' },
    ];
    store.record([result({ endpoint: ep, requestId: 'red1', candidateDiffs: diffs })]);

    const stored = (field: string) => store.samples(ep, field)[0]!;
    assert.deepEqual(stored('header.authorization'), {
      requestId: 'red1',
      at: 1_700_000_000_000,
      kind: 'header_changed',
      left: '[redacted]',
      right: '[redacted]',
    });
    assert.equal(stored('header.set-cookie').left, undefined);
    assert.equal(stored('header.set-cookie').right, '[redacted]');
    assert.equal(stored('body.items[*].token').left, '[redacted]');
    assert.equal(stored('body.user').left, '[redacted]');
    assert.equal(stored('body.user.name').left, '"visible-1"');

    const live = rawBytes(file);
    store.close();
    for (const bytes of [live, rawBytes(file)]) {
      assert.ok(bytes.includes('visible-1'), 'the unredacted value is in the file (the search works)');
      assert.ok(!bytes.includes('SECRET'), 'a redacted value reached the file');
    }
  });
});

describe('CompareStore readers', () => {
  it('a read-only connection sees what the open writer has committed', () => {
    const file = tempFile();
    const writer = CompareStore.open(file);
    writer.record([result({ requestId: 'a1' })]);
    const reader = CompareStore.open(file, { readonly: true });
    assert.equal(reader.totals().compared, 1);
    writer.record([result({ requestId: 'a2' }), result({ requestId: 'a3' })]);
    assert.equal(reader.endpoints()[0]!.compared, 3);
    assert.equal(reader.exchanges({ limit: 1 })[0]!.requestId, 'a3');
    assert.throws(
      () => reader.record([result({ requestId: 'no' })]),
      (e: unknown) => e instanceof StoreError && e.code === 'STORE_READONLY',
    );
    assert.throws(() => reader.reset(), (e: unknown) => e instanceof StoreError && e.code === 'STORE_READONLY');
    reader.close();
    writer.record([result({ requestId: 'a4' })]);
    assert.equal(writer.totals().compared, 4);
    writer.close();
  });
});

describe('CompareStore open errors', () => {
  const fails = (file: string, code: string, opts?: Parameters<typeof CompareStore.open>[1]) =>
    assert.throws(
      () => CompareStore.open(file, opts),
      (e: unknown) => {
        assert.ok(e instanceof StoreError, String(e));
        assert.equal(e.code, code, e.message);
        assert.equal(e.file, file);
        assert.ok(e.message.startsWith(`${file}: `), e.message);
        return true;
      },
    );

  it('names the file and the reason', () => {
    const dir = join(tmpdir(), 'shadowgate-store-does-not-exist', 'x');
    fails(join(dir, 'store.db'), 'STORE_OPEN_FAILED');
    fails(tempFile('missing.db'), 'STORE_OPEN_FAILED', { readonly: true });

    const text = tempFile('notes.txt');
    writeFileSync(text, 'this is not a database, just some text that is long enough to look like a header.'.repeat(20));
    fails(text, 'STORE_NOT_SHADOWGATE');

    const other = tempFile('other.db');
    const db = new Database(other);
    db.exec('CREATE TABLE t (x)');
    db.close();
    fails(other, 'STORE_NOT_SHADOWGATE');

    const empty = tempFile('empty.db');
    new Database(empty).close();
    fails(empty, 'STORE_NOT_SHADOWGATE', { readonly: true });

    const newer = tempFile('newer.db');
    CompareStore.open(newer).close();
    const raw = new Database(newer);
    raw.pragma('user_version = 99');
    raw.close();
    fails(newer, 'STORE_SCHEMA_TOO_NEW');
  });

  it('checks options once, at open', () => {
    assert.throws(() => CompareStore.open(tempFile(), { maxExchanges: -1 }), RangeError);
    assert.throws(() => CompareStore.open(tempFile(), { maxBytes: 1000 }), RangeError);
  });
});

describe('CompareStore crash safety', () => {
  it('keeps every batch a SIGKILLed writer reported committed, and opens cleanly', async () => {
    const file = tempFile();
    const script = join(file, '..', 'writer.mjs');
    writeFileSync(
      script,
      `import { CompareStore } from ${JSON.stringify(STORE_JS)};
const store = CompareStore.open(${JSON.stringify(file)}, { checkBytesEvery: 4 });
for (let b = 0; ; b++) {
  const batch = [];
  for (let i = 0; i < 50; i++) {
    batch.push({
      at: Date.now(), endpoint: 'api GET /e' + (i % 5), requestId: 'b' + b + '-' + i,
      primary: { status: 200, latencyMs: 10 + i }, candidate: { status: 200, latencyMs: 11 + i },
      candidateDiffs: [{ field: 'body.f' + (i % 10), kind: 'value_changed', left: 'a'.repeat(100), right: 'b' }],
    });
  }
  store.record(batch);
  // Written only after record returned: the batch is committed.
  process.stdout.write('committed ' + b + '\\n');
}
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    let lastCommitted = -1;
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`writer exited ${code}: ${stderr}`))));
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) {
          const m = /^committed (\d+)$/.exec(line);
          if (m) lastCommitted = Number(m[1]);
        }
        // Mid-run: the writer keeps going while the signal is on its way.
        if (lastCommitted >= 200 && !child.killed) child.kill('SIGKILL');
      });
    });
    assert.ok(lastCommitted >= 200);

    // Raw check first, before our open writes anything: the file is sound as the crash left it.
    const raw = new Database(file);
    assert.deepEqual(raw.pragma('integrity_check', { simple: true }), 'ok');
    raw.close();

    const store = CompareStore.open(file);
    const t = store.totals();
    assert.ok(t.exchanges >= (lastCommitted + 1) * 50, `exchanges ${t.exchanges}, reported ${(lastCommitted + 1) * 50}`);
    assert.equal(t.compared, t.exchanges, 'counters and rows were committed together');
    const ids = new Set(store.exchanges({ limit: 1_000_000 }).map((x) => x.requestId));
    for (let b = 0; b <= lastCommitted; b++) {
      assert.ok(ids.has(`b${b}-0`) && ids.has(`b${b}-49`), `batch ${b} lost`);
    }
    const diffs = store.endpoints().flatMap((e) => e.fields).reduce((sum, f) => sum + f.candidateDiffs, 0);
    assert.equal(diffs, t.compared);
    store.record([result({ requestId: 'after-crash' })]);
    store.close();
  });
});
