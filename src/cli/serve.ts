// `shadowgate serve`: run the gateway until SIGTERM/SIGINT, then drain and exit 0.
import { parseArgs } from 'node:util';
import { parseDurationMs, type MirrorSettings } from '../config/index.js';
import { Gateway } from '../gateway/index.js';
import { openAccessLog } from '../telemetry/index.js';
import { UsageError } from './index.js';

function duration(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0) throw new UsageError(`${flag} must be a duration like 500ms or 5s, not "${text}"`);
  return ms;
}

function count(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be a whole number, not "${text}"`);
  return n;
}

export async function runServe(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      bind: { type: 'string', default: '0.0.0.0' },
      admin: { type: 'string', default: '127.0.0.1:15000' },
      'shadow-timeout': { type: 'string' },
      'shadow-max-body': { type: 'string' },
      'shadow-max-total': { type: 'string' },
      'shadow-max-in-flight': { type: 'string' },
      'shadow-host-suffix': { type: 'boolean' },
      'drain-timeout': { type: 'string', default: '10s' },
      'access-log': { type: 'string', default: '-' },
      store: { type: 'string', default: 'shadowgate.db' },
      'no-watch': { type: 'boolean' },
    },
  });
  const files = values.filename ?? [];
  if (files.length === 0) throw new UsageError('serve needs at least one -f PATH');
  const overrides: Partial<MirrorSettings> = {};
  const set = <K extends keyof MirrorSettings>(k: K, v: MirrorSettings[K] | undefined) => {
    if (v !== undefined) overrides[k] = v;
  };
  set('timeoutMs', duration('--shadow-timeout', values['shadow-timeout']));
  set('maxBodyBytes', count('--shadow-max-body', values['shadow-max-body']));
  set('maxTotalBodyBytes', count('--shadow-max-total', values['shadow-max-total']));
  set('maxInFlight', count('--shadow-max-in-flight', values['shadow-max-in-flight']));
  if (values['shadow-host-suffix']) overrides.hostSuffix = true;

  let gateway: Gateway;
  try {
    gateway = await Gateway.start({
      files,
      bind: values.bind,
      admin: values.admin,
      mirrorOverrides: overrides,
      drainTimeoutMs: duration('--drain-timeout', values['drain-timeout']),
      accessLog: openAccessLog(values['access-log']),
      store: values.store === 'off' ? undefined : values.store,
      watch: !values['no-watch'],
    });
  } catch (err) {
    process.stderr.write(`shadowgate: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  const hosts = gateway.snapshot.listeners.map((l) => `${l.port}: ${l.virtualHosts.map((v) => v.host).join(', ')}`).join('; ');
  process.stderr.write(
    `shadowgate: ready: listening on ${gateway.addresses().join(', ') || '(no service ports)'} [${hosts}], admin http://${gateway.adminAddress}\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stderr.write(`shadowgate: ${signal}: draining\n`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await gateway.shutdown();
  process.stderr.write('shadowgate: stopped\n');
  return 0;
}
