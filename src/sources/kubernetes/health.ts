// Whether the API server can be used, and if not, why: one reason per failing kind, logged once when it starts
// (not once per retry) and once when the server answers again, shown by /ready and exported as metrics.
import { Gauge, type Registry } from 'prom-client';
import { KubeApiError } from './http.js';

/** Why the API server cannot be used. The first three are known before any request is sent. */
export const API_REASONS = ['no_kubeconfig', 'bad_kubeconfig', 'insecure_http', 'unreachable', 'tls', 'unauthorized', 'forbidden', 'error'] as const;
export type ApiReason = (typeof API_REASONS)[number];

export interface ApiProblem {
  reason: ApiReason;
  /** One line for people: what failed and what to do. */
  message: string;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE']);

/** Sorts a failed request into a reason; `server` and `kind` make the message. */
export function classify(err: unknown, server: string, kind: string): ApiProblem {
  if (err instanceof KubeApiError) {
    if (err.status === 401) {
      return {
        reason: 'unauthorized',
        message: `the API server ${server} refused the credentials (401 Unauthorized): check the kubeconfig's user (token, client certificate)`,
      };
    }
    if (err.status === 403) {
      return {
        reason: 'forbidden',
        message: `the API server ${server} forbids reading ${kind} (403 Forbidden: ${err.message}): grant list and watch on it (deploy/k8s has the Role)`,
      };
    }
    return { reason: 'error', message: `the API server ${server} answered ${err.message} for ${kind}` };
  }
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (UNREACHABLE.has(code) || e?.name === 'TimeoutError') {
    return { reason: 'unreachable', message: `cannot reach the API server ${server}: ${code || message}` };
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|EPROTO/.test(code)) {
    return { reason: 'tls', message: `TLS with the API server ${server} failed: ${message} (check the kubeconfig's certificate-authority)` };
  }
  return { reason: 'error', message: `the API server ${server}: ${message} (${kind})` };
}

export class ApiHealth {
  /** The problem of each kind whose last request failed. */
  private readonly failing = new Map<string, ApiProblem>();
  /** The reason last logged; undefined when every kind's last request succeeded. */
  private logged: ApiReason | undefined;
  private readonly failingGauge: Gauge<'reason'> | undefined;

  constructor(
    private readonly log: ((line: string) => void) | undefined,
    registry: Registry | undefined,
    private readonly kinds: readonly string[],
    unsynced: () => number,
  ) {
    if (!registry) return;
    this.failingGauge = new Gauge({
      name: 'shadowgate_kubernetes_api_failing',
      help: 'Watched kinds whose last request to the Kubernetes API server failed, by reason (all 0: the API server answers)',
      labelNames: ['reason'] as const,
      registers: [registry],
      collect: () => {
        for (const reason of API_REASONS) this.failingGauge!.set({ reason }, [...this.failing.values()].filter((p) => p.reason === reason).length);
      },
    });
    new Gauge({
      name: 'shadowgate_kubernetes_kinds_unsynced',
      help: 'Watched kinds not listed yet (readiness waits for 0)',
      registers: [registry],
      collect(): void {
        this.set(unsynced());
      },
    });
  }

  /** The kubeconfig cannot work at all: every kind fails for the same reason, and nothing is retried. */
  unusable(problem: ApiProblem): void {
    for (const kind of this.kinds) this.failing.set(kind, problem);
    this.report(problem, 'nothing is read from the cluster: fix it and restart');
  }

  failure(kind: string, problem: ApiProblem): void {
    this.failing.set(kind, problem);
    this.report(problem, 'retrying with backoff');
  }

  success(kind: string): void {
    if (!this.failing.delete(kind) || this.failing.size > 0 || this.logged === undefined) return;
    this.logged = undefined;
    this.log?.('kubernetes: the API server answers again');
  }

  /** The first failing kind's problem, if any. */
  problem(): ApiProblem | undefined {
    return this.failing.values().next().value;
  }

  private report(problem: ApiProblem, then: string): void {
    if (this.logged === problem.reason) return;
    this.logged = problem.reason;
    this.log?.(`kubernetes: ${problem.message}; ${then}`);
  }
}
