// Where resources come from on a laptop: files and directories named with -f, as `kubectl apply -f` reads them.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_SOURCE_BYTES, type Problem, type SourceText } from '../config/index.js';

/**
 * A resource file in a directory: *.yaml, *.yml, *.json, not hidden. Hidden names are editors' lock files and
 * temporaries (Emacs' `.#vs.yaml` is a dangling symlink while a buffer is modified) and a ConfigMap volume's
 * `..data` machinery: none of them is config.
 */
const RESOURCE_FILE = /^[^.].*\.(ya?ml|json)$/i;

export interface ReadResult {
  sources: SourceText[];
  /** Every file read (for watching). */
  files: string[];
  problems: Problem[];
}

/** Expands directories (every *.yaml, *.yml, *.json directly inside, hidden ones excepted, sorted) and reads every file. */
export function readSources(paths: readonly string[]): ReadResult {
  const out: ReadResult = { sources: [], files: [], problems: [] };
  for (const path of paths) {
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch (err) {
      out.problems.push({ severity: 'error', code: 'unreadable-file', file: path, message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      continue;
    }
    const files = isDir
      ? readdirSync(path)
          .filter((name) => RESOURCE_FILE.test(name))
          .sort()
          .map((name) => join(path, name))
      : [path];
    if (isDir && files.length === 0) {
      out.problems.push({ severity: 'warning', code: 'empty-directory', file: path, message: 'no *.yaml, *.yml or *.json file in this directory' });
    }
    for (const file of files) {
      try {
        // Checked before reading: a 50 MB file is refused without costing 50 MB (issue 15), and a FIFO or a
        // device (`/dev/zero` behind a symlink) is never read: a read of it would not end.
        const st = statSync(file);
        if (!st.isFile()) {
          out.problems.push({ severity: 'error', code: 'not-a-file', file, message: 'not a regular file (a FIFO, a device, a socket?): not read as config' });
          continue;
        }
        const size = st.size;
        if (size > MAX_SOURCE_BYTES) {
          out.problems.push({ severity: 'error', code: 'file-too-large', file, message: `${size} bytes, more than ${MAX_SOURCE_BYTES}: not read as config` });
          continue;
        }
        out.sources.push({ path: file, text: readFileSync(file, 'utf8') });
        out.files.push(file);
      } catch (err) {
        out.problems.push({ severity: 'error', code: 'unreadable-file', file, message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      }
    }
  }
  return out;
}
