// Property-based check of the diff explorer's "copy as curl" (ui/src/curl.ts): whatever a sampled request holds
// (quotes, $(...), backticks, newlines, any Unicode), bash hands curl exactly the method, headers, body and URL as
// arguments, never shell syntax. Runs: FUZZ_RUNS (default 60), all in one bash process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { curlFor } from '../../ui/src/curl.js';
import type { SampleRequest } from '../../ui/src/types.js';

const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 60) || 60);
const hasBash = spawnSync('bash', ['-c', 'true']).status === 0;

/** Text an argv can carry: no NUL, no lone surrogate (both would change on the way to a process). */
const argText = (o: { minLength?: number; maxLength?: number } = {}) =>
  fc
    .string({
      unit: fc.oneof(
        fc.constantFrom("'", '"', '\\', '$', '`', '\n', ' ', '!', ';', '|', '&', '*', '(', ')', '\u00e9', '\u{1F600}'),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
      ),
      ...o,
    })
    .filter((s) => !s.includes('\u0000') && Buffer.from(s, 'utf8').toString('utf8') === s);

const request = fc.record({
  method: argText({ minLength: 1, maxLength: 12 }),
  path: argText({ maxLength: 40 }),
  query: argText({ maxLength: 20 }),
  headers: fc.dictionary(
    fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz-'.split('')), minLength: 1, maxLength: 12 }).filter((n) => n !== 'host'),
    fc.oneof(argText({ maxLength: 30 }), fc.array(argText({ maxLength: 20 }), { minLength: 1, maxLength: 3 })),
    { maxKeys: 5 },
  ),
  body: argText({ maxLength: 60 }),
  bodyTruncated: fc.boolean(),
  bodyEncoding: fc.constant('utf8' as const),
});

const SKIPPED = new Set(['content-length', 'connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer']);

function expectedArgs(r: SampleRequest): string[] {
  const args = ['-sS'];
  if (r.method !== 'GET' || r.body) args.push('-X', r.method);
  for (const [name, value] of Object.entries(r.headers)) {
    if (SKIPPED.has(name)) continue;
    for (const v of Array.isArray(value) ? value : [value]) args.push('-H', `${name}: ${v}`);
  }
  if (r.body) args.push('--data-binary', r.body);
  const q = r.query.replace(/^\?/, '');
  args.push(`http://gw.test${r.path.startsWith('/') ? '' : '/'}${r.path}${q ? `?${q}` : ''}`);
  return args;
}

describe('copy as curl (fuzz)', { skip: hasBash ? false : 'no bash here' }, () => {
  it(`hands curl exactly the request's parts, for ${RUNS} hostile requests`, () => {
    const requests = fc.sample(request, { numRuns: RUNS }) as SampleRequest[];
    // `curl` is a shell function printing its arguments NUL-separated; each command ends with a record separator.
    const script = ['curl() { printf "%s\\0" "$@"; }', ...requests.map((r) => `${curlFor(r, 'gw.test')}\nprintf '\\036'`)].join('\n');
    // The script goes in on stdin (a large -c argument passes the kernel's argument limit); nothing in it reads stdin.
    const run = spawnSync('bash', ['-s'], { input: script, maxBuffer: 64 * 1024 * 1024 });
    assert.equal(run.status, 0, `${run.error ?? ''}${run.stderr}`);
    const records = run.stdout.toString('utf8').split('\u001e').slice(0, -1);
    assert.equal(records.length, requests.length);
    requests.forEach((r, i) => {
      const args = records[i]!.split('\u0000').slice(0, -1);
      assert.deepEqual(args, expectedArgs(r), `request ${JSON.stringify(r)}\ncommand: ${curlFor(r, 'gw.test')}`);
    });
  });
});
