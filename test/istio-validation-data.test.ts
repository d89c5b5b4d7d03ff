// Istio's own validation cases (test/fixtures/istio-validation/, see its README for the sources) replayed against the
// config compiler: what Istio accepts loads without an error, what it rejects gets an error naming the resource and the
// field path. A case marked `test/difference` is a deliberate difference (README, "Deliberate differences from Istio").
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadSnapshot, type Problem } from '../src/config/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIR = join('test', 'fixtures', 'istio-validation');
const BIN = join(ROOT, 'bin', 'shadowgate.js');

/**
 * Findings about other resources (istioctl analyze's checks, snapshot.ts): Istio's validation of one resource cannot
 * see them, so they are left out of the comparison. Each case is loaded alone: its hosts, subsets and gateways are
 * unknown.
 */
const CROSS_RESOURCE = new Set([
  'unknown-host',
  'unknown-port',
  'unknown-subset',
  'empty-subset',
  'unknown-gateway',
  'no-gateway-hosts',
  'no-endpoints',
  'conflicting-virtual-service',
  'unreachable-route',
]);

interface Case {
  file: string;
  line: number;
  kind: string;
  resource: string;
  source: string;
  valid: boolean;
  path?: string;
  difference?: { why: string; severity: string; code: string };
  /** The document alone, at its own line numbers in the file. */
  text: string;
}

function readCases(): Case[] {
  const cases: Case[] = [];
  for (const name of readdirSync(join(ROOT, DIR))
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    const file = join(DIR, name);
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    let start = 0;
    const flush = (end: number) => {
      const text = `${'\n'.repeat(start)}${lines.slice(start, end).join('\n')}\n`;
      const doc = parse(text) as { kind?: string; metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> } } | null;
      start = end + 1;
      if (!doc?.kind) return;
      const a = doc.metadata?.annotations ?? {};
      const c: Case = {
        file,
        line: text.length - text.trimStart().length + 1,
        kind: doc.kind,
        resource: `${doc.kind} ${doc.metadata?.namespace ?? 'default'}/${doc.metadata?.name}`,
        source: a['test/case'] ?? '?',
        valid: a['test/valid'] === 'true',
        text,
      };
      if (a['test/path']) c.path = a['test/path'];
      if (a['test/difference']) {
        const [severity = '', code = ''] = (a['test/shadowgate'] ?? '').split(':');
        c.difference = { why: a['test/difference'], severity, code };
      }
      cases.push(c);
    };
    lines.forEach((l, i) => {
      if (l === '---') flush(i);
    });
    flush(lines.length);
  }
  return cases;
}

/** The problems of the case's own resource that Istio's validation of that resource alone could report. */
function problemsOf(c: Case): Problem[] {
  const snapshot = loadSnapshot([{ path: c.file, text: c.text }]);
  return snapshot.problems.filter((p) => p.resource === c.resource && !CROSS_RESOURCE.has(p.code));
}

const under = (path: string | undefined, prefix: string) =>
  path !== undefined && (path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`));

const show = (ps: Problem[]) => ps.map((p) => `  ${p.severity} ${p.path ?? ''}: ${p.message} [${p.code}]`).join('\n') || '  (none)';

const CASES = readCases();

describe("Istio's validation cases", () => {
  it('holds at least 100 cases, over every kind', () => {
    const byKind = new Map<string, number>();
    for (const c of CASES) byKind.set(c.kind, (byKind.get(c.kind) ?? 0) + 1);
    assert.ok(CASES.length >= 100, `${CASES.length} cases`);
    for (const kind of ['VirtualService', 'DestinationRule', 'ServiceEntry', 'WorkloadEntry', 'Gateway']) {
      assert.ok((byKind.get(kind) ?? 0) > 0, `no ${kind} case`);
    }
    const names = new Set<string>();
    for (const c of CASES) {
      assert.ok(!names.has(c.resource), `${c.resource} is used by two cases`);
      names.add(c.resource);
      assert.ok(c.valid || c.path, `${c.file}:${c.line}: an invalid case needs test/path`);
    }
  });

  for (const c of CASES) {
    const title = `${c.kind} ${c.source}: ${c.difference ? `documented difference (${c.difference.severity} ${c.difference.code})` : c.valid ? 'valid' : `invalid at ${c.path}`}`;
    it(title, () => {
      const own = problemsOf(c);
      const errors = own.filter((p) => p.severity === 'error');
      const where = `${c.file}:${c.line} ${c.resource}\n${show(own)}`;
      if (c.difference?.severity === 'error') {
        assert.ok(
          errors.some((p) => p.code === c.difference!.code),
          `${where}\nIstio ${c.valid ? 'accepts' : 'rejects'} this; Shadowgate refuses it with ${c.difference.code}: ${c.difference.why}`,
        );
      } else if (c.difference) {
        assert.deepEqual(errors, [], `${where}\nIstio accepts this; Shadowgate should warn (${c.difference.why}), not fail`);
        assert.ok(
          own.some((p) => p.severity === c.difference!.severity && p.code === c.difference!.code),
          `${where}\nexpected a ${c.difference.severity} ${c.difference.code}: ${c.difference.why}`,
        );
      } else if (c.valid) {
        assert.deepEqual(errors, [], `${where}\nIstio accepts this resource`);
      } else {
        const hit = errors.find((p) => under(p.path, c.path!));
        assert.ok(hit, `${where}\nIstio rejects this resource: an error at ${c.path} was expected`);
        assert.equal(hit.file, c.file);
        assert.equal(hit.resource, c.resource);
        assert.ok(hit.line !== undefined && hit.line >= c.line, `${where}\nthe error's line ${hit.line} is not in the case`);
      }
    });
  }

  it('`shadowgate validate` names the file, line, resource and field path of each rejected case', () => {
    const file = join(DIR, 'virtual-service.yaml');
    const r = spawnSync(process.execPath, [BIN, 'validate', '-f', file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    const lines = r.stdout.split('\n');
    for (const c of CASES.filter((x) => x.file === file && !x.valid)) {
      const re = new RegExp(
        `^${file.replace(/[.\\]/g, '\\$&')}:\\d+:\\d+: error: ${c.resource.replace(/[.*]/g, '\\$&')} ${c.path!.replace(/[.[\]*]/g, '\\$&')}`,
      );
      assert.ok(
        lines.some((l) => re.test(l)),
        `no line for ${c.resource} at ${c.path}:\n${lines.filter((l) => l.includes(` ${c.resource} `)).join('\n')}`,
      );
    }
  });
});
