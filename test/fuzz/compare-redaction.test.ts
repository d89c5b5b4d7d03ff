// Property-based fuzzing of the comparison's redaction and time-like classification (issue 12): a secret placed
// anywhere in a request or an answer never survives into a sample, and classifying any two values never throws.
// Runs: FUZZ_RUNS (default 60).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { buildSample, type CapturedResponse, classifyChange, compareExchange, compileRules, SECRET_FIELDS } from '../../src/compare/index.js';
import { DEFAULT_COMPARE_SETTINGS } from '../../src/config/index.js';

const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 60) || 60);
const RULES = compileRules(DEFAULT_COMPARE_SETTINGS);
const SECRET = 'S3CR3T-VALUE-9f1c';

/** A secret key in some spelling the default list must catch: any case, `_` or `-` or nothing between words. */
const secretKey = fc.tuple(fc.constantFrom(...SECRET_FIELDS), fc.constantFrom('', '-', '_'), fc.boolean()).map(([k, sep, upper]) => {
  const key = k.replaceAll('_', sep);
  return upper ? key.toUpperCase() : key;
});

/** A JSON value with the secret under a secret key at a random depth, inside objects and arrays. */
const withSecret: fc.Arbitrary<unknown> = fc
  .tuple(
    fc.array(
      fc.oneof(
        fc.string({ maxLength: 8 }).filter((k) => k !== '' && !SECRET_FIELDS.some((s) => k.toLowerCase().replaceAll(/[-_]/g, '') === s.replaceAll('_', ''))),
        fc.constant(null),
      ),
      { maxLength: 6 },
    ),
    secretKey,
    fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.boolean()), { maxKeys: 4 }),
  )
  .map(([path, key, noise]) => {
    let v: unknown = { ...noise, [key]: SECRET };
    for (const seg of path.reverse()) v = seg === null ? [v, 1] : { [seg]: v, other: 'x' };
    return v;
  });

function answer(json: unknown): CapturedResponse {
  const bytes = Buffer.from(JSON.stringify(json));
  return {
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: { size: bytes.length, sha256: String(bytes.length), truncated: false, bytes },
    latencyMs: 1,
  };
}

describe('fuzz: redaction', () => {
  it('a secret under a secret key anywhere in request or answers never reaches a sample', () => {
    fc.assert(
      fc.property(withSecret, withSecret, secretKey, (req, res, q) => {
        const ex = {
          at: 0,
          requestId: 'f',
          route: 'r',
          method: 'POST',
          path: `/x?${encodeURIComponent(q)}=${SECRET}&a=1`,
          host: 'h',
          primarySubset: 'v1',
          requestHeaders: { 'content-type': 'application/json', authorization: SECRET },
          requestBody: answer(req).body,
          primary: answer(res),
          candidate: answer({ different: true, res }),
        };
        const doc = buildSample(ex, compareExchange(ex, RULES)?.candidateDiffs ?? [], RULES);
        assert.ok(!JSON.stringify(doc).includes(SECRET), JSON.stringify(doc));
      }),
      { numRuns: RUNS },
    );
  });

  it('form and free-text bodies lose the values of secret keys', () => {
    fc.assert(
      fc.property(secretKey, fc.constantFrom('application/x-www-form-urlencoded', 'text/plain'), (key, type) => {
        const text = type.startsWith('application/x-www') ? `a=1&${key}=${SECRET}` : `a: 1, ${key}: ${SECRET}; "${key}": "${SECRET}"`;
        const bytes = Buffer.from(text);
        const r: CapturedResponse = {
          status: 200,
          headers: { 'content-type': type },
          body: { size: bytes.length, sha256: 'x', truncated: false, bytes },
          latencyMs: 1,
        };
        const ex = { at: 0, requestId: 'f', route: 'r', method: 'GET', path: '/', host: 'h', primarySubset: 'v1', primary: r, candidate: answer({}) };
        assert.ok(!JSON.stringify(buildSample(ex, [], RULES)).includes(SECRET));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: time-like classification', () => {
  it('any two values classify without throwing, and equal moments are within tolerance', () => {
    const value = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.double(),
      fc.integer(),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    );
    fc.assert(
      fc.property(value, value, (a, b) => {
        const k = classifyChange(a, b, 5_000);
        assert.ok(['value_changed', 'time_changed', 'time_within_tolerance', 'id_changed'].includes(k));
      }),
      { numRuns: RUNS * 10 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1_000_000_000_000, max: 4_000_000_000_000 }), fc.integer({ min: 0, max: 5_000 }), (ms, lag) => {
        assert.equal(classifyChange(ms, ms + lag, 5_000), 'time_within_tolerance');
        assert.equal(classifyChange(new Date(ms).toISOString(), new Date(ms + lag).toISOString(), 5_000), 'time_within_tolerance');
      }),
      { numRuns: RUNS },
    );
  });
});
