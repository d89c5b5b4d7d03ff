// Test harness: the PromQL of deploy/rollouts' templates, rendered as Flagger and Argo Rollouts render them, and
// Flagger's built-in Istio checks (fluxcd/flagger pkg/metrics/observers/istio.go).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const DIR = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'deploy/rollouts');

// biome-ignore lint/suspicious/noExplicitAny: manifests read as plain data
type Obj = Record<string, any>;

function all(dir = DIR): Obj[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? all(join(dir, e.name))
      : /\.ya?ml$/.test(e.name)
        ? parseAllDocuments(readFileSync(join(dir, e.name), 'utf8')).map((d) => d.toJS() as Obj)
        : [],
  );
}

/**
 * The MetricTemplate's query for canary `service` in `namespace` (Flagger's `{{ service }}`, `{{ namespace }}`,
 * `{{ interval }}`), and the AnalysisTemplate's real-difference-rate query with its candidate-service argument.
 */
export function renderedTemplateQueries(service: string, namespace: string, interval: string): { flagger: string; argo: string } {
  const objects = all();
  const template = objects.find((o) => o?.kind === 'MetricTemplate');
  const analysis = objects.find((o) => o?.kind === 'AnalysisTemplate');
  if (!template || !analysis) throw new Error('deploy/rollouts has no MetricTemplate or AnalysisTemplate');
  const flagger = String(template.spec.query)
    .replaceAll('{{ service }}', service)
    .replaceAll('{{ namespace }}', namespace)
    .replaceAll('{{ interval }}', interval);
  const args = new Map<string, string>((analysis.spec.args as Obj[]).map((a) => [a.name, a.value]));
  args.set('candidate-service', `${service}-canary.${namespace}.svc.cluster.local`);
  const metric = (analysis.spec.metrics as Obj[]).find((m) => m.name === 'real-difference-rate');
  const argo = String(metric?.provider.prometheus.query).replace(/\{\{args\.([a-z-]+)\}\}/g, (_, n: string) => args.get(n) ?? '');
  return { flagger, argo };
}

/** Flagger's two Istio checks, rendered as its MetricTemplateModel renders them. */
export function flaggerIstioQueries(namespace: string, target: string, interval: string): Record<'request-success-rate' | 'request-duration', string> {
  const sel = `reporter="destination", destination_workload_namespace="${namespace}", destination_workload=~"${target}"`;
  return {
    'request-success-rate': `sum(rate(istio_requests_total{${sel}, response_code!~"5.*"}[${interval}])) / sum(rate(istio_requests_total{${sel}}[${interval}])) * 100`,
    'request-duration': `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{${sel}}[${interval}])) by (le))`,
  };
}
