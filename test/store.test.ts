// store/: what goes in comes back out, stays bounded, keeps secrets out of the file and survives SIGKILL.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { ComparisonResult } from '../src/compare/index.js';
import { seededRandom } from '../src/demo/seeded-random.js';
import { CompareStore, StoreError } from '../src/store/index.js';

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
    endpoint: 'GET /users/{id}',
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
    store.record([result({ endpoint: 'POST /users', requestId: 'r5' })]);
    store.close();

    const again = CompareStore.open(file);
    const stats = again.endpoints();
    assert.deepEqual(
      stats.map((s) => s.endpoint),
      ['GET /users/{id}', 'POST /users'],
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
      {
        field: 'body.name',
        candidateDiffs: 2,
        secondaryDiffs: 0,
        timeLike: 0,
        kinds: { value_changed: 1, field_missing: 1, type_changed: 1 },
        example: { kind: 'value_changed', primary: '"Ann"', candidate: '"Anne"' },
      },
      {
        field: 'header.etag',
        candidateDiffs: 1,
        secondaryDiffs: 1,
        timeLike: 0,
        kinds: { header_changed: 1 },
        example: { kind: 'header_changed', primary: 'a', candidate: 'b' },
      },
      {
        field: 'status',
        candidateDiffs: 1,
        secondaryDiffs: 0,
        timeLike: 0,
        kinds: { status_changed: 1 },
        example: { kind: 'status_changed', primary: '200', candidate: '503' },
      },
    ]);
    assert.equal(stats[1]!.compared, 1);
    assert.deepEqual(stats[1]!.fields, []);

    // Results recorded without a whole exchange keep the two values of each field (as version 1 did).
    const kept = again.samples(s, { field: 'body.name' });
    assert.deepEqual(
      kept.map((x) => [x.requestId, x.diffs]),
      [
        ['r2', [{ field: 'body.name', kind: 'field_missing', primary: '"Ann"' }]],
        ['r1', [{ field: 'body.name', kind: 'value_changed', primary: '"Ann"', candidate: '"Anne"' }]],
      ],
    );
    assert.equal(again.samples(s, { field: 'body.name', limit: 1 }).length, 1);
    assert.deepEqual(again.samples(s, { field: 'nope' }), []);
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
      again.exchanges({ endpoint: 'GET /users/{id}' }).map((x) => x.requestId),
      ['r4', 'r3', 'r2', 'r1'],
    );

    again.reset();
    assert.deepEqual(again.endpoints(), []);
    assert.equal(again.totals().exchanges, 0);
    assert.equal(again.totals().compared, 0);
    again.close();
    again.close(); // idempotent
    assert.throws(
      () => again.totals(),
      (e: unknown) => e instanceof StoreError && e.code === 'STORE_CLOSED',
    );
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
    const near = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) / want <= 0.05, `${what}: got ${got}, exact ${want.toFixed(2)}`);
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
    const e = store.endpoints()[0]!;
    const kept = store.samples(e, { field: 'body.price', limit: 100 });
    assert.equal(kept.length, 5);
    assert.equal(store.samples(e, { field: 'body.other', limit: 100 }).length, 5);
    assert.equal(new Set(kept.map((s) => s.requestId)).size, 5);
    // A reservoir, not the first five: over 1000 diffs some later ones must have replaced the first.
    const at = kept.map((s) => Date.parse(s.at));
    assert.ok(
      at.some((t) => t >= 5),
      `samples: ${kept.map((s) => s.requestId).join(',')}`,
    );
    // Newest first.
    assert.deepEqual(
      at,
      [...at].sort((a, b) => b - a),
    );
    assert.equal(e.fields.find((f) => f.field === 'body.price')!.candidateDiffs, 1000);
    store.close();

    // A lower bound on reopening trims what is kept.
    const smaller = CompareStore.open(store.file, { maxSamplesPerField: 2 });
    assert.equal(smaller.samples(smaller.endpoints()[0]!, { field: 'body.price', limit: 100 }).length, 2);
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
    // Aggregates (with an example per field) are kept whatever they weigh: the bound leaves them room.
    const maxBytes = 512 * 1024;
    const store = CompareStore.open(tempFile(), { maxBytes, checkBytesEvery: 1, maxSamplesPerField: 20 });
    const pad = 'p'.repeat(200);
    let n = 0;
    for (let b = 0; b < 60; b++) {
      store.record(
        Array.from({ length: 50 }, () => {
          n++;
          return result({
            requestId: `${pad}-${n}`,
            endpoint: `GET /e${n % 7}`,
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
    assert.equal(
      fields.reduce((sum, f) => sum + f.candidateDiffs, 0),
      n,
    );
    store.close();
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
    assert.throws(
      () => reader.reset(),
      (e: unknown) => e instanceof StoreError && e.code === 'STORE_READONLY',
    );
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
    const diffs = store
      .endpoints()
      .flatMap((e) => e.fields)
      .reduce((sum, f) => sum + f.candidateDiffs, 0);
    assert.equal(diffs, t.compared);
    store.record([result({ requestId: 'after-crash' })]);
    store.close();
  });
});

describe('CompareStore runs', () => {
  const side = (host: string, subset: string, fingerprint: string) => ({ host, subset, fingerprint });
  const identity = (candidateFp: string, primaryFp = 'p1', mirrorFp = 'm1') => ({
    route: 'default/api#items',
    fingerprint: `${candidateFp}|${primaryFp}|${mirrorFp}`,
    candidate: side('api', 'v2', candidateFp),
    primary: side('api', 'v1', primaryFp),
    mirrorFingerprint: mirrorFp,
  });
  const tagged = (id: ReturnType<typeof identity>, requestId: string) => result({ requestId, run: { route: id.route, fingerprint: id.fingerprint } });

  it('a fingerprint change ends the open run and starts one; the same fingerprint continues it, across reopening', () => {
    const file = tempFile();
    let store = CompareStore.open(file);
    const a = identity('c1');
    assert.deepEqual(
      store.syncRuns([a], 1_000).map((r) => [r.id, r.reason]),
      [[1, 'started']],
    );
    store.record([tagged(a, 'x1'), tagged(a, 'x2')]);
    // A reload that changes nothing compared (or a restart with the same config): same run.
    assert.deepEqual(store.syncRuns([a], 2_000), []);
    store.close();
    store = CompareStore.open(file);
    assert.deepEqual(store.syncRuns([a], 3_000), []);
    store.record([tagged(a, 'x3')]);
    assert.equal(store.endpoints(1)[0]!.compared, 3);

    // A new candidate endpoint: a new run, and the old one ended with the time of the change.
    const b = identity('c2');
    assert.deepEqual(
      store.syncRuns([b], 4_000).map((r) => [r.id, r.reason]),
      [[2, 'candidate-changed']],
    );
    assert.equal(store.run(1)!.ended_at, 4_000);
    // An exchange made under the old run, written late, counts for neither.
    const report = store.record([tagged(a, 'late'), tagged(b, 'y1')]);
    assert.equal(report.stale, 1);
    assert.equal(store.endpoints(2)[0]!.compared, 1);
    assert.equal(store.endpoints(1)[0]!.compared, 3);
    assert.equal(store.syncRuns([identity('c2', 'p2')], 5_000)[0]!.reason, 'primary-changed');
    assert.equal(store.syncRuns([identity('c2', 'p2', 'm2')], 6_000)[0]!.reason, 'mirror-changed');

    // By hand: the same identity, a new run, with the note.
    const manual = store.startRun(undefined, 'after the fix', 7_000);
    assert.deepEqual(
      manual.map((r) => [r.id, r.reason, r.note]),
      [[5, 'manual', 'after the fix']],
    );
    assert.deepEqual(store.startRun('no/such#route', undefined), []);
    // A route no longer mirrored ends its run.
    store.syncRuns([], 8_000);
    assert.ok(store.runs().every((r) => r.ended_at !== null));
    assert.deepEqual(
      store.runs().map((r) => r.id),
      [5, 4, 3, 2, 1],
    );
    store.close();
  });

  it('keeps at most maxRuns runs: older ended runs go whole', () => {
    const store = CompareStore.open(tempFile(), { maxRuns: 3 });
    for (let i = 0; i < 6; i++) {
      const id = identity(`c${i}`);
      store.syncRuns([id], i);
      store.record([tagged(id, `r${i}`)]);
    }
    assert.deepEqual(
      store.runs().map((r) => r.id),
      [6, 5, 4, 3],
    );
    assert.equal(store.totals().compared, 4);
    store.close();
  });
});

describe('CompareStore caps', () => {
  it('beyond maxEndpointsPerRun an "other endpoints" bucket, beyond maxFieldsPerEndpoint an "other fields" one, both counted', () => {
    const store = CompareStore.open(tempFile(), { maxEndpointsPerRun: 3, maxFieldsPerEndpoint: 2 });
    const batch = Array.from({ length: 10 }, (_, i) =>
      result({
        requestId: `e${i}`,
        endpoint: `GET /page-${i}`,
        candidateDiffs: [0, 1, 2, 3].map((k) => ({ field: `body.f${k}`, kind: 'value_changed' as const, left: '1', right: '2' })),
      }),
    );
    const report = store.record(batch);
    const eps = store.endpoints();
    assert.deepEqual(
      eps.map((e) => [e.endpoint, e.compared]),
      [
        ['(other endpoints)', 7],
        ['GET /page-0', 1],
        ['GET /page-1', 1],
        ['GET /page-2', 1],
      ],
    );
    assert.equal(report.otherEndpoints, 7);
    assert.deepEqual(
      eps[1]!.fields.map((f) => [f.field, f.candidateDiffs]),
      [
        ['(other fields)', 1],
        ['body.f0', 1],
        ['body.f1', 1],
      ],
    );
    // Two fields beyond the cap in each of the three named endpoints and in the other bucket.
    assert.equal(report.otherFields, 2 * 3 + 2 * 7);
    store.close();
  });
});

describe('CompareStore samples and secrets', () => {
  it('keeps whole exchanges redacted: secrets in request and response bodies, headers and queries never reach the file', async () => {
    const { compareExchange, compileRules } = await import('../src/compare/index.js');
    const { DEFAULT_COMPARE_SETTINGS } = await import('../src/config/index.js');
    const rules = compileRules({ ...DEFAULT_COMPARE_SETTINGS, redactHeaders: ['x-tenant-key'], redactFields: ['body.user.email'] });
    const json = (v: unknown) => {
      const bytes = Buffer.from(JSON.stringify(v));
      return { size: bytes.length, sha256: `${bytes.length}`, truncated: false, bytes };
    };
    const answer = (v: unknown) => ({
      status: 200,
      headers: { 'content-type': 'application/json', 'set-cookie': 'sid=SECRET-COOKIE' },
      body: json(v),
      latencyMs: 3,
    });
    const ex = {
      at: 1_700_000_000_000,
      requestId: 'sec1',
      route: 'r',
      method: 'POST',
      path: '/login?token=SECRET-QUERY&page=2',
      host: 'api',
      primarySubset: 'v1',
      requestHeaders: { authorization: 'Bearer SECRET-AUTH', 'x-tenant-key': 'SECRET-TENANT', 'content-type': 'application/json' },
      requestBody: json({ user: 'ann', password: 'SECRET-PW', nested: { deeper: [{ Access_Token: 'SECRET-AT' }] } }),
      primary: answer({ ok: true, refresh_token: 'SECRET-RT', user: { email: 'SECRET-MAIL@x', name: 'visible-1' } }),
      candidate: answer({ ok: false, refresh_token: 'SECRET-RT2', user: { email: 'SECRET-MAIL@y', name: 'visible-2' }, apiKey: 'SECRET-KEY' }),
    };
    const r = compareExchange(ex, rules)!;
    const file = tempFile();
    const store = CompareStore.open(file);
    store.record([r]);
    const e = store.endpoints()[0]!;
    const [sample] = store.samples(e, { field: 'body.ok' });
    assert.ok(sample);
    assert.equal(sample.request.method, 'POST');
    assert.equal(sample.request.path, '/login');
    assert.equal(sample.request.query, 'token=%5Bredacted%5D&page=2');
    assert.equal(sample.request.headers.authorization, '[redacted]');
    assert.equal(sample.request.headers['x-tenant-key'], '[redacted]');
    assert.deepEqual(JSON.parse(sample.request.body), { user: 'ann', password: '[redacted]', nested: { deeper: [{ Access_Token: '[redacted]' }] } });
    assert.equal(JSON.parse(sample.candidate!.body).user.name, 'visible-2');
    assert.ok(sample.diffs.some((d) => d.field === 'body.ok' && d.primary === 'true' && d.candidate === 'false'));
    const live = rawBytes(file);
    store.close();
    for (const bytes of [live, rawBytes(file)]) {
      assert.ok(bytes.includes('visible-1'), 'the unredacted value is in the file (the search works)');
      assert.ok(!bytes.includes('SECRET'), `a secret reached the file: ${bytes.toString('latin1').match(/.{0,40}SECRET.{0,20}/)?.[0]}`);
    }
  });
});

describe('CompareStore creation', () => {
  it('six threads opening one new file at once all succeed (the header is read as one snapshot)', async () => {
    const { Worker } = await import('node:worker_threads');
    for (let round = 0; round < 5; round++) {
      const file = tempFile(`race-${round}.db`);
      const results = await Promise.all(
        Array.from(
          { length: 6 },
          () =>
            new Promise<string>((resolve) => {
              const w = new Worker(
                `const { CompareStore } = await import(${JSON.stringify(`file://${STORE_JS}`)});
                 const { parentPort } = await import('node:worker_threads');
                 try { CompareStore.open(${JSON.stringify(file)}).close(); parentPort.postMessage('ok'); }
                 catch (e) { parentPort.postMessage(String(e.message)); }`,
                { eval: true },
              );
              w.once('message', (m: string) => {
                resolve(m);
                void w.terminate();
              });
              w.once('error', (e) => resolve(String(e)));
            }),
        ),
      );
      assert.deepEqual(results, ['ok', 'ok', 'ok', 'ok', 'ok', 'ok'], `round ${round}`);
    }
  });

  it('a version-1 store is upgraded: its data becomes one ended run, never the default one', async () => {
    const file = tempFile();
    const raw = new Database(file);
    const { SCHEMA_V1_FOR_TESTS } = await import('../src/store/schema.js');
    raw.pragma('journal_mode = WAL');
    raw.exec(SCHEMA_V1_FOR_TESTS);
    raw.exec(`INSERT INTO endpoints (id, name, compared) VALUES (1, 'api GET /old', 7);
      INSERT INTO exchanges (at, endpoint_id, request_id, primary_status, primary_ms, diffs) VALUES (5, 1, 'o1', 200, 1, 0);`);
    raw.pragma('application_id = 1397178708');
    raw.pragma('user_version = 1');
    raw.close();
    const store = CompareStore.open(file);
    const [old] = store.runs();
    assert.equal(old!.route, '(before runs)');
    assert.notEqual(old!.ended_at, null);
    assert.equal(store.endpoints(old!.id)[0]!.compared, 7);
    store.close();
  });
});
