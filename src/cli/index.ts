// The `shadowgate` command: a thin typed layer over node:util parseArgs; heavy modules load lazily per command.
import { parseArgs } from 'node:util';

const USAGE = `Usage: shadowgate <command> [options]

Commands:
  demo [--keep]                  replay the article's three steps (mirroring to v2) on this machine
  validate -f PATH...            check Istio resources and print their problems
  serve -f PATH... [options]     route, balance and mirror live HTTP traffic
  verdict (--admin HOST:PORT | --store FILE) [--run ID | --since DURATION]
                                 PASS / FAIL / INCONCLUSIVE on the compared answers
                                 (exit 0 / 1 / 3; 4 when there is nothing to read)
  runs (--admin HOST:PORT | --store FILE)
                                 list the comparison runs (candidate vs primary per route)
  runs start --admin HOST:PORT [--note TEXT] [--route ROUTE]
                                 end the open runs and start new ones (on every mirrored route)
  samples --field F [--endpoint E] [--run ID] (--admin HOST:PORT | --store FILE)
                                 kept exchanges differing at F, primary and candidate side by side

Options for demo:
  --keep                         leave everything running afterwards (Ctrl-C stops)
  --requests N                   requests per step (default 3)

Options for validate:
  -f, --filename PATH            file or directory (repeatable)
  -o, --output text|json         output format (default text)

Options for serve:
  -f, --filename PATH            file or directory (repeatable); watched and hot-reloaded
  --bind ADDRESS                 address for service ports (default 0.0.0.0)
  --admin HOST:PORT              admin listener (default 127.0.0.1:15000)
  --shadow-timeout DURATION      per-shadow timeout (default 5s)
  --shadow-max-body BYTES        body bytes buffered per shadow (default 1048576)
  --shadow-max-total BYTES       body bytes buffered across shadows (default 67108864)
  --shadow-max-in-flight N       shadows in flight (default 1000)
  --shadow-host-suffix           append "-shadow" to the shadow's Host, as classic Envoy
  --drain-timeout DURATION       time to finish requests on SIGTERM (default 10s)
  --access-log PATH|-|off        JSON access log destination (default -: stdout)
  --store PATH|off               SQLite file for comparison results (default shadowgate.db)
  --workers N                    processes sharing the service ports (default: one per core)
  --kubernetes [--namespace NS]  also watch the Kubernetes API (VirtualService, DestinationRule,
                                 ServiceEntry, WorkloadEntry, Service, EndpointSlice, Pod)
  --kubernetes-listen taken-over|all
                                 listen on the ports of taken-over Services only (default), or of all

Options for verdict, runs and samples:
  --admin HOST:PORT              ask a running gateway
  --store FILE                   read a comparison store (offline)
  -f, --filename PATH            config whose ShadowgateConfig thresholds apply (with --store)
  --run ID                       one run (default: the latest run of each candidate; samples: the newest)
  --since DURATION               verdict: every run open within DURATION (e.g. 2h)
  --limit N                      samples: at most N per endpoint (default 5)
  -o, --output text|json         output format (default text)

  -h, --help                     show this help
`;

export class UsageError extends Error {}

const COMPARE_OPTIONS = {
  admin: { type: 'string' },
  store: { type: 'string' },
  filename: { type: 'string', short: 'f', multiple: true },
  output: { type: 'string', short: 'o', default: 'text' },
  run: { type: 'string' },
  since: { type: 'string' },
  note: { type: 'string' },
  route: { type: 'string' },
  field: { type: 'string' },
  endpoint: { type: 'string' },
  limit: { type: 'string', default: '5' },
} as const;

/** verdict, runs and samples: one option table, one source (--admin or --store), heavy modules loaded per command. */
async function compareCommand(command: 'verdict' | 'runs' | 'samples', rest: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args: rest, options: COMPARE_OPTIONS, allowPositionals: command === 'runs' });
  const err = (s: string) => process.stderr.write(`${s}\n`);
  if (Boolean(values.admin) === Boolean(values.store)) throw new UsageError(`${command} needs one of --admin HOST:PORT or --store FILE`);
  if (values.output !== 'text' && values.output !== 'json') throw new UsageError('--output must be text or json');
  const output = values.output;
  const source = { admin: values.admin, store: values.store, files: values.filename ?? [] };
  if (values.run !== undefined && !/^r[1-9]\d*$/.test(values.run)) throw new UsageError(`--run takes a run id such as r3 (see shadowgate runs), not "${values.run}"`);
  if (command === 'verdict') {
    let sinceMs: number | undefined;
    if (values.since !== undefined) {
      const { parseDurationMs } = await import('../config/index.js');
      sinceMs = parseDurationMs(values.since);
      if (sinceMs === undefined || sinceMs <= 0) throw new UsageError(`--since takes a duration such as 30m or 2h, not "${values.since}"`);
      if (values.run !== undefined) throw new UsageError('--run and --since choose runs two ways: give one');
    }
    const { runVerdict } = await import('./verdict.js');
    return await runVerdict({ ...source, run: values.run, sinceMs, output }, out, err);
  }
  if (command === 'runs') {
    const start = positionals[0] === 'start';
    if (positionals.length > 1 || (positionals.length === 1 && !start)) throw new UsageError(`runs takes "start" or nothing, not "${positionals.join(' ')}"`);
    if ((values.note !== undefined || values.route !== undefined) && !start) throw new UsageError('--note and --route go with "runs start"');
    const { runRuns } = await import('./runs.js');
    return await runRuns({ ...source, start, note: values.note, route: values.route, output }, out, err);
  }
  if (values.field === undefined || values.field === '') throw new UsageError('samples needs --field F (a field as the verdict names it, e.g. body.total)');
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError('--limit must be from 1 to 500');
  const { runSamples } = await import('./samples.js');
  return await runSamples({ ...source, field: values.field, endpoint: values.endpoint, run: values.run, limit, output }, out, err);
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const out = (s: string) => process.stdout.write(`${s}\n`);
  try {
    switch (command) {
      case 'validate': {
        const { values } = parseArgs({
          args: rest,
          options: {
            filename: { type: 'string', short: 'f', multiple: true },
            output: { type: 'string', short: 'o', default: 'text' },
          },
        });
        const files = values.filename ?? [];
        if (files.length === 0) throw new UsageError('validate needs at least one -f PATH');
        if (values.output !== 'text' && values.output !== 'json') throw new UsageError('--output must be text or json');
        const { runValidate } = await import('./validate.js');
        return runValidate({ files, output: values.output }, out);
      }
      case 'demo': {
        const { values } = parseArgs({ args: rest, options: { keep: { type: 'boolean' }, requests: { type: 'string', default: '3' } } });
        const requests = Number(values.requests);
        if (!Number.isInteger(requests) || requests < 1 || requests > 100) throw new UsageError('--requests must be from 1 to 100');
        const { runDemo } = await import('../demo/index.js');
        return await runDemo({ keep: values.keep ?? false, requests, out });
      }
      case 'verdict':
      case 'runs':
      case 'samples':
        return await compareCommand(command, rest, out);
      case 'serve': {
        const { runServe } = await import('./serve.js');
        return await runServe(rest);
      }
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`shadowgate: ${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}
