// Problems are data: severity, where (file, line, resource, field path) and a sentence a person understands.
import type { Problem, Severity } from './model.js';
import type { ProblemCode } from './problem-codes.js';

export type PathSeg = string | number;

/** `['spec', 'http', 0, 'route']` → `spec.http[0].route` */
export function formatPath(path: readonly PathSeg[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${seg}` : seg;
  }
  return out;
}

export type Locate = (path: readonly PathSeg[]) => { line: number; column: number } | undefined;

/** Collects the problems of one resource and remembers whether any error disabled it. */
export class ResourceContext {
  failed = false;
  constructor(
    readonly problems: Problem[],
    readonly resource: string,
    readonly file: string | undefined,
    readonly locate: Locate,
  ) {}

  report(severity: Severity, code: ProblemCode, path: readonly PathSeg[], message: string): void {
    if (severity === 'error') this.failed = true;
    this.problems.push(makeProblem(severity, code, message, this.file, this.locate(path), this.resource, path));
  }
  error(code: ProblemCode, path: readonly PathSeg[], message: string): void {
    this.report('error', code, path, message);
  }
  warn(code: ProblemCode, path: readonly PathSeg[], message: string): void {
    this.report('warning', code, path, message);
  }
  /** A cross-resource finding: reported, but it does not disable the resource (Istio serves it; requests get 503 NC). */
  reference(severity: Severity, code: ProblemCode, path: readonly PathSeg[], message: string): void {
    this.problems.push(makeProblem(severity, code, message, this.file, this.locate(path), this.resource, path));
  }
}

export function makeProblem(
  severity: Severity,
  code: ProblemCode,
  message: string,
  file?: string,
  pos?: { line: number; column: number },
  resource?: string,
  path?: readonly PathSeg[],
): Problem {
  const p: Problem = { severity, code, message };
  if (file !== undefined) p.file = file;
  if (pos) {
    p.line = pos.line;
    p.column = pos.column;
  }
  if (resource !== undefined) p.resource = resource;
  if (path && path.length > 0) p.path = formatPath(path);
  return p;
}

/** One line per problem, the way compilers print them: `file:line:col: error: resource: path: message [code]`. */
export function formatProblem(p: Problem): string {
  const where = p.file ? `${p.file}${p.line ? `:${p.line}${p.column ? `:${p.column}` : ''}` : ''}: ` : '';
  const what = [p.resource, p.path].filter(Boolean).join(' ');
  return `${where}${p.severity}: ${what ? `${what}: ` : ''}${p.message} [${p.code}]`;
}
