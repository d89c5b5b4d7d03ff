// The data path loads undici's Pool and connector from their own files (src/upstream/undici-parts.ts), paths that
// are undici's internals: an upgrade that moves them must fail here, not in production.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import * as undici from 'undici';
import { buildConnector, Pool } from '../src/upstream/undici-parts.js';

describe("undici's parts", () => {
  it('are the very classes and functions its index exports', () => {
    assert.equal(Pool, undici.Pool);
    assert.equal(buildConnector, undici.buildConnector);
  });

  it("gives pools undici's request API without its index", async () => {
    // A child process, so that nothing here has loaded undici's index first.
    const url = new URL('../src/upstream/undici-parts.js', import.meta.url).href;
    const script = `import { createRequire } from 'node:module';
const { Pool } = await import(${JSON.stringify(url)});
const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.endsWith('/undici/index.js'));
console.log(JSON.stringify({ loaded, request: typeof new Pool('http://127.0.0.1:1').request }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 }));
    assert.deepEqual(out, { loaded: false, request: 'function' });
  });
});
