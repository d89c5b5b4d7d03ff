// Property: any quoted strings wrapped as go-yaml wraps them (continuation lines at the key's own indentation, or
// at a sequence entry's), in maps and sequences, load through the config parser with exactly the values libyaml's
// reading (js-yaml) gives, no problem, and every key at its own line. Runs: FUZZ_RUNS (default 60).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import jsYaml from 'js-yaml';
import { parseSource } from '../../src/config/parse.js';

const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 60) || 60);

/** Words with YAML's troublemakers in them: quotes, colons, hashes, backslashes, brackets, dashes. */
const word = fc.string({ unit: fc.constantFrom(...'ab:#\'"\\-[]{}|>&*!%@`,?é'), minLength: 1, maxLength: 6 });
/** Words joined by single spaces: go-yaml breaks a line only at a single space, which folding turns back into one. */
const text = fc.array(word, { minLength: 1, maxLength: 12 }).map((ws) => ws.join(' '));

interface Wrapped {
  style: 'single' | 'double';
  value: string;
  /** Break after these word indexes. */
  breaks: number[];
}

const wrapped = fc.record({
  style: fc.constantFrom<'single' | 'double'>('single', 'double'),
  value: text,
  breaks: fc.array(fc.nat(11), { maxLength: 4 }),
});

/** The scalar as go-yaml writes it, its continuation lines at `indent` spaces. */
function emit(w: Wrapped, indent: number): string {
  const words = w.value.split(' ');
  const quote = (s: string) => (w.style === 'single' ? s.replaceAll("'", "''") : s.replaceAll('\\', '\\\\').replaceAll('"', '\\"'));
  let out = '';
  words.forEach((x, i) => {
    out += quote(x);
    if (i < words.length - 1) out += w.breaks.includes(i) ? `\n${' '.repeat(indent)}` : ' ';
  });
  const q = w.style === 'single' ? "'" : '"';
  return `${q}${out}${q}`;
}

describe('go-yaml-wrapped quoted scalars (property)', () => {
  it('load with the values js-yaml reads and no problem, keys at their lines', () => {
    fc.assert(
      fc.property(fc.array(wrapped, { minLength: 1, maxLength: 5 }), fc.array(wrapped, { maxLength: 3 }), (annotations, list) => {
        let y = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\n  annotations:\n';
        const keyLines: number[] = [];
        annotations.forEach((a, i) => {
          keyLines.push(y.split('\n').length);
          y += `    k${i}: ${emit(a, 4)}\n`;
        });
        y += 'data:\n  items:\n';
        for (const l of list) y += `  - ${emit(l, 2)}\n`;
        y += 'after: x\n';
        const r = parseSource({ path: 'p.yaml', text: y });
        assert.deepEqual(r.problems, [], y);
        assert.equal(r.resources.length, 1, y);
        const object = r.resources[0]!.object;
        assert.deepEqual(object, jsYaml.load(y), y);
        const values = (object.metadata as { annotations: Record<string, string> }).annotations;
        annotations.forEach((a, i) => {
          assert.equal(values[`k${i}`], a.value, y);
          assert.equal(r.resources[0]!.locate(['metadata', 'annotations', `k${i}`])?.line, keyLines[i], y);
        });
      }),
      { numRuns: RUNS * 5 },
    );
  });
});
