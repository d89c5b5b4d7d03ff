// The `shadowgate` command: option tables in options.ts; heavy modules load lazily per command.
import { VERSION } from '../util/version.js';
import { COMMANDS, commandHelp, commandSpec, hostPort, overview, type Parsed, parseCommand, UsageError, type Values } from './options.js';

export { UsageError } from './options.js';

const str = (v: Values, k: string) => v[k] as string | undefined;
const list = (v: Values, k: string) => (v[k] as string[] | undefined) ?? [];

function outputOf(v: Values): 'text' | 'json' {
  const o = str(v, 'output');
  if (o !== 'text' && o !== 'json') throw new UsageError('--output must be text or json');
  return o;
}

/** `verdict --prometheus URL`: the fleet's verdict, from every replica's comparison metrics. */
async function fleetCommand(values: Values, prometheus: string, out: (s: string) => void): Promise<number> {
  if (str(values, 'admin') !== undefined || str(values, 'store') !== undefined || str(values, 'admin-token-file') !== undefined)
    throw new UsageError('--prometheus, --admin and --store are three sources: give one');
  if (str(values, 'since') !== undefined) throw new UsageError('with --prometheus, --window says how far back to sum (--since is for --admin and --store)');
  let url: URL;
  try {
    url = new URL(prometheus);
  } catch {
    throw new UsageError(`--prometheus takes a URL such as http://prometheus:9090, not "${prometheus}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--prometheus takes an http or https URL');
  const { checkSelector } = await import('../fleet/index.js');
  const selector = str(values, 'selector');
  if (selector !== undefined) {
    try {
      checkSelector(selector);
    } catch (e) {
      throw new UsageError(`--selector: ${(e as Error).message}`);
    }
  }
  let windowMs: number | undefined;
  const window = str(values, 'window');
  if (window !== undefined) {
    const { parseDurationMs } = await import('../config/index.js');
    windowMs = parseDurationMs(window);
    if (windowMs === undefined || windowMs < 1000) throw new UsageError(`--window takes a duration such as 30m or 2h, not "${window}"`);
  }
  const run = str(values, 'run');
  if (run !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(run)) throw new UsageError(`--run takes a run fingerprint (the run label on /metrics), not "${run}"`);
  const { runFleetVerdict } = await import('./fleet-verdict.js');
  return await runFleetVerdict(
    { url: prometheus, ...(selector === undefined ? {} : { selector }), ...(windowMs === undefined ? {} : { windowMs }) },
    { run, files: list(values, 'filename'), output: outputOf(values) },
    out,
    (s) => process.stderr.write(`${s}\n`),
  );
}

/** verdict, runs and samples: one source (--admin or --store), heavy modules loaded per command. */
async function compareCommand(command: 'verdict' | 'runs' | 'samples', { values, positionals }: Parsed, out: (s: string) => void): Promise<number> {
  const err = (s: string) => process.stderr.write(`${s}\n`);
  const admin = str(values, 'admin');
  const store = str(values, 'store');
  const prometheus = command === 'verdict' ? str(values, 'prometheus') : undefined;
  if (prometheus !== undefined) return fleetCommand(values, prometheus, out);
  if (str(values, 'selector') !== undefined || str(values, 'window') !== undefined) throw new UsageError('--selector and --window go with --prometheus');
  if (Boolean(admin) === Boolean(store)) throw new UsageError(`${command} needs one of --admin HOST:PORT or --store FILE`);
  if (admin) hostPort('--admin', admin);
  const tokenFile = str(values, 'admin-token-file');
  if (tokenFile !== undefined && !admin) throw new UsageError('--admin-token-file goes with --admin');
  const output = outputOf(values);
  const adminToken = tokenFile === undefined ? undefined : (await import('./token-file.js')).readTokenFile('--admin-token-file', tokenFile);
  const source = { admin, adminToken, store, files: list(values, 'filename') };
  const run = str(values, 'run');
  if (run !== undefined && !/^r[1-9]\d*$/.test(run)) throw new UsageError(`--run takes a run id such as r3 (see shadowgate runs), not "${run}"`);
  if (command === 'verdict') {
    let sinceMs: number | undefined;
    const since = str(values, 'since');
    if (since !== undefined) {
      const { parseDurationMs } = await import('../config/index.js');
      sinceMs = parseDurationMs(since);
      if (sinceMs === undefined || sinceMs <= 0) throw new UsageError(`--since takes a duration such as 30m or 2h, not "${since}"`);
      if (run !== undefined) throw new UsageError('--run and --since choose runs two ways: give one');
    }
    const { runVerdict } = await import('./verdict.js');
    return await runVerdict({ ...source, run, sinceMs, output }, out, err);
  }
  if (command === 'runs') {
    const start = positionals[0] === 'start';
    const note = str(values, 'note');
    const route = str(values, 'route');
    if ((note !== undefined || route !== undefined) && !start) throw new UsageError('--note and --route go with "runs start"');
    const { runRuns } = await import('./runs.js');
    return await runRuns({ ...source, start, note, route, output }, out, err);
  }
  const field = str(values, 'field');
  if (field === undefined || field === '') throw new UsageError('samples needs --field F (a field as the verdict names it, e.g. body.total)');
  const limit = Number(str(values, 'limit'));
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError('--limit must be from 1 to 500');
  const { runSamples } = await import('./samples.js');
  return await runSamples({ ...source, field, endpoint: str(values, 'endpoint'), run, limit, output }, out, err);
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const spec = command === undefined ? undefined : commandSpec(command);
  try {
    if (!spec) {
      switch (command) {
        case undefined:
          process.stderr.write(overview());
          return 2;
        case '-h':
        case '--help':
        case 'help':
          if (rest[0] && commandSpec(rest[0])) out(commandHelp(commandSpec(rest[0])!));
          else out(overview());
          return 0;
        case '-v':
        case '--version':
        case 'version':
          out(`shadowgate ${VERSION}`);
          return 0;
        default:
          throw new UsageError(`unknown command "${command}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
      }
    }
    const parsed = parseCommand(spec, rest);
    if (!parsed) {
      out(commandHelp(spec));
      return 0;
    }
    const { values } = parsed;
    switch (spec.name) {
      case 'validate': {
        const files = list(values, 'filename');
        if (files.length === 0) throw new UsageError('validate needs at least one -f PATH');
        const failureThreshold = str(values, 'failure-threshold');
        if (failureThreshold !== 'warning' && failureThreshold !== 'error') throw new UsageError('--failure-threshold must be warning or error');
        const { runValidate } = await import('./validate.js');
        return await runValidate({ files, output: outputOf(values), failureThreshold }, out);
      }
      case 'demo': {
        const requests = Number(str(values, 'requests'));
        if (!Number.isInteger(requests) || requests < 1 || requests > 100) throw new UsageError('--requests must be from 1 to 100');
        const { runDemo } = await import('../demo/index.js');
        return await runDemo({ keep: values.keep === true, requests, out });
      }
      case 'verdict':
      case 'runs':
      case 'samples':
        return await compareCommand(spec.name, parsed, out);
      case 'serve': {
        const { runServe } = await import('./serve.js');
        return await runServe(values);
      }
      default:
        throw new Error(`no handler for command ${spec.name}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      const hint = spec ? `shadowgate ${spec.name} --help` : 'shadowgate --help';
      process.stderr.write(`shadowgate: ${err.message}\nRun '${hint}' for usage.\n`);
      return 2;
    }
    throw err;
  }
}
