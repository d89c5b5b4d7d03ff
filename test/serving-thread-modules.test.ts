// The serving thread loads only what serving needs: not the gRPC decoding (@bufbuild/protobuf, only the
// comparison thread decodes gRPC messages), not the config compiler and `yaml` (the loader worker builds
// snapshots), not undici's index (fetch, WebSocket, caches, mocks: only its Pool is used). Each is heap that
// every worker's mark-compact would walk (15.2 → 10.9 MB live for the last two).
// Checked with Node's own loader: a child process imports a module with a resolve hook that records every URL,
// and lists the CommonJS modules it loaded (require's cache: CommonJS requires do not pass the hook on Node 20).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

const dir = mkdtempSync(join(tmpdir(), 'sg-modules-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const hooks = join(dir, 'hooks.mjs');
writeFileSync(
  hooks,
  `import { appendFileSync } from 'node:fs';
let out;
export function initialize(file) { out = file; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(out, r.url + '\\n');
  return r;
}
`,
);

/** Every module URL the loader resolved while importing `module` (a path under dist/src), and every CommonJS file. */
function loadedBy(module: string): string[] {
  const out = join(dir, `${module.replaceAll('/', '_')}.txt`);
  writeFileSync(out, '');
  const url = new URL(`../src/${module}`, import.meta.url).href;
  const script = `import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
register(${JSON.stringify(pathToFileURL(hooks).href)}, { data: ${JSON.stringify(out)} });
await import(${JSON.stringify(url)});
appendFileSync(${JSON.stringify(out)}, Object.keys(createRequire(import.meta.url).cache).join('\\n') + '\\n');`;
  execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
  return readFileSync(out, 'utf8').split('\n').filter(Boolean);
}

const serve = loadedBy('cli/serve.js');

describe('modules the serving thread loads', () => {
  it('the comparison code the serving thread uses leaves @bufbuild/protobuf unloaded', () => {
    // The walk saw the serving thread's code (the gateway, the comparator's admin queries, the store, fleet/)…
    for (const m of ['gateway/gateway.js', 'comparator/queries.js', 'store/writes.js', 'fleet/fleet-verdict.js', 'compare/analyze.js'])
      assert.ok(
        serve.some((u) => u.endsWith(`/dist/src/${m}`)),
        `${m} loaded`,
      );
    // …and not the gRPC decoding.
    assert.deepEqual(
      serve.filter((u) => u.includes('@bufbuild')),
      [],
    );
  });

  it('the config compiler and yaml stay in the loader worker', () => {
    // The serving thread uses config's model, durations and problem formatting…
    for (const m of ['config/model.js', 'config/duration.js', 'config/problems.js'])
      assert.ok(
        serve.some((u) => u.endsWith(`/dist/src/${m}`)),
        `${m} loaded`,
      );
    // …not the parser, the snapshot builder or the YAML library.
    assert.deepEqual(
      serve.filter((u) => /\/dist\/src\/config\/(index|parse|snapshot|virtual-service|gateway-api\/)|\/node_modules\/yaml\//.test(u)),
      [],
    );
  });

  it("undici's Pool without its index", () => {
    assert.ok(serve.some((u) => u.endsWith('/undici/lib/dispatcher/pool.js')));
    assert.deepEqual(
      serve.filter((u) => /\/undici\/(index\.js|lib\/web\/|lib\/mock\/|lib\/cache\/)/.test(u)),
      [],
    );
  });

  it('compare/index loads it (the hook sees the library when it is loaded)', () => {
    assert.ok(loadedBy('compare/index.js').some((u) => u.includes('@bufbuild/protobuf')));
  });
});
