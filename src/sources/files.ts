// Where resources come from on a laptop: files and directories named with -f, read as `kubectl apply -R -f` does.
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Problem, SourceText } from '../config/index.js';
// config's own modules, not its index (which loads the compiler and yaml): see config/index.ts.
import { MAX_SOURCE_BYTES } from '../config/source-limits.js';

/**
 * A resource file in a directory: *.yaml, *.yml, *.json, not hidden. Hidden names are editors' lock files and
 * temporaries (Emacs' `.#vs.yaml` is a dangling symlink while a buffer is modified) and a ConfigMap volume's
 * `..data` machinery: none of them is config.
 */
export const RESOURCE_FILE = /^[^.].*\.(ya?ml|json)$/i;
/**
 * Directories are walked this deep at most. kubectl's -R has no bound; ours keeps a symlink maze or a mistaken
 * `-f /` from walking for ever (a repository's manifests are rarely more than four levels deep).
 */
export const MAX_DEPTH = 16;

export interface ReadResult {
  sources: SourceText[];
  /** Every file read (for watching). */
  files: string[];
  problems: Problem[];
}

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/**
 * Every resource file under a directory, recursively, sorted by path (as `kubectl apply -R` reads a tree).
 * Hidden entries are skipped at every level, directories included: `.git`, and a mounted ConfigMap's
 * `..data` and `..2024_…` directories, which hold the very files the visible names link to (reading them too
 * would read every resource twice). A directory reached twice (a symlink loop) is walked once.
 */
export function listResourceFiles(dir: string, problems: Problem[] = [], seen = new Set<string>(), depth = 0): string[] {
  try {
    const real = realpathSync(dir);
    if (seen.has(real)) return [];
    seen.add(real);
  } catch {
    return [];
  }
  if (depth > MAX_DEPTH) {
    problems.push({ severity: 'warning', code: 'directory-too-deep', file: dir, message: `more than ${MAX_DEPTH} directories deep: not read` });
    return [];
  }
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    problems.push({ severity: 'error', code: 'unreadable-file', file: dir, message: `cannot read: ${errno(err)}` });
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      // A dangling symlink: not config.
      continue;
    }
    if (isDir) out.push(...listResourceFiles(path, problems, seen, depth + 1));
    else if (RESOURCE_FILE.test(name)) out.push(path);
  }
  return out;
}

/** Expands directories (every *.yaml, *.yml, *.json beneath, hidden entries excepted, sorted) and reads every file once. */
export function readSources(paths: readonly string[]): ReadResult {
  const out: ReadResult = { sources: [], files: [], problems: [] };
  const read = new Set<string>();
  for (const path of paths) {
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch (err) {
      out.problems.push({ severity: 'error', code: 'unreadable-file', file: path, message: `cannot read: ${errno(err)}` });
      continue;
    }
    const files = isDir ? listResourceFiles(path, out.problems) : [path];
    if (isDir && files.length === 0) {
      out.problems.push({
        severity: 'warning',
        code: 'empty-directory',
        file: path,
        message: 'no *.yaml, *.yml or *.json file in this directory or beneath it',
      });
    }
    for (const file of files) {
      // `-f dir -f dir/vs.yaml` names one file twice: its resources would clash with themselves.
      let key = file;
      try {
        key = realpathSync(file);
      } catch {
        // Unreadable: reported below.
      }
      if (read.has(key)) continue;
      read.add(key);
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
        out.problems.push({ severity: 'error', code: 'unreadable-file', file, message: `cannot read: ${errno(err)}` });
      }
    }
  }
  return out;
}
