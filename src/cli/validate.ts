// `shadowgate validate`: load, check and report, without serving anything. The load runs in the same bounded
// worker as `serve`'s (issue 15: a config bomb once took `validate` 20 s and 3 GB).
import { formatProblem, type Problem } from '../config/index.js';
import { DEFAULT_LOAD_BUDGET, type LoadBudget, loadConfig } from '../sources/index.js';
import { inspectServerTls } from '../tls/index.js';

export interface ValidateOptions {
  files: string[];
  output: 'text' | 'json';
  /** Exit 1 when a problem at or above this severity exists (istioctl analyze's --failure-threshold; default error). */
  failureThreshold?: 'warning' | 'error';
  budget?: LoadBudget;
}

const RANK: Record<Problem['severity'], number> = { error: 0, warning: 1, info: 2 };

/** Problems in reading order: by file, line and column, as compilers and `istioctl analyze` list them; then by severity. */
export function sortProblems(problems: readonly Problem[]): Problem[] {
  return [...problems].sort(
    (a, b) =>
      (a.file ?? '').localeCompare(b.file ?? '') || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0) || RANK[a.severity] - RANK[b.severity],
  );
}

export async function runValidate(opts: ValidateOptions, out: (s: string) => void): Promise<number> {
  const loaded = await loadConfig({ files: opts.files }, opts.budget ?? DEFAULT_LOAD_BUDGET);
  if (loaded.type === 'refused') {
    const problem: Problem = { severity: 'error', code: `config-load-${loaded.reason}`, message: loaded.message };
    out(opts.output === 'json' ? JSON.stringify({ valid: false, problems: [problem] }, null, 2) : formatProblem(problem));
    return 1;
  }
  const snapshot = loaded.snapshot!;
  const read = { files: loaded.files };
  // The servers' certificates as `serve` would read them: unreadable, not matching, expired, expiring, SANs.
  const now = Date.now();
  const tlsProblems = snapshot.listeners.flatMap((l) => (l.tls ?? []).flatMap((t) => (t.credentialName ? [] : inspectServerTls(t, now).problems)));
  const problems = sortProblems([...snapshot.problems, ...tlsProblems]);
  // `kubectl apply -f` with nothing to apply fails ("no objects passed to apply"): "0/0 accepted" and exit 0
  // would be a false green for a mistyped path or a tree of files Shadowgate does not read.
  if (snapshot.resources.length === 0 && !problems.some((p) => p.severity === 'error')) {
    problems.push({ severity: 'error', code: 'no-resources', message: `no resource Shadowgate reads in ${opts.files.join(', ')}` });
  }
  const errors = problems.filter((p) => p.severity === 'error').length;
  const warnings = problems.filter((p) => p.severity === 'warning').length;
  const failed = problems.some((p) => RANK[p.severity] <= RANK[opts.failureThreshold ?? 'error']);
  if (opts.output === 'json') {
    out(
      JSON.stringify(
        {
          valid: errors === 0,
          hash: snapshot.hash,
          resources: snapshot.resources,
          problems,
          listeners: snapshot.listeners.map((l) => ({ port: l.port, hosts: l.virtualHosts.map((v) => v.host) })),
          clusters: Object.values(snapshot.clusters).map((c) => ({ name: c.name, endpoints: c.endpoints.length })),
        },
        null,
        2,
      ),
    );
  } else {
    for (const p of problems) out(formatProblem(p));
    const accepted = snapshot.resources.filter((r) => r.accepted).length;
    const routes = snapshot.listeners.reduce((n, l) => n + l.virtualHosts.reduce((m, v) => m + v.routes.length, 0), 0);
    out(
      `${read.files.length} file(s), ${accepted}/${snapshot.resources.length} resource(s) accepted, ` +
        `${snapshot.listeners.length} listener(s), ${routes} route(s), ${Object.keys(snapshot.clusters).length} cluster(s): ` +
        `${errors} error(s), ${warnings} warning(s)`,
    );
  }
  return failed ? 1 : 0;
}
