#!/usr/bin/env node
// Runs node:test over every *.test.js under the given folders (default dist/test). Node 20's `--test` takes
// folders but Node 22+ takes only files and globs (which Node 20 lacks): listing the files works on both.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const roots = process.argv.slice(2).filter((a) => !a.startsWith('--'));

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return testFiles(path);
    return e.name.endsWith('.test.js') ? [path] : [];
  });
}

const files = (roots.length ? roots : ['dist/test']).flatMap((p) => (statSync(p).isDirectory() ? testFiles(p) : [p])).sort();
if (files.length === 0) {
  console.error(`no *.test.js files under ${roots.join(', ') || 'dist/test'} (run the build first)`);
  process.exit(1);
}
// --test-force-exit: a file whose tests have all finished exits even if a handle (a socket, a timer) is left
// open; without it one stray handle hangs the whole run (seen once on Node 24). Stuck tests still fail by
// --test-timeout.
const run = spawnSync(process.execPath, ['--test', '--test-force-exit', ...flags, ...files], { stdio: 'inherit' });
process.exit(run.status ?? 1);
