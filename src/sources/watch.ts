// Watches the files and directories resources come from, and calls back once they have settled. Editors replace
// or truncate-then-write files and Kubernetes swaps a ConfigMap volume's `..data` symlink, so parent
// directories are watched, and a change is reported only after every watched file kept its size and mtime
// for `settleMs` (issue 15: a reload must not read a save in progress). A named directory is watched with every
// subdirectory beneath it (hidden ones excepted), as files.ts reads it.
import { type FSWatcher, readdirSync, readlinkSync, realpathSync, statSync, watch } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { listResourceFiles, MAX_DEPTH, RESOURCE_FILE } from './files.js';

/** The symlink kubelet swaps when a mounted ConfigMap or Secret changes (pkg/volume/util/atomic_writer.go). */
const CONFIGMAP_DATA = '..data';

export interface WatchOptions {
  /** How long every watched file must keep its size and mtime before `onChange` runs (default 500 ms). */
  settleMs?: number;
  /** How often they are looked at while settling (default 100 ms, at most settleMs). */
  pollMs?: number;
  /** A file that never stops changing is read anyway after this long (default 10 s). */
  maxWaitMs?: number;
  /** The clock the quiet period is measured on (ms; Date.now by default): passed in so a test can hold it still. */
  now?: () => number;
}

export const DEFAULT_SETTLE_MS = 500;

/** Calls `onChange` when any named file, or any resource file in a named directory, changed and then settled. */
export function watchSources(paths: readonly string[], onChange: () => void, opts: WatchOptions = {}): () => void {
  const settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
  const pollMs = Math.max(1, Math.min(opts.pollMs ?? 100, settleMs));
  const maxWaitMs = opts.maxWaitMs ?? 10_000;
  const clock = opts.now ?? Date.now;
  const dirs = new Map<string, Set<string> | 'all'>();
  for (const p of paths) {
    const abs = resolve(p);
    let isDir = false;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {
      // A missing file may appear later: watch its directory for it.
    }
    if (isDir) dirs.set(abs, 'all');
    else {
      const dir = dirname(abs);
      const cur = dirs.get(dir);
      if (cur === 'all') continue;
      const names = cur ?? new Set<string>();
      names.add(basename(abs));
      dirs.set(dir, names);
    }
  }

  /** Size, mtime and inode of every watched file (and where `..data` points): equal twice in a row = settled. */
  const fingerprint = (): string => {
    const parts: string[] = [];
    for (const [dir, names] of dirs) {
      const list = names === 'all' ? listResourceFiles(dir) : [...names].map((n) => join(dir, n));
      for (const d of names === 'all' ? subdirectories(dir) : [dir]) {
        try {
          parts.push(`${d}/..data>${readlinkSync(join(d, CONFIGMAP_DATA))}`);
        } catch {
          // Not a ConfigMap volume.
        }
      }
      for (const file of list) {
        try {
          const st = statSync(file);
          parts.push(`${file}:${st.size}:${st.mtimeMs}:${st.ino}`);
        } catch {
          parts.push(`${file}:-`);
        }
      }
    }
    return parts.join('\n');
  };

  let timer: NodeJS.Timeout | undefined;
  let last = '';
  let stableSince = 0;
  let firstChange = 0;
  const poll = () => {
    const now = clock();
    const cur = fingerprint();
    if (cur !== last) {
      last = cur;
      stableSince = now;
    }
    if (now - stableSince >= settleMs || now - firstChange >= maxWaitMs) {
      timer = undefined;
      onChange();
      return;
    }
    timer = setTimeout(poll, pollMs);
  };
  const changed = () => {
    const now = clock();
    // An event restarts the quiet period even when sizes and mtimes look the same (a same-size rewrite within
    // the filesystem's mtime granularity).
    stableSince = now;
    if (timer) return;
    firstChange = now;
    last = fingerprint();
    timer = setTimeout(poll, pollMs);
  };

  // One fs.watch per directory: Node's `recursive` option is not available on Linux before Node 20 and misses
  // directories created later on some versions; a new subdirectory is picked up when its parent reports it.
  const watchers = new Map<string, FSWatcher>();
  const watchDir = (dir: string, names: Set<string> | 'all') => {
    if (watchers.has(dir)) return;
    try {
      const w = watch(dir, { persistent: false }, (_event, filename) => {
        const name = filename?.toString();
        // kubelet writes `..data_tmp`, then renames it over `..data`: either name means the volume changed.
        if (!name || name.startsWith(CONFIGMAP_DATA)) return changed();
        if (names !== 'all') {
          if (names.has(name)) changed();
          return;
        }
        if (name.startsWith('.')) return;
        if (RESOURCE_FILE.test(name)) return changed();
        // A directory made, moved in or removed: watch what is new beneath it, and look again.
        for (const d of subdirectories(dir)) watchDir(d, 'all');
        changed();
      });
      w.on('error', () => {
        w.close();
        watchers.delete(dir);
      });
      watchers.set(dir, w);
    } catch {
      // An unwatchable directory only loses hot reload for its files.
    }
  };
  for (const [dir, names] of dirs) {
    if (names === 'all') for (const d of subdirectories(dir)) watchDir(d, 'all');
    else watchDir(dir, names);
  }
  return () => {
    clearTimeout(timer);
    timer = undefined;
    for (const w of watchers.values()) w.close();
    watchers.clear();
  };
}

/** A directory and every non-hidden directory beneath it (bounded as files.ts bounds its walk). */
function subdirectories(root: string, depth = 0, seen = new Set<string>()): string[] {
  let real: string;
  try {
    real = realpathSync(root);
  } catch {
    return [];
  }
  // A symlink loop is walked once.
  if (depth > MAX_DEPTH || seen.has(real)) return [];
  seen.add(real);
  const out = [root];
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const path = join(root, name);
    try {
      if (statSync(path).isDirectory()) out.push(...subdirectories(path, depth + 1, seen));
    } catch {
      // Gone or dangling.
    }
  }
  return out;
}
