// Watches the files and directories resources come from; editors replace files, so parent directories are watched.
import { type FSWatcher, statSync, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

const RESOURCE_FILE = /\.(ya?ml|json)$/i;

/** Calls `onChange` (debounced) when any named file, or any resource file in a named directory, changes. */
export function watchSources(paths: readonly string[], onChange: () => void, debounceMs = 150): () => void {
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
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  const watchers: FSWatcher[] = [];
  for (const [dir, names] of dirs) {
    try {
      const w = watch(dir, { persistent: false }, (_event, filename) => {
        const name = filename?.toString();
        if (!name) return schedule();
        if (names === 'all' ? RESOURCE_FILE.test(name) : names.has(name)) schedule();
      });
      w.on('error', () => {});
      watchers.push(w);
    } catch {
      // An unwatchable directory only loses hot reload for its files.
    }
  }
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
