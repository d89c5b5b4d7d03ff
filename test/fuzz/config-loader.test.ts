// Property-based fuzzing of the config loader (issue 15): any text, any resource shape and any alias structure gives
// problems as data, never an exception, an unbounded expansion or a mutable snapshot. Runs: FUZZ_RUNS (default 60).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadSnapshot, MAX_ALIAS_COUNT, type Problem, type Snapshot } from '../../src/config/index.js';
import { parseSource } from '../../src/config/parse.js';
import { loadConfig } from '../../src/sources/index.js';

const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 60) || 60);
/** Worker-backed loads cost a thread each, deep nesting up to 20,000 levels a parse: a tenth of the runs, 3 to 500. */
const SLOW_RUNS = Math.max(3, Math.min(500, Math.floor(RUNS / 10)));

function checkProblems(problems: readonly Problem[], file: string, lines: number): void {
  for (const p of problems) {
    assert.ok(['error', 'warning', 'info'].includes(p.severity), `severity ${p.severity}`);
    assert.match(p.code, /^[a-z0-9]+(-[a-z0-9]+)*$/, `kebab-case code: ${p.code}`);
    assert.ok(typeof p.message === 'string' && p.message.length > 0);
    if (p.file === file && p.line !== undefined) assert.ok(p.line >= 1 && p.line <= lines + 1, `line ${p.line} of ${lines}`);
  }
}

function assertFrozen(value: unknown, depth = 0): void {
  if (!value || typeof value !== 'object' || depth > 64) return;
  assert.ok(Object.isFrozen(value), 'every object of a snapshot is frozen');
  for (const v of Object.values(value)) assertFrozen(v, depth + 1);
}

const ISTIO = 'networking.istio.io/v1';
const KINDS = ['VirtualService', 'DestinationRule', 'ServiceEntry', 'WorkloadEntry', 'Gateway', 'List', 'ShadowgateConfig', 'ConfigMap'];
/** Field names the readers look at, so random values land where they are checked. */
const FIELDS = [
  'hosts',
  'http',
  'route',
  'destination',
  'host',
  'subset',
  'weight',
  'mirror',
  'mirrors',
  'mirrorPercentage',
  'mirror_percent',
  'mirrorPercent',
  'value',
  'match',
  'uri',
  'prefix',
  'exact',
  'regex',
  'headers',
  'timeout',
  'retries',
  'attempts',
  'rewrite',
  'subsets',
  'labels',
  'trafficPolicy',
  'connectionPool',
  'outlierDetection',
  'ports',
  'number',
  'name',
  'protocol',
  'endpoints',
  'address',
  'resolution',
  'workloadSelector',
  'items',
  'spec',
  'metadata',
  'namespace',
  'directResponse',
  'status',
];

/** JSON-ish values with Istio field names as keys. */
const istioish: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constantFrom('nginx', 'v1', 'v2', '/api', '100', '5s', '-1')),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...FIELDS), tie('value'), { maxKeys: 5 }),
  ),
})).value;

const resource = fc.record({
  apiVersion: fc.constantFrom(ISTIO, 'networking.istio.io/v1alpha3', 'v1', 'shadowgate.dev/v1alpha1', ''),
  kind: fc.constantFrom(...KINDS),
  metadata: fc.record({ name: fc.constantFrom('nginx', 'app', 'a', ''), namespace: fc.constantFrom('default', 'prod') }, { requiredKeys: ['name'] }),
  spec: istioish,
  items: fc.array(istioish, { maxLength: 3 }),
});

function load(text: string): Snapshot {
  return loadSnapshot([{ path: 'fuzz.yaml', text }]);
}

describe('fuzz: config loader', () => {
  it('any text: problems as data, never an exception, positions inside the file', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 400 }), fc.string({ maxLength: 400 })), (text) => {
        const r = parseSource({ path: 'fuzz.yaml', text });
        checkProblems(r.problems, 'fuzz.yaml', text.split('\n').length);
        for (const res of r.resources) assert.ok(res.kind && res.apiVersion);
      }),
      { numRuns: RUNS },
    );
  });

  it('YAML punctuation soup (flow collections, anchors, tags, documents): never an exception', () => {
    const token = fc.constantFrom(
      '{',
      '}',
      '[',
      ']',
      ':',
      ',',
      '- ',
      '&a ',
      '*a',
      '&b ',
      '*b',
      '<<: ',
      '!!str ',
      '!x ',
      '---\n',
      '...\n',
      '\n',
      '  ',
      '"',
      "'",
      '#',
      '|\n',
      '>\n',
      'kind: List\n',
      'items:\n',
      'apiVersion: v1\n',
      'x',
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 80 }), (tokens) => {
        const text = tokens.join('');
        const r = parseSource({ path: 'soup.yaml', text });
        checkProblems(r.problems, 'soup.yaml', text.split('\n').length);
      }),
      { numRuns: RUNS },
    );
  });

  it('resource-shaped documents with random specs: the same hash twice, problems with codes', () => {
    fc.assert(
      fc.property(fc.array(resource, { minLength: 1, maxLength: 4 }), fc.boolean(), (docs, asJson) => {
        const text = asJson ? docs.map((d) => JSON.stringify(d)).join('\n---\n') : docs.map((d) => stringify(d)).join('---\n');
        const a = load(text);
        const b = load(text);
        assert.equal(a.hash, b.hash, 'deterministic');
        checkProblems(a.problems, 'fuzz.yaml', text.split('\n').length);
        for (const r of a.resources) assert.equal(typeof r.accepted, 'boolean');
      }),
      { numRuns: RUNS },
    );
  });

  it('alias structures: expansion stays within the bound, and a fan-out past it is refused as yaml-alias-limit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), (fanout, depth) => {
        // Lists of Lists: every level multiplies the resources by `fanout`.
        let y = 'apiVersion: v1\nkind: List\nx0: &a0 {apiVersion: networking.istio.io/v1, kind: ServiceEntry, metadata: {name: a}}\n';
        for (let i = 1; i <= depth; i++)
          y += `x${i}: &a${i} {apiVersion: v1, kind: List, items: [${Array(fanout)
            .fill(`*a${i - 1}`)
            .join(', ')}]}\n`;
        y += `items: [*a${depth}]\n`;
        const r = parseSource({ path: 'alias.yaml', text: y });
        const expanded = fanout ** depth;
        if (r.problems.some((p) => p.code === 'yaml-alias-limit')) {
          // The `yaml` package's count is conservative: a chain of six single aliases is refused too.
          assert.equal(r.resources.length, 0);
        } else {
          assert.equal(r.problems.length, 0, JSON.stringify(r.problems));
          assert.equal(r.resources.length, expanded);
          assert.ok(expanded <= MAX_ALIAS_COUNT * MAX_ALIAS_COUNT, `${expanded} resources from ${y.length} bytes`);
        }
        if (expanded > MAX_ALIAS_COUNT * MAX_ALIAS_COUNT) assert.ok(r.problems.some((p) => p.code === 'yaml-alias-limit'));
      }),
      { numRuns: RUNS },
    );
  });

  it('deep nesting: an error, not a stack overflow', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('[', '{a: ', '- '), (depth, open) => {
        const text = open === '- ' ? Array.from({ length: Math.min(depth, 2_000) }, (_, i) => `${' '.repeat(i * 2)}- `).join('\n') : open.repeat(depth);
        const r = parseSource({ path: 'deep.yaml', text });
        checkProblems(r.problems, 'deep.yaml', text.split('\n').length);
      }),
      { numRuns: SLOW_RUNS },
    );
  });

  // Only the worker's snapshot is asserted frozen all through: in-process, buildSnapshot's freeze stops at the
  // (shallowly) frozen default compare settings, whose arrays stay mutable; the gateway serves the worker's copy.
  it('through the bounded worker: the same snapshot as in-process, frozen all through, for random files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shadowgate-fuzz-'));
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(resource, { minLength: 1, maxLength: 3 }), async (docs) => {
          const text = docs.map((d) => stringify(d)).join('---\n');
          const file = join(dir, 'fuzz.yaml');
          writeFileSync(file, text);
          const inProcess = loadSnapshot([{ path: file, text }]);
          const r = await loadConfig({ files: [file] });
          assert.equal(r.type, 'loaded');
          if (r.type !== 'loaded') return;
          assert.equal(r.hash, inProcess.hash);
          assert.deepEqual(r.problems, inProcess.problems);
          assertFrozen(r.snapshot);
        }),
        { numRuns: SLOW_RUNS },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
