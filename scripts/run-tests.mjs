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
// A bound on the whole run, so a file that never exits (a stray handle) fails CI instead of hanging it (seen
// once on Node 24 under heavy load). Not --test-force-exit: on Node 24 it ended files before their reports
// were flushed, and 63 passing tests went missing from the count without a word.
const HOUR = 60 * 60 * 1000;
const run = spawnSync(process.execPath, ['--test', ...flags, ...files], { stdio: 'inherit', timeout: HOUR, killSignal: 'SIGKILL' });
if (run.error?.code === 'ETIMEDOUT') console.error('the test run took more than an hour: stopped (a test file that never exits?)');
process.exit(run.status ?? 1);
