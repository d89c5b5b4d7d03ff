// `shadowgate demo` as a new user runs it: a subprocess, its output read for the article's facts.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { WAIT_MS, waitFor } from './harness/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'shadowgate.js');
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

function start(args: string[]) {
  const child = spawn(process.execPath, [BIN, 'demo', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  /** Resolves once stdout matches `pattern`, re-read at each chunk (fails at once if the demo exits first). */
  const printed = (pattern: RegExp) =>
    waitFor(
      () => {
        if (!pattern.test(stdout) && (child.exitCode !== null || child.signalCode !== null))
          throw new Error(`demo exited ${child.exitCode ?? child.signalCode} before printing ${pattern}: ${stderr}`);
        return stdout;
      },
      (out) => pattern.test(out),
      { what: `the demo to print ${pattern}`, on: [[child.stdout, 'data'] as const, [child, 'exit'] as const] },
    );
  return { child, exited, out: () => stdout, err: () => stderr, printed };
}

function section(output: string, title: RegExp): string {
  const parts = output.split(/^== /m);
  const found = parts.find((p) => title.test(p.split('\n')[0]!));
  assert.ok(found, `no section ${title} in:\n${output}`);
  return found;
}

function logOf(step: string, name: string): string[] {
  const m = new RegExp(`log of ${name}:\\n([\\s\\S]*?)(?=\\nlog of |\\n\\$ |\\n[A-Z]|\\n*$)`).exec(step);
  assert.ok(m, `no log of ${name}`);
  return m[1]!.trim() === '<none>' ? [] : m[1]!.trim().split('\n');
}

describe('shadowgate demo', () => {
  it("replays the article's three steps and exits 0", async () => {
    const run = start([]);
    const timeout = setTimeout(() => run.child.kill('SIGKILL'), WAIT_MS);
    const code = await run.exited;
    clearTimeout(timeout);
    const output = run.out();
    assert.equal(code, 0, run.err());

    const step1 = section(output, /^Step 1/);
    const answers1 = step1.match(/^This is version \d$/gm) ?? [];
    assert.equal(answers1.length, 3);
    assert.ok(answers1.includes('This is version 1') && answers1.includes('This is version 2'), 'step 1 splits between versions');
    assert.ok(logOf(step1, 'nginx-v1').length > 0 && logOf(step1, 'nginx-v2').length > 0, 'both logs show requests');

    const step2 = section(output, /^Step 2/);
    assert.match(step2, /kind: DestinationRule/);
    assert.deepEqual([...new Set(step2.match(/^This is version \d$/gm))], ['This is version 1']);
    assert.equal(logOf(step2, 'nginx-v1').length, 3);
    assert.deepEqual(logOf(step2, 'nginx-v2'), [], "v2's log stays empty");

    const step3 = section(output, /^Step 3/);
    assert.match(step3, /mirror_percent: 100/);
    assert.deepEqual([...new Set(step3.match(/^This is version \d$/gm))], ['This is version 1']);
    const v1 = logOf(step3, 'nginx-v1');
    const v2 = logOf(step3, 'nginx-v2');
    assert.equal(v1.length, 3);
    assert.equal(v2.length, 3, 'every request mirrored');
    // nginx's log time has whole seconds: a copy that arrives a millisecond after v1's second turned reads one
    // second later, so "the same moment" is within one second.
    const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';
    const seconds = (line: string) => {
      const [, d, mon, y, h, m, sec] = /\[(\d+)\/(\w+)\/(\d+):(\d+):(\d+):(\d+) /.exec(line)!.map(String);
      return Date.UTC(Number(y), MONTHS.indexOf(mon!) / 3, Number(d), Number(h), Number(m), Number(sec)) / 1000;
    };
    for (const [i, line] of v2.entries()) {
      const lag = seconds(line) - seconds(v1[i]!);
      assert.ok(Math.abs(lag) <= 1, `copy ${i + 1} at the same moment as its primary: ${line} vs ${v1[i]}`);
    }
    for (const line of v1) assert.match(line, /"-"$/);
    for (const line of v2) assert.match(line, /"127\.0\.0\.1"$/, 'with the forwarded-for address');
    assert.match(output, /shadow {2}\(v2\): 3 copies sent, 3 answered 200, 0 abandoned/);
    assert.match(output, /compared: 3 answers of v2 with v1's/);
    assert.match(output, /body differs in 100% of requests \(text_changed\), e\.g\. "This is version 1\\n" vs "This is version 2\\n"/);
    // v2 answers another text in 3 of 3 requests: certainly different (Wilson), so FAIL, as the issue-12 rule says.
    assert.match(
      output,
      /verdict: FAIL \(run r1 \(default\/nginx#0, candidate nginx\.default\.svc\.cluster\.local\/v2\): GET \/: body differs in 100\.0% of requests/,
    );
  });

  it('--keep leaves it running with the mirror on; Ctrl-C stops it cleanly', async () => {
    const run = start(['--keep', '--requests', '1']);
    const timeout = setTimeout(() => run.child.kill('SIGKILL'), WAIT_MS);
    try {
      await run.printed(/Ctrl-C stops everything/);
      const url = /curl -H 'Host: nginx' (http:\/\/127\.0\.0\.1:\d+\/)/.exec(run.out())![1]!;
      const admin = /admin: {3}(http:\/\/\S+)\/config_dump/.exec(run.out())![1]!;
      const res = await request(url, { headers: { host: 'nginx' } });
      assert.equal(await res.body.text(), 'This is version 1\n');
      const ready = await request(`${admin}/ready`);
      assert.equal(ready.statusCode, 200);
      await ready.body.dump();
      await run.printed(/\[nginx-v2\] .*"127\.0\.0\.1"/);
      run.child.kill('SIGINT');
      assert.equal(await run.exited, 0);
    } finally {
      clearTimeout(timeout);
    }
  });
});
