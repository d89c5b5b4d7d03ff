// `shadowgate validate`: load, check and report, without serving anything. The load runs in the same bounded
// worker as `serve`'s (issue 15: a config bomb once took `validate` 20 s and 3 GB).
import { formatProblem, hasErrors, type Problem } from '../config/index.js';
import { DEFAULT_LOAD_BUDGET, type LoadBudget, loadConfig } from '../sources/index.js';

export interface ValidateOptions {
  files: string[];
  output: 'text' | 'json';
  budget?: LoadBudget;
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
  const errors = snapshot.problems.filter((p) => p.severity === 'error').length;
  const warnings = snapshot.problems.filter((p) => p.severity === 'warning').length;
  if (opts.output === 'json') {
    out(
      JSON.stringify(
        {
          valid: !hasErrors(snapshot),
          hash: snapshot.hash,
          resources: snapshot.resources,
          problems: snapshot.problems,
          listeners: snapshot.listeners.map((l) => ({ port: l.port, hosts: l.virtualHosts.map((v) => v.host) })),
          clusters: Object.values(snapshot.clusters).map((c) => ({ name: c.name, endpoints: c.endpoints.length })),
        },
        null,
        2,
      ),
    );
  } else {
    const order: Record<Problem['severity'], number> = { error: 0, warning: 1, info: 2 };
    for (const p of [...snapshot.problems].sort((a, b) => order[a.severity] - order[b.severity])) out(formatProblem(p));
    const accepted = snapshot.resources.filter((r) => r.accepted).length;
    const routes = snapshot.listeners.reduce((n, l) => n + l.virtualHosts.reduce((m, v) => m + v.routes.length, 0), 0);
    out(
      `${read.files.length} file(s), ${accepted}/${snapshot.resources.length} resource(s) accepted, ` +
        `${snapshot.listeners.length} listener(s), ${routes} route(s), ${Object.keys(snapshot.clusters).length} cluster(s): ` +
        `${errors} error(s), ${warnings} warning(s)`,
    );
  }
  return errors > 0 ? 1 : 0;
}
