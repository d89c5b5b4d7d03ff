// The CLI's declarative option tables: one per command, from which parsing, each command's --help and the
// overview are all made, so an option cannot exist without its help line (as vitest's cli-config does).
import { parseArgs } from 'node:util';

export class UsageError extends Error {}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string;
  /** The value's placeholder in the help, e.g. PATH. */
  arg?: string;
  help: string;
}

export interface CommandSpec {
  name: string;
  /** What follows the command name in the overview, e.g. "-f PATH... [options]". */
  synopsis: string;
  summary: string;
  options: Record<string, OptionSpec>;
  /** Free-form lines printed after the options (exit codes and the like). */
  notes?: string[];
  /** Words allowed after the command (e.g. `runs start`); none by default. */
  positionals?: readonly string[];
}

const output: OptionSpec = { type: 'string', short: 'o', default: 'text', arg: 'text|json', help: 'output format' };
/** Where verdict, runs and samples read from: a running gateway or a store file. */
const SOURCE_OPTIONS: Record<string, OptionSpec> = {
  admin: { type: 'string', arg: 'HOST:PORT', help: 'ask a running gateway' },
  'admin-token-file': { type: 'string', arg: 'PATH', help: 'with --admin: the token its admin listener requires (serve --admin-token-file)' },
  store: { type: 'string', arg: 'FILE', help: 'read a comparison store (offline)' },
};

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'demo',
    synopsis: '[--keep]',
    summary: "replay the article's three steps (mirroring to v2) on this machine",
    options: {
      keep: { type: 'boolean', help: 'leave everything running afterwards (Ctrl-C stops)' },
      requests: { type: 'string', default: '3', arg: 'N', help: 'requests per step, 1 to 100' },
    },
  },
  {
    name: 'validate',
    synopsis: '-f PATH...',
    summary: 'check Istio resources and print their problems',
    options: {
      filename: { type: 'string', short: 'f', multiple: true, arg: 'PATH', help: 'file or directory, read recursively (repeatable)' },
      'failure-threshold': { type: 'string', default: 'error', arg: 'warning|error', help: 'exit 1 when a problem this severe or worse exists' },
      output,
    },
    notes: ['Exit status: 0 valid, 1 a problem at or above the failure threshold (or no resource at all), 2 usage error.'],
  },
  {
    name: 'serve',
    synopsis: '-f PATH... [options]',
    summary: 'route, balance and mirror live HTTP traffic',
    options: {
      filename: { type: 'string', short: 'f', multiple: true, arg: 'PATH', help: 'file or directory, read recursively (repeatable); watched and hot-reloaded' },
      'no-watch': { type: 'boolean', help: 'read the files once; do not reload them on change' },
      bind: { type: 'string', default: '0.0.0.0', arg: 'ADDRESS', help: 'address for service ports' },
      admin: { type: 'string', default: '127.0.0.1:15000', arg: 'HOST:PORT', help: 'admin listener' },
      'admin-allowed-hosts': {
        type: 'string',
        multiple: true,
        arg: 'NAMES',
        help: 'Host names the admin listener also answers (comma-separated, repeatable; .domain: it and its subdomains); loopback names, IP addresses and the --admin name always pass, others get 403',
      },
      'admin-token-file': {
        type: 'string',
        arg: 'PATH',
        help: 'a file holding the token the admin UI, API and /config_dump require (Authorization: Bearer TOKEN, or Basic with it as password)',
      },
      'admin-token-scope': { type: 'string', default: 'api', arg: 'api|all', help: 'with --admin-token-file, all: /metrics, /ready and /healthz want it too' },
      'shadow-timeout': { type: 'string', arg: 'DURATION', help: 'per-shadow timeout (default 5s)' },
      'shadow-max-body': { type: 'string', arg: 'BYTES', help: 'body bytes buffered per shadow (default 1048576)' },
      'shadow-max-total': { type: 'string', arg: 'BYTES', help: 'body bytes buffered across shadows (default 67108864)' },
      'shadow-max-in-flight': { type: 'string', arg: 'N', help: 'shadows in flight (default 1000)' },
      'shadow-host-suffix': { type: 'boolean', help: 'append "-shadow" to the shadow\'s Host, as classic Envoy' },
      'drain-timeout': { type: 'string', default: '10s', arg: 'DURATION', help: 'time to finish requests on SIGTERM' },
      'access-log': { type: 'string', default: '-', arg: 'PATH|-|off', help: 'JSON access log destination (-: stdout)' },
      store: { type: 'string', default: 'shadowgate.db', arg: 'PATH|off', help: 'SQLite file for comparison results' },
      workers: { type: 'string', arg: 'N', help: 'processes sharing the service ports (default: one per core)' },
      kubernetes: {
        type: 'boolean',
        help: 'also watch the Kubernetes API (VirtualService, DestinationRule, ServiceEntry, WorkloadEntry, Service, EndpointSlice, Pod)',
      },
      namespace: { type: 'string', arg: 'NS', help: 'with --kubernetes: watch only this namespace' },
      'path-normalization': {
        type: 'string',
        default: 'MERGE_SLASHES',
        arg: 'MODE',
        help: "paths normalised before routing: NONE, BASE (Istio's default), MERGE_SLASHES, DECODE_AND_MERGE_SLASHES",
      },
      'max-request-headers': { type: 'string', arg: 'N', help: 'more request headers: 431, as Envoy (default 100)' },
      'header-timeout': { type: 'string', arg: 'DURATION', help: 'a request head not complete in this time: 408 and close (default 60s)' },
      'body-idle-timeout': { type: 'string', arg: 'DURATION', help: 'no request-body byte for this long: 408 and close (default 60s)' },
      'upgrade-idle-timeout': {
        type: 'string',
        arg: 'DURATION',
        help: 'an upgraded (WebSocket) connection with no byte either way for this long: closed (default 5m)',
      },
      'max-connections': {
        type: 'string',
        arg: 'N',
        help: 'downstream connections per process; 0: no cap (default half the open-file limit, at most 10000)',
      },
      'kubernetes-listen': {
        type: 'string',
        default: 'taken-over',
        arg: 'taken-over|all',
        help: 'with --kubernetes: listen on the ports of taken-over Services only, or of all',
      },
      'config-load-timeout': { type: 'string', arg: 'DURATION', help: 'time to read and check the config; a load past it is refused (default 30s)' },
      'config-load-heap': { type: 'string', arg: 'MIB', help: 'heap for reading and checking the config; a load past it is refused (default 512)' },
      kubeconfig: {
        type: 'string',
        arg: 'FILE',
        help: "with --kubernetes: the kubeconfig to read (default: the pod's service account, else $KUBECONFIG, else ~/.kube/config)",
      },
      context: { type: 'string', arg: 'NAME', help: 'with --kubernetes: the kubeconfig context to use (default: its current-context)' },
      'config-map': {
        type: 'string',
        default: 'shadowgate',
        arg: '[NS/]NAME|off',
        help: "with --kubernetes: the ConfigMap whose key holds a ShadowgateConfig, watched (default namespace: --namespace, else the kubeconfig context's)",
      },
      'gateway-controller-name': {
        type: 'string',
        default: 'shadowgate.dev/gateway-controller',
        arg: 'NAME',
        help: 'the GatewayClass controllerName Shadowgate serves, and writes Gateway API status as (with --kubernetes)',
      },
      'config-map-key': { type: 'string', default: 'config.yaml', arg: 'KEY', help: 'with --kubernetes: the key of --config-map holding the ShadowgateConfig' },
      prometheus: { type: 'string', arg: 'URL', help: 'a Prometheus scraping every replica: /api/gate and /api/verdict judge the fleet there' },
      'prometheus-selector': { type: 'string', arg: 'LABELS', help: 'with --prometheus: label matchers of this fleet\'s series, e.g. job="shadowgate"' },
      'prometheus-window': { type: 'string', arg: 'DURATION', help: 'with --prometheus: how far back the gate sums (default 1h)' },
      'run-metrics-retention': { type: 'string', arg: 'DURATION', help: 'ended comparison runs stay on /metrics this long (default 10m)' },
    },
    notes: [
      'Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the config (a deleted file is removed only then).',
      'Exit status: 1 when it cannot start (a busy port, an unusable store, a config past its load budget).',
    ],
  },
  {
    name: 'verdict',
    synopsis: '(--admin HOST:PORT | --store FILE | --prometheus URL) [--run ID | --since DURATION]',
    summary: 'PASS / FAIL / INCONCLUSIVE on the compared answers',
    options: {
      ...SOURCE_OPTIONS,
      prometheus: { type: 'string', arg: 'URL', help: "sum every replica's comparison metrics in this Prometheus (the fleet verdict)" },
      selector: { type: 'string', arg: 'LABELS', help: 'with --prometheus: label matchers, e.g. job="shadowgate",namespace="test"' },
      window: { type: 'string', arg: 'DURATION', help: 'with --prometheus: how far back to sum (default 1h)' },
      filename: { type: 'string', short: 'f', multiple: true, arg: 'PATH', help: 'config whose ShadowgateConfig thresholds apply (with --store)' },
      run: { type: 'string', arg: 'ID', help: 'judge this run (default: the latest run of each candidate; with --prometheus, its fingerprint)' },
      since: { type: 'string', arg: 'DURATION', help: 'judge every run open within DURATION (e.g. 2h)' },
      output,
    },
    notes: ['Exit status: 0 PASS, 1 FAIL, 3 INCONCLUSIVE, 4 nothing to read, 2 usage error.'],
  },
  {
    name: 'runs',
    synopsis: '(--admin HOST:PORT | --store FILE) | runs start --admin HOST:PORT [--note TEXT]',
    summary: 'list the comparison runs (candidate vs primary per route), or start new ones',
    positionals: ['start'],
    options: {
      ...SOURCE_OPTIONS,
      note: { type: 'string', arg: 'TEXT', help: 'with start: a note kept with the new runs' },
      route: { type: 'string', arg: 'ROUTE', help: 'with start: only this route (default: every mirrored route)' },
      output,
    },
  },
  {
    name: 'samples',
    synopsis: '--field F [--endpoint E] [--run ID] (--admin HOST:PORT | --store FILE)',
    summary: 'kept exchanges differing at a field, request and answers side by side',
    options: {
      ...SOURCE_OPTIONS,
      field: { type: 'string', arg: 'F', help: 'a field as the verdict names it, e.g. body.total' },
      endpoint: { type: 'string', arg: 'E', help: 'an endpoint id or name (default: every endpoint)' },
      run: { type: 'string', arg: 'ID', help: 'a run (default: the newest)' },
      limit: { type: 'string', default: '5', arg: 'N', help: 'at most N per endpoint, 1 to 500' },
      output,
    },
  },
];

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', help: 'show this help' };

export function commandSpec(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  return Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.arg ? ` ${o.arg}` : ''}`;
    const help = `${o.help}${o.default !== undefined ? ` (default ${o.default})` : ''}`;
    return flag.length < 32 ? `  ${flag.padEnd(32)} ${help}` : `  ${flag}\n  ${''.padEnd(32)} ${help}`;
  });
}

export function commandHelp(spec: CommandSpec): string {
  return [
    `Usage: shadowgate ${spec.name} ${spec.synopsis}`,
    '',
    `${spec.summary[0]!.toUpperCase()}${spec.summary.slice(1)}.`,
    '',
    'Options:',
    ...optionLines({ ...spec.options, help: HELP_OPTION }),
    ...(spec.notes ? ['', ...spec.notes] : []),
    '',
  ].join('\n');
}

export function overview(): string {
  return [
    'Usage: shadowgate <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => {
      const head = `${c.name} ${c.synopsis}`;
      return head.length < 32 ? `  ${head.padEnd(32)} ${c.summary}` : `  ${head}\n  ${''.padEnd(32)} ${c.summary}`;
    }),
    '',
    "Run 'shadowgate <command> --help' for a command's options.",
    '  -h, --help                       show this help',
    '  -v, --version                    print the version',
    '',
  ].join('\n');
}

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Parsed {
  values: Values;
  positionals: string[];
}

/**
 * Parses a command's arguments against its table. Returns undefined when --help was asked (the caller prints
 * the help). A single-value option given twice is a usage error: silently keeping the last one hides typos
 * in long command lines.
 */
export function parseCommand(spec: CommandSpec, argv: string[]): Parsed | undefined {
  const options: Record<string, OptionSpec> = { ...spec.options, help: HELP_OPTION };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, tokens: true, allowPositionals: (spec.positionals?.length ?? 0) > 0, strict: true });
  } catch (err) {
    // node's own messages carry a hint about '--' that does not apply here.
    const message = (err as Error).message.split('. ')[0]!.replace(/\.$/, '');
    throw new UsageError(message);
  }
  if (parsed.values.help) return undefined;
  const seen = new Set<string>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option' || options[t.name]?.multiple) continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} was given more than once`);
    seen.add(t.name);
  }
  const positionals = parsed.positionals;
  if (positionals.length > 1 || (positionals.length === 1 && !spec.positionals?.includes(positionals[0]!))) {
    throw new UsageError(`${spec.name} takes ${spec.positionals!.map((p) => `"${p}"`).join(' or ')} or nothing, not "${positionals.join(' ')}"`);
  }
  return { values: parsed.values as Values, positionals };
}

/** HOST:PORT, checked where it is given: a bare port or a missing host is a usage error, not a failed start. */
export function hostPort(flag: string, text: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) throw new UsageError(`${flag} must be HOST:PORT (e.g. 127.0.0.1:15000), not "${text}"`);
  return text;
}
