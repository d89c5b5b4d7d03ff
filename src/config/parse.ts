// Turns file text (YAML, multi-document, or JSON) into raw Kubernetes-style resources that remember where they came from.
import { isMap, isScalar, isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml';
import type { Problem } from './model.js';
import { isPlainObject, typeName } from './fields.js';
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
      last = (pair.key as Node) ?? last;
      node = pair.value as Node | undefined;
      if (node) last = seg === path[path.length - 1] ? (pair.key as Node) : node;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg] as Node | undefined;
      if (node) last = node;
      else break;
    } else break;
  }
  return last;
}

export function parseSource(src: SourceText): ParseResult {
  const problems: Problem[] = [];
  const resources: RawResource[] = [];
  const lines = new LineCounter();
  const docs = parseAllDocuments(src.text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const position = (offset: number) => {
    const p = lines.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const list = Array.isArray(docs) ? docs : [];
  for (const doc of list) {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const msg = err.message.split('\n')[0] ?? err.message;
        problems.push(makeProblem('error', 'malformed-yaml', msg, src.path, position(err.pos[0])));
      }
      continue;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue;
    const locateIn =
      (base: PathSeg[]): Locate =>
      (path) => {
        const node = nodeAt(doc.contents, [...base, ...path]);
        return node?.range ? position(node.range[0]) : undefined;
      };
    const add = (obj: unknown, base: PathSeg[]) => {
      const locate = locateIn(base);
      if (!isPlainObject(obj)) {
        problems.push(
          makeProblem('error', 'not-a-resource', `expected a Kubernetes resource (an object), found ${typeName(obj)}`, src.path, locate([])),
        );
        return;
      }
      const kind = typeof obj.kind === 'string' ? obj.kind : '';
      const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
      if (kind === 'List' || (kind.endsWith('List') && Array.isArray(obj.items))) {
        const items = Array.isArray(obj.items) ? obj.items : [];
        items.forEach((item, i) => {
          add(item, [...base, 'items', i]);
        });
        return;
      }
      const meta = isPlainObject(obj.metadata) ? obj.metadata : {};
      if (!kind || !apiVersion) {
        problems.push(makeProblem('error', 'not-a-resource', 'a resource needs "apiVersion" and "kind"', src.path, locate([])));
        return;
      }
      resources.push({
        apiVersion,
        kind,
        name: typeof meta.name === 'string' ? meta.name : '',
        namespace: typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : 'default',
        object: obj,
        file: src.path,
        base,
        locate,
      });
    };
    add(value, []);
  }
  return { resources, problems };
}
