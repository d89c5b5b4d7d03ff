// The `shadowgate` command: option tables in options.ts; heavy modules load lazily per command.
import { VERSION } from '../util/version.js';
import { COMMANDS, commandHelp, commandSpec, hostPort, overview, parseCommand, UsageError, type Values } from './options.js';

export { UsageError } from './options.js';

const str = (v: Values, k: string) => v[k] as string | undefined;
const list = (v: Values, k: string) => (v[k] as string[] | undefined) ?? [];

function outputOf(v: Values): 'text' | 'json' {
  const o = str(v, 'output');
  if (o !== 'text' && o !== 'json') throw new UsageError('--output must be text or json');
  return o;
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
    const values = parseCommand(spec, rest);
    if (!values) {
      out(commandHelp(spec));
      return 0;
    }
    switch (spec.name) {
      case 'validate': {
        const files = list(values, 'filename');
        if (files.length === 0) throw new UsageError('validate needs at least one -f PATH');
        const { runValidate } = await import('./validate.js');
        return runValidate({ files, output: outputOf(values) }, out);
      }
      case 'demo': {
        const requests = Number(str(values, 'requests'));
        if (!Number.isInteger(requests) || requests < 1 || requests > 100) throw new UsageError('--requests must be from 1 to 100');
        const { runDemo } = await import('../demo/index.js');
        return await runDemo({ keep: values.keep === true, requests, out });
      }
      case 'verdict': {
        const admin = str(values, 'admin');
        const store = str(values, 'store');
        if (Boolean(admin) === Boolean(store)) throw new UsageError('verdict needs one of --admin HOST:PORT or --store FILE');
        if (admin) hostPort('--admin', admin);
        const output = outputOf(values);
        const { runVerdict } = await import('./verdict.js');
        return await runVerdict({ admin, store, files: list(values, 'filename'), output }, out, (s) => process.stderr.write(`${s}\n`));
      }
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
