// Watches the files and directories resources come from, and calls back once they have settled. Editors replace
// or truncate-then-write files and Kubernetes swaps a ConfigMap volume's `..data` symlink, so parent
// directories are watched, and a change is reported only after every watched file kept its size and mtime
// for `settleMs` (issue 15: a reload must not read a save in progress).
import { type FSWatcher, readdirSync, readlinkSync, statSync, watch } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * A resource file in a directory: *.yaml, *.yml, *.json, not hidden. Hidden names are editors' lock files and
 * temporaries (Emacs' `.#vs.yaml` is a dangling symlink while a buffer is modified) and a ConfigMap volume's
 * `..data` machinery: none of them is config.
 */
const RESOURCE_FILE = /^[^.].*\.(ya?ml|json)$/i;
/** The symlink kubelet swaps when a mounted ConfigMap or Secret changes (pkg/volume/util/atomic_writer.go). */
const CONFIGMAP_DATA = '..data';

export interface WatchOptions {
  /** How long every watched file must keep its size and mtime before `onChange` runs (default 500 ms). */
  settleMs?: number;
  /** How often they are looked at while settling (default 100 ms, at most settleMs). */
  pollMs?: number;
  /** A file that never stops changing is read anyway after this long (default 10 s). */
  maxWaitMs?: number;
}

export const DEFAULT_SETTLE_MS = 500;

/** Calls `onChange` when any named file, or any resource file in a named directory, changed and then settled. */
export function watchSources(paths: readonly string[], onChange: () => void, opts: WatchOptions = {}): () => void {
  const settleMs = opts.settleMs ?? DEFAULT_SETTLE_MS;
  const pollMs = Math.max(1, Math.min(opts.pollMs ?? 100, settleMs));
  const maxWaitMs = opts.maxWaitMs ?? 10_000;
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
      let list: string[];
      try {
        list = names === 'all' ? readdirSync(dir).filter((n) => RESOURCE_FILE.test(n)).sort() : [...names];
      } catch {
        list = [];
      }
      try {
        parts.push(`${dir}/..data>${readlinkSync(join(dir, CONFIGMAP_DATA))}`);
      } catch {
        // Not a ConfigMap volume.
      }
      for (const name of list) {
        try {
          const st = statSync(join(dir, name));
          parts.push(`${dir}/${name}:${st.size}:${st.mtimeMs}:${st.ino}`);
        } catch {
          parts.push(`${dir}/${name}:-`);
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
    const now = Date.now();
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
    const now = Date.now();
    // An event restarts the quiet period even when sizes and mtimes look the same (a same-size rewrite within
    // the filesystem's mtime granularity).
    stableSince = now;
    if (timer) return;
    firstChange = now;
    last = fingerprint();
    timer = setTimeout(poll, pollMs);
  };

  const watchers: FSWatcher[] = [];
  for (const [dir, names] of dirs) {
    try {
      const w = watch(dir, { persistent: false }, (_event, filename) => {
        const name = filename?.toString();
        // kubelet writes `..data_tmp`, then renames it over `..data`: either name means the volume changed.
        if (!name || name.startsWith(CONFIGMAP_DATA)) return changed();
        if (names === 'all' ? RESOURCE_FILE.test(name) : names.has(name)) changed();
      });
      w.on('error', () => {});
      watchers.push(w);
    } catch {
      // An unwatchable directory only loses hot reload for its files.
    }
  }
  return () => {
    clearTimeout(timer);
    timer = undefined;
    for (const w of watchers) w.close();
  };
}
