// Turns file text (YAML, multi-document, or JSON) into raw Kubernetes-style resources that remember where they came from.
// One parser, `yaml`: it keeps positions for problems and bounds alias expansion (js-yaml does not, and a 911-byte
// file of nested aliases once grew to 4.4 GB: issue 15). Text past MAX_SOURCE_BYTES is refused before parsing.
import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseAllDocuments, Scalar, visit } from 'yaml';
import { isPlainObject, typeName } from './fields.js';
import { indentGoYamlQuotes } from './go-yaml-quotes.js';
import type { Problem } from './model.js';
import type { ProblemCode } from './problem-codes.js';
import { type Locate, makeProblem, type PathSeg } from './problems.js';
import { MAX_ALIAS_COUNT, MAX_SOURCE_BYTES } from './source-limits.js';

export { MAX_ALIAS_COUNT, MAX_SOURCE_BYTES };

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

/** Positions of one parsed file: a line index and, per document, the path → node lookup. */
class Positions {
  constructor(
    private readonly docs: readonly Document.Parsed[],
    private readonly lines: LineCounter,
  ) {}

  position(offset: number): { line: number; column: number } {
    const p = this.lines.linePos(offset);
    return { line: p.line, column: p.col };
  }

  locator(docIndex: number, base: PathSeg[]): Locate {
    return (path) => {
      const doc = this.docs[docIndex];
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
  const error = (code: ProblemCode, message: string, at?: { line: number; column: number }) =>
    out.problems.push(makeProblem('error', code, message, src.path, at));
  // Length in UTF-16 units is at most the byte length, so this refuses every text the reader would (and more).
  if (src.text.length > MAX_SOURCE_BYTES) {
    error('file-too-large', `larger than ${MAX_SOURCE_BYTES} bytes: not read as config`);
    return out;
  }
  // An editor's non-atomic save truncates first and writes later; an empty file is never a config (issue 15).
  if (src.text.trim() === '') {
    error('empty-file', 'the file is empty (a save in progress?): not a valid config');
    return out;
  }
  let parsed: { docs: Document.Parsed[]; lines: LineCounter };
  try {
    // go-yaml's wrapped quoted scalars (kubectl get -o yaml, CRDs) are read as go-yaml reads them, whether the strict
    // parse refuses them or, worse, takes a continuation line that looks like `key: value"` for a key of its own.
    // YAML 1.2 text has no such line, so it is parsed once, as it is.
    parsed = goYamlReading(src.text) ?? parseYaml(src.text);
  } catch (err) {
    // Only resource exhaustion (a nesting deep enough to overflow the stack) gets here.
    error('malformed-yaml', `cannot parse: ${(err as Error).message}`);
    return out;
  }
  const { docs, lines } = parsed;
  const positions = new Positions(docs, lines);
  docs.forEach((doc, i) => {
    if (doc.errors.length > 0) {
      // Malformed: every error with its line and column; the well-formed documents of the file are still read.
      // The position is ours (file:line:col); the yaml package's own " at line L, column C:" would print it twice.
      for (const err of doc.errors) error('malformed-yaml', yamlMessage(err.message), positions.position(err.pos[0]));
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      const at = doc.contents?.range ? positions.position(doc.contents.range[0]) : undefined;
      // Only the count limit is a bomb; "Unresolved alias" (an anchor never set) is an ordinary mistake.
      if (err instanceof ReferenceError && /excessive alias/i.test(err.message)) {
        error('yaml-alias-limit', `aliases expand past ${MAX_ALIAS_COUNT} nodes (an alias bomb?): document not read`, at);
      } else error('malformed-yaml', `cannot read the document: ${(err as Error).message}`, at);
      return;
    }
    if (value !== null && value !== undefined) collect(value, [], (base) => positions.locator(i, base), src.path, out);
  });
  return out;
}

function parseYaml(text: string): { docs: Document.Parsed[]; lines: LineCounter } {
  const lines = new LineCounter();
  // `merge`: Kubernetes' YAML (go-yaml) honours `<<` merge keys, and so did the js-yaml front end this replaced.
  const docs = parseAllDocuments(text, { lineCounter: lines, uniqueKeys: true, merge: true, prettyErrors: false });
  return { docs: (Array.isArray(docs) ? docs : [docs]) as Document.Parsed[], lines };
}

/**
 * The file as go-yaml reads it, when it has quoted scalars wrapped at their key's indentation (go-yaml-quotes.ts):
 * kept only if it then parses without an error and every line indented lies inside a quoted scalar (so no value
 * changed). Otherwise undefined: the strict parse stands, errors and all.
 */
function goYamlReading(text: string): { docs: Document.Parsed[]; lines: LineCounter } | undefined {
  const repair = indentGoYamlQuotes(text);
  if (!repair) return undefined;
  const parsed = parseYaml(repair.text);
  if (parsed.docs.some((d) => d.errors.length > 0)) return undefined;
  const quoted: Array<[number, number]> = [];
  for (const doc of parsed.docs) {
    visit(doc, {
      Scalar(_key, node) {
        if ((node.type === Scalar.QUOTE_SINGLE || node.type === Scalar.QUOTE_DOUBLE) && node.range) quoted.push([node.range[0], node.range[1]]);
      },
    });
  }
  const starts = parsed.lines.lineStarts;
  const inside = (line: number) => quoted.some(([from, to]) => from < starts[line]! && starts[line]! < to);
  return repair.lines.every(inside) ? parsed : undefined;
}

/** The yaml package's message without its position suffix and code excerpt (we print file:line:col ourselves). */
function yamlMessage(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}
