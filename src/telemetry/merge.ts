// Merges the Prometheus expositions of several worker processes into one: counters, histograms and gauges of
// things each worker holds (in flight, buffered bytes) add up; gauges that describe the shared config do not.

/**
 * Families every worker reports identically: they describe the config, the build, or the comparison store the
 * workers share (its runs' aggregates, read at scrape time: the latest read is the largest, so max is taken).
 */
const SAME_IN_EVERY_WORKER = new Set([
  'shadowgate_config_problems',
  'shadowgate_build_info',
  'nodejs_version_info',
  'shadowgate_compare_run_info',
  'shadowgate_compare_run_open',
  'shadowgate_compare_requests_total',
  'shadowgate_compare_baseline_requests_total',
  'shadowgate_compare_errors_total',
  'shadowgate_compare_differences_total',
  'shadowgate_compare_difference_kinds_total',
  'shadowgate_compare_latency_milliseconds',
]);
/** Gauges where one worker's 0 is the whole gateway's (a reload one worker rejected is a rejected reload). */
const LOWEST_OF_WORKERS = new Set([
  'shadowgate_config_last_reload_success',
  'process_start_time_seconds',
  // The certificate a server presents: a worker still on the older one (mid-rotation) is the one to alert on.
  'shadowgate_tls_certificate_expiry_timestamp_seconds',
]);

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$/;

export function mergeExpositions(texts: readonly string[]): string {
  const meta: string[] = [];
  const seenMeta = new Set<string>();
  /** family → its lines, in first-seen order */
  const order: string[] = [];
  const families = new Map<string, { meta: string[]; samples: Map<string, number> }>();
  let family = '';
  const familyOf = (name: string) => {
    let f = families.get(name);
    if (!f) {
      f = { meta: [], samples: new Map() };
      families.set(name, f);
      order.push(name);
    }
    return f;
  };
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('#')) {
        const [, kind, name] = line.split(' ');
        if ((kind === 'HELP' || kind === 'TYPE') && name) {
          family = name;
          const f = familyOf(name);
          if (!seenMeta.has(`${kind} ${name}`)) {
            seenMeta.add(`${kind} ${name}`);
            f.meta.push(line);
          }
        } else if (!seenMeta.has(line)) {
          seenMeta.add(line);
          meta.push(line);
        }
        continue;
      }
      const m = SAMPLE.exec(line);
      if (!m) continue;
      const key = `${m[1]}${m[2] ?? ''}`;
      const value = Number(m[3]);
      const f = familyOf(family || m[1]!);
      const prev = f.samples.get(key);
      if (prev === undefined) f.samples.set(key, value);
      else if (LOWEST_OF_WORKERS.has(family)) f.samples.set(key, Math.min(prev, value));
      else f.samples.set(key, SAME_IN_EVERY_WORKER.has(family) ? Math.max(prev, value) : prev + value);
    }
  }
  const out = [...meta];
  for (const name of order) {
    const f = families.get(name)!;
    out.push(...f.meta);
    for (const [key, value] of f.samples) out.push(`${key} ${value}`);
  }
  return `${out.join('\n')}\n`;
}
