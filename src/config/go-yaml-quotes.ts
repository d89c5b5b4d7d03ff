// go-yaml (kubectl get -o yaml, controller-gen's CRDs, Helm) wraps a long quoted scalar onto continuation lines
// indented no deeper than its key:
//
//       description: 'APIVersion defines the versioned schema of this representation
//       of an object. ...'
//
// YAML 1.2 wants those lines indented past the key (spec 7.3, test suite QB6E), and the `yaml` package follows the
// spec (eemeli/yaml#176, #191: no option relaxes it; neither `strict: false` nor version 1.1 does). It refuses
// most such lines, and silently misreads one that looks like `key: value"` (an escaped quote ending the line
// before it) as a key of its own. libyaml and go-yaml read them all. So such a file is mended before it is
// parsed: each continuation line of a quoted scalar indented too little is indented one column past its key. Leading
// white space of a quoted scalar's continuation line is folded away (spec 7.3.1, 7.3.2), so values do not change;
// only spaces are inserted at the start of lines inside the scalar, so every node keeps its line and column.
// parse.ts keeps the repair only when the result parses cleanly and every line touched lies inside a quoted scalar.

export interface QuoteRepair {
  text: string;
  /** 0-based line numbers indented. */
  lines: number[];
}

/** Where a quoted scalar opened by this line's value starts, and the indentation its continuation lines need. */
interface Opening {
  /** Index in the line of the opening quote. */
  at: number;
  /** Continuation lines need at least this many leading spaces. */
  minIndent: number;
}

/** Index just past the quoted scalar starting at `from` (the quote), or -1 when it does not close on this line. */
function closeOf(line: string, from: number, quote: string): number {
  for (let i = from + 1; i < line.length; i++) {
    const c = line[i];
    if (quote === "'" && c === "'") {
      if (line[i + 1] === "'") i++;
      else return i + 1;
    } else if (quote === '"') {
      if (c === '\\') i++;
      else if (c === '"') return i + 1;
    }
  }
  return -1;
}

/** The node a block line opens: a key or sequence entry, the column it starts at, and where its value begins. */
function valueStart(line: string): { col: number; value: number } | undefined {
  let i = 0;
  while (line[i] === ' ') i++;
  let col = i;
  // `- `, `- - `: a sequence entry; its own value starts after the dash.
  while (line[i] === '-' && (line[i + 1] === ' ' || i + 1 === line.length)) {
    col = i;
    i += 1;
    while (line[i] === ' ') i++;
    const rest = line.slice(i);
    // `- 'text`, `- |`: the entry's value itself.
    if (rest === '' || rest[0] === "'" || rest[0] === '"' || rest[0] === '|' || rest[0] === '>') return { col, value: i };
    col = i;
  }
  // `key: value`, `"key": value`: the value after the key's colon.
  let k = i;
  if (line[k] === "'" || line[k] === '"') {
    k = closeOf(line, k, line[k]!);
    if (k < 0) return undefined;
  } else {
    if (line[k] === '#' || line[k] === '{' || line[k] === '[' || line[k] === undefined) return undefined;
    while (k < line.length && !(line[k] === ':' && (line[k + 1] === ' ' || k + 1 === line.length))) {
      if (line[k] === '#' && line[k - 1] === ' ') return undefined;
      k++;
    }
  }
  if (line[k] !== ':') return undefined;
  k++;
  while (line[k] === ' ') k++;
  return { col: i, value: k };
}

function opening(line: string): Opening | undefined {
  const v = valueStart(line);
  if (!v) return undefined;
  const q = line[v.value];
  if (q !== "'" && q !== '"') return undefined;
  return closeOf(line, v.value, q) < 0 ? { at: v.value, minIndent: v.col + 1 } : undefined;
}

/** A block scalar header (`|`, `>-`, `|2+ # note`) as this line's value: its content is more indented than `col`. */
function blockScalar(line: string): { col: number } | undefined {
  const v = valueStart(line);
  if (!v) return undefined;
  return /^[|>][0-9+-]*\s*(#.*)?$/.test(line.slice(v.value)) ? { col: v.col } : undefined;
}

const indentOf = (line: string) => line.length - line.trimStart().length;

/**
 * The text with go-yaml's under-indented quoted continuation lines indented, or undefined when there is none.
 * Block scalars' content is skipped (a line in it is text, not YAML); flow collections are left alone.
 */
export function indentGoYamlQuotes(text: string): QuoteRepair | undefined {
  const lines = text.split('\n');
  const touched: number[] = [];
  let quoted: { quote: string; minIndent: number } | undefined;
  let block: { col: number } | undefined;
  for (let n = 0; n < lines.length; n++) {
    let line = lines[n]!;
    const blank = line.trim() === '' || line.trim() === '\r';
    if (quoted) {
      if (blank) continue;
      const indent = indentOf(line);
      // A document marker ends the document, whatever the scalar: not ours to mend.
      if (indent === 0 && /^(---|\.\.\.)(\s|$)/.test(line)) {
        quoted = undefined;
        continue;
      }
      if (indent < quoted.minIndent) {
        line = ' '.repeat(quoted.minIndent) + line.slice(indent);
        lines[n] = line;
        touched.push(n);
      }
      if (closeOf(`${quoted.quote}${line.trimStart()}`, 0, quoted.quote) >= 0) quoted = undefined;
      continue;
    }
    if (block) {
      if (blank || indentOf(line) > block.col) continue;
      block = undefined;
    }
    if (blank || line.trimStart().startsWith('#')) continue;
    const b = blockScalar(line);
    if (b) {
      block = b;
      continue;
    }
    const o = opening(line);
    if (o) quoted = { quote: line[o.at]!, minIndent: o.minIndent };
  }
  return touched.length > 0 ? { text: lines.join('\n'), lines: touched } : undefined;
}
