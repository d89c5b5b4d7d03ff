// The `shadowgate` command: a thin typed layer over node:util parseArgs; heavy modules load lazily per command.
import { parseArgs } from 'node:util';

const USAGE = `Usage: shadowgate <command> [options]

Commands:
  demo [--keep]                  replay the article's three steps (mirroring to v2) on this machine
  validate -f PATH...            check Istio resources and print their problems
  serve -f PATH... [options]     route, balance and mirror live HTTP traffic
  verdict (--admin HOST:PORT | --store FILE)
                                 PASS / FAIL / INCONCLUSIVE on the compared answers
                                 (exit 0 / 1 / 3; 4 when there is nothing to read)

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
  --kubeconfig FILE              kubeconfig for --kubernetes (default: the pod's service account,
                                 else $KUBECONFIG, else ~/.kube/config)
  --context NAME                 kubeconfig context for --kubernetes (default: its current-context)

Options for verdict:
  --admin HOST:PORT              ask a running gateway
  --store FILE                   read a comparison store (offline)
  -f, --filename PATH            config whose ShadowgateConfig thresholds apply (with --store)
  -o, --output text|json         output format (default text)

  -h, --help                     show this help
`;

export class UsageError extends Error {}

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
      case 'verdict': {
        const { values } = parseArgs({
          args: rest,
          options: {
            admin: { type: 'string' },
            store: { type: 'string' },
            filename: { type: 'string', short: 'f', multiple: true },
            output: { type: 'string', short: 'o', default: 'text' },
          },
        });
        if (Boolean(values.admin) === Boolean(values.store)) throw new UsageError('verdict needs one of --admin HOST:PORT or --store FILE');
        if (values.output !== 'text' && values.output !== 'json') throw new UsageError('--output must be text or json');
        const { runVerdict } = await import('./verdict.js');
        return await runVerdict(
          { admin: values.admin, store: values.store, files: values.filename ?? [], output: values.output },
          out,
          (s) => process.stderr.write(`${s}\n`),
        );
      }
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
