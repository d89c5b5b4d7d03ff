// Config files users dump from clusters load: go-yaml (kubectl get -o yaml, controller-gen's CRDs) wraps long
// quoted scalars onto continuation lines at the key's own indentation, which YAML 1.2 and the `yaml` package refuse.
// The one parse entry point (config/parse.ts) reads them as go-yaml does: the values js-yaml (libyaml's reading)
// gives, problems at the right line and column, the alias and size bounds unchanged, and a truly broken quote
// still an error where it is.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import jsYaml from 'js-yaml';
import { indentGoYamlQuotes } from '../src/config/go-yaml-quotes.js';
import { loadSnapshot } from '../src/config/index.js';
import { parseSource } from '../src/config/parse.js';
import { aliasBomb } from './harness/config-files.js';

const FLAGGER_CRDS = fileURLToPath(new URL('../../test/fixtures/flagger/flagger-crds.yaml', import.meta.url));

/** What `kubectl get virtualservice,destinationrule -o yaml` prints: a List, annotations wrapped by go-yaml. */
const KUBECTL_DUMP = `apiVersion: v1
items:
- apiVersion: networking.istio.io/v1
  kind: VirtualService
  metadata:
    annotations:
      description: 'Sends every request to v1 and a copy of it to v2, so that the answers
        of both can be compared; it''s the article''s step 3. The continuation lines
      of this one sit at the key''s own column, as go-yaml writes them.'
      kubectl.kubernetes.io/last-applied-configuration: "{\\"apiVersion\\":\\"networking.istio.io/v1\\",\\"kind\\":\\"VirtualService\\",\\"metadata\\":{\\"name\\":\\"nginx\\"},
      \\"spec\\":{\\"hosts\\":[\\"nginx\\"]}}\\n"
      notes: |
        a block scalar whose text looks like YAML: 'not closed here
        and a line at its own indentation
    creationTimestamp: "2026-11-29T17:00:00Z"
    name: nginx
    namespace: default
  spec:
    hosts:
    - nginx
    http:
    - route:
      - destination:
          host: nginx
          subset: v1
      mirror:
        host: nginx
        subset: v2
      mirrorPercentage:
        value: 100
      bogusField: true
- apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata:
    annotations:
      - "wrapped as a sequence entry, which go-yaml also
      does"
    name: nginx
    namespace: default
  spec:
    host: nginx
    subsets:
    - labels:
        version: v1
      name: v1
    - labels:
        version: v2
      name: v2
kind: List
metadata:
  resourceVersion: ""
`;

/** 1-based line of the first line of `text` that starts with `prefix` (after its indentation). */
function lineOf(text: string, prefix: string, from = 0): number {
  const lines = text.split('\n');
  const i = lines.findIndex((l, n) => n >= from && l.trimStart().startsWith(prefix));
  assert.ok(i >= 0, prefix);
  return i + 1;
}

describe("go-yaml's wrapped quoted scalars", () => {
  it("Flagger's CRDs (controller-gen) load with the values libyaml's reading gives, and positions in the file", () => {
    const text = readFileSync(FLAGGER_CRDS, 'utf8');
    const r = parseSource({ path: 'flagger-crds.yaml', text });
    assert.deepEqual(r.problems, []);
    const expected = (jsYaml.loadAll(text) as unknown[]).filter((d) => d !== null);
    assert.deepEqual(
      r.resources.map((x) => x.object),
      expected,
    );
    assert.deepEqual(
      r.resources.map((x) => x.name),
      ['canaries.flagger.app', 'metrictemplates.flagger.app', 'alertproviders.flagger.app'],
    );
    // A node after the first wrapped description is where the file has it.
    const canary = r.resources[0]!;
    const path = ['spec', 'versions', 0, 'schema', 'openAPIV3Schema', 'properties', 'kind'];
    const at = canary.locate(path);
    const line = lineOf(text, 'kind:', lineOf(text, 'apiVersion:', lineOf(text, 'properties:')));
    assert.deepEqual(at, { line, column: text.split('\n')[line - 1]!.indexOf('kind:') + 1 });
    const description = (
      canary.object as { spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { apiVersion: { description: string } } } } }> } }
    ).spec.versions[0]!.schema.openAPIV3Schema.properties.apiVersion.description;
    assert.match(description, /^APIVersion defines the versioned schema of this representation of an object\. Servers should convert/);
  });

  it('a kubectl dump (a List) loads as Istio resources, values and problem positions exact', () => {
    const snapshot = loadSnapshot([{ path: 'dump.yaml', text: KUBECTL_DUMP }]);
    assert.deepEqual(
      snapshot.problems.filter((p) => p.code === 'malformed-yaml'),
      [],
    );
    const parsed = parseSource({ path: 'dump.yaml', text: KUBECTL_DUMP });
    assert.deepEqual(
      parsed.resources.map((x) => x.object),
      (jsYaml.load(KUBECTL_DUMP) as { items: unknown[] }).items,
      'the values js-yaml (libyaml) reads',
    );
    const vs = parsed.resources[0]!.object as { metadata: { annotations: Record<string, string> } };
    assert.equal(
      vs.metadata.annotations.description,
      "Sends every request to v1 and a copy of it to v2, so that the answers of both can be compared; it's the article's step 3. The continuation lines of this one sit at the key's own column, as go-yaml writes them.",
    );
    assert.equal(
      vs.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'],
      '{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"nginx"}, "spec":{"hosts":["nginx"]}}\n',
    );
    assert.equal(
      vs.metadata.annotations.notes,
      "a block scalar whose text looks like YAML: 'not closed here\nand a line at its own indentation\n",
      'block scalars untouched',
    );
    // The unknown field is reported where it is, after every wrapped line.
    const bogus = snapshot.problems.find((p) => p.path?.includes('bogusField'));
    assert.ok(bogus, JSON.stringify(snapshot.problems));
    const line = lineOf(KUBECTL_DUMP, 'bogusField:');
    assert.deepEqual([bogus.line, bogus.column], [line, KUBECTL_DUMP.split('\n')[line - 1]!.indexOf('bogusField') + 1]);
    assert.deepEqual(
      snapshot.resources.map((r) => r.kind),
      ['VirtualService', 'DestinationRule'],
    );
  });

  it('a wrapped line that looks like a key of its own stays in its string (the strict parse takes it for a key, silently)', () => {
    const text =
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\n  annotations:\n    note: "set \\"mode\\"\n    mode: strict\\" to refuse it"\n    other: x\n';
    const r = parseSource({ path: 'm.yaml', text });
    assert.deepEqual(r.problems, []);
    assert.deepEqual((r.resources[0]!.object.metadata as { annotations: unknown }).annotations, { note: 'set "mode" mode: strict" to refuse it', other: 'x' });
    assert.deepEqual(r.resources[0]!.object, jsYaml.load(text));
    assert.equal(r.resources[0]!.locate(['metadata', 'annotations', 'other'])?.line, 8);
  });

  it('a quote that never closes is still an error at its line; the alias bound holds on the mended path', () => {
    const broken = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: x\n  annotations:\n    a: 'never closed\n    b: c\n";
    const r = parseSource({ path: 'broken.yaml', text: broken });
    assert.equal(r.resources.length, 0);
    assert.ok(r.problems.length > 0);
    assert.ok(
      r.problems.every((p) => p.code === 'malformed-yaml'),
      JSON.stringify(r.problems),
    );
    // The strict parse's own errors, as before the mending existed.
    assert.match(r.problems[0]!.message, /Missing closing 'quote/);

    const bomb = `${aliasBomb()}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\n  annotations:\n    a: 'wrapped\n    at the key'\n`;
    const b = parseSource({ path: 'bomb.yaml', text: bomb });
    assert.deepEqual(
      b.problems.map((p) => p.code),
      ['yaml-alias-limit'],
    );
    assert.deepEqual(
      b.resources.map((x) => x.kind),
      ['ConfigMap'],
    );
  });

  it('the repair indents only continuation lines of quoted scalars, and nothing in a file that needs none', () => {
    assert.equal(indentGoYamlQuotes('a: b\nc: "d"\n'), undefined);
    assert.equal(indentGoYamlQuotes("a: |\n  x: 'y\nb: z\n"), undefined, 'text in a block scalar is not YAML');
    const r = indentGoYamlQuotes("a:\n  b: 'one\n  two'\n  c: \"three\\\n  four\"\n  - 'x\n  y'\n");
    assert.deepEqual(r?.lines, [2, 4, 6]);
    assert.equal(r?.text, "a:\n  b: 'one\n   two'\n  c: \"three\\\n   four\"\n  - 'x\n   y'\n");
  });
});
