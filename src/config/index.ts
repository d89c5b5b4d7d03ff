// Public surface of config/: text in, a checked immutable snapshot out. Pure: no sockets, no clock, no files.
// Importing a value from here loads the whole compiler and the `yaml` parser. The serving thread never builds a
// snapshot from files (the loader worker does; the Kubernetes source, loaded only with --kubernetes, does its own),
// so its modules import values from config's own modules (model, duration, problems, source-limits) instead:
// ~1 MB less heap per worker (test/serving-thread-modules.test.ts).
import type { Problem, Snapshot } from './model.js';
import { parseSource, type RawResource, type SourceText } from './parse.js';
import { buildSnapshot, type SnapshotOptions } from './snapshot.js';

export { parseDurationMs } from './duration.js';
export {
  type CertificateCheck,
  CONTROLLER_NAME as DEFAULT_GATEWAY_CONTROLLER,
  type GatewayStatusAddress,
  withAddresses,
  withCertificateChecks,
} from './gateway-api/index.js';
export { clusterName, hostAliases, resolveHost } from './hosts.js';
export * from './model.js';
export { MAX_ALIAS_COUNT, MAX_SOURCE_BYTES, type RawResource, type SourceText } from './parse.js';
export { PROBLEM_CODES, type ProblemCode } from './problem-codes.js';
export { formatPath, formatProblem } from './problems.js';
export type { SnapshotOptions } from './snapshot.js';

/** Parses every source and builds one snapshot from all the resources in them, in order. */
export function loadSnapshot(
  sources: readonly SourceText[],
  extraProblems: readonly Problem[] = [],
  /** Resources from elsewhere (the Kubernetes API), after those of the files. */
  extraResources: readonly RawResource[] = [],
  /** What the caller makes of the files' resources before they are checked (sources/: Services as ServiceEntries). */
  prepare: (raw: readonly RawResource[]) => RawResource[] = (raw) => [...raw],
  options: SnapshotOptions = {},
): Snapshot {
  const raw: RawResource[] = [];
  const problems: Problem[] = [...extraProblems];
  for (const src of sources) {
    const r = parseSource(src);
    raw.push(...r.resources);
    problems.push(...r.problems);
  }
  return buildSnapshot([...prepare(raw), ...extraResources], problems, options);
}

export function hasErrors(snapshot: Snapshot): boolean {
  return snapshot.problems.some((p) => p.severity === 'error');
}
