// The comparison thread runs at a lower priority than the data path (nice +10, Linux's per-thread nice value),
// and only that thread: a busy machine serves requests first and compares with what is left.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Comparator } from '../src/comparator/index.js';
import { DEFAULT_COMPARE_SETTINGS } from '../src/config/model.js';
import { Metrics } from '../src/telemetry/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sg-priority-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The nice value of each of this process's threads, by thread id (field 19 of /proc/PID/task/TID/stat). */
function niceByThread(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces), counted from the state field (3).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), Number(fields[19 - 3]));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

describe('comparison thread priority', { skip: process.platform !== 'linux' && 'per-thread nice values are Linux only' }, () => {
  it('the comparison worker thread runs 10 nice steps lower, the main thread and the rest keep theirs', async () => {
    const before = niceByThread();
    const base = before.get(process.pid)!;
    const c = await Comparator.open({ file: join(dir, 'a.db'), settings: DEFAULT_COMPARE_SETTINGS, metrics: new Metrics(), log: () => {} });
    try {
      // open() resolves on the worker's first message, which it posts after lowering its own priority.
      const now = niceByThread();
      const lowered = [...now].filter(([tid, nice]) => nice === Math.min(19, base + 10) && !before.has(tid));
      assert.equal(lowered.length, 1, JSON.stringify([...now]));
      assert.equal(now.get(process.pid), base, 'the main thread keeps its priority');
      assert.deepEqual(
        [...now].filter(([tid, nice]) => nice !== base && tid !== lowered[0]![0]),
        [],
        'no other thread lowered',
      );
    } finally {
      await c.close();
    }
  });
});
