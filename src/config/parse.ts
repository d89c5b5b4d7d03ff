// Turns file text (YAML, multi-document, or JSON) into raw Kubernetes-style resources that remember where they came from.
// Fast path: js-yaml builds plain objects. Positions are needed only for problems, so the position-keeping
// parser (`yaml`) runs lazily, once per file, the first time a problem asks where something is.
import jsyaml from 'js-yaml';
import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml';
import { isPlainObject, typeName } from './fields.js';
import type { Problem } from './model.js';
import { type Locate, makeProblem, type PathSeg } from './problems.js';

export interface SourceText {
  /** Path as the user named it (shown in problems). */
  path: string;
  text: string;
}

export interface RawResource {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  /** The whole object, for kinds that read more than `spec`. */
  object: Record<string, unknown>;
  file: string;
  /** Path of this resource inside its document (non-empty inside a `kind: List`). */
  base: PathSeg[];
  /** Position of a path relative to the resource's root. */
  locate: Locate;
}

export interface ParseResult {
  resources: RawResource[];
  problems: Problem[];
}

function nodeAt(root: unknown, path: readonly PathSeg[]): Node | undefined {
  let node = root as Node | undefined;
  let last = node;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      node = pair.value as Node | undefined;
      // The last segment points at its key (where a person looks), earlier ones descend into values.
      last = seg === path[path.length - 1] || !node ? (pair.key as Node) : node;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg] as Node | undefined;
      if (!node) break;
      last = node;
    } else break;
  }
  return last;
}

/** Parses with positions, on demand, once per file. */
class PositionIndex {
  private docs: Document.Parsed[] | undefined;
  private readonly lines = new LineCounter();
  constructor(private readonly text: string) {}

  documents(): Document.Parsed[] {
    this.docs ??= parseAllDocuments(this.text, { lineCounter: this.lines, uniqueKeys: true }) as Document.Parsed[];
    return Array.isArray(this.docs) ? this.docs : [];
  }

  position(offset: number): { line: number; column: number } {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  locator(docIndex: number, base: PathSeg[]): Locate {
    return (path) => {
      const doc = this.documents()[docIndex];
      const node = doc && nodeAt(doc.contents, [...base, ...path]);
      return node?.range ? this.position(node.range[0]) : undefined;
    };
  }
}

function collect(value: unknown, base: PathSeg[], locateAt: (base: PathSeg[]) => Locate, file: string, out: ParseResult): void {
  const locate = locateAt(base);
  if (!isPlainObject(value)) {
    out.problems.push(makeProblem('error', 'not-a-resource', `expected a Kubernetes resource (an object), found ${typeName(value)}`, file, locate([])));
    return;
  }
  const kind = typeof value.kind === 'string' ? value.kind : '';
  const apiVersion = typeof value.apiVersion === 'string' ? value.apiVersion : '';
  if (kind === 'List' || (kind.endsWith('List') && Array.isArray(value.items))) {
    const items = Array.isArray(value.items) ? value.items : [];
    items.forEach((item, i) => {
      collect(item, [...base, 'items', i], locateAt, file, out);
    });
    return;
  }
  if (!kind || !apiVersion) {
    out.problems.push(makeProblem('error', 'not-a-resource', 'a resource needs "apiVersion" and "kind"', file, locate([])));
    return;
  }
  const meta = isPlainObject(value.metadata) ? value.metadata : {};
  out.resources.push({
    apiVersion,
    kind,
    name: typeof meta.name === 'string' ? meta.name : '',
    namespace: typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : 'default',
    object: value,
    file,
    base,
    locate,
  });
}

export function parseSource(src: SourceText): ParseResult {
  const out: ParseResult = { resources: [], problems: [] };
  const index = new PositionIndex(src.text);
  let values: unknown[] | undefined;
  try {
    values = jsyaml.loadAll(src.text, undefined, { filename: src.path });
  } catch {
    // Malformed: the position-keeping parser reports every error with its line and column, and still
    // reads the well-formed documents of the file.
    values = undefined;
  }
  if (values) {
    values.forEach((value, i) => {
      if (value !== null && value !== undefined) collect(value, [], (base) => index.locator(i, base), src.path, out);
    });
    return out;
  }
  index.documents().forEach((doc, i) => {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        out.problems.push(makeProblem('error', 'malformed-yaml', err.message.split('\n')[0] ?? err.message, src.path, index.position(err.pos[0])));
      }
      return;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value !== null && value !== undefined) collect(value, [], (base) => index.locator(i, base), src.path, out);
  });
  return out;
}
