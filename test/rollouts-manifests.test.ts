// deploy/rollouts: the Flagger Canary and MetricTemplate validated against Flagger's own CRDs (their structural
// schemas, as the API server with strict field validation applies them), the Argo Rollouts Rollout and
// AnalysisTemplate against `@kubernetes-models/argo-rollouts`, the Services and VirtualService against the
// Kubernetes and Istio models; then what the walkthrough relies on (the gate, the mirror step first, the names
// that must agree) and every PromQL query of the templates parsed by a real Prometheus.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseSource } from '../src/config/parse.js';
import { needsPrometheus, startPrometheus } from './harness/prometheus.js';
import { flaggerIstioQueries, renderedTemplateQueries } from './harness/rollout-templates.js';
import { unknownFields } from './harness/schema-fields.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIR = join(ROOT, 'deploy/rollouts');
// Flagger's CRDs (a copy of the team's ../shared/schemas/flagger-crds.yaml, kept with the tests so a clone alone runs them).
const FLAGGER_CRDS = resolve(ROOT, 'test/fixtures/flagger/flagger-crds.yaml');

// biome-ignore lint/suspicious/noExplicitAny: manifests are checked field by field
type Obj = Record<string, any>;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

function load(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${relative(ROOT, file)}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const v = doc.toJS() as Obj | null;
    return v ? [v] : [];
  });
}

const manifests = yamlFiles(DIR)
  .sort()
  .flatMap((file) => load(file).map((o) => ({ file: relative(ROOT, file), o })));

function one(kind: string, name?: string): Obj {
  const found = manifests.filter((m) => m.o.kind === kind && (!name || m.o.metadata?.name === name));
  assert.equal(found.length, 1, `exactly one ${kind} ${name ?? ''} in deploy/rollouts (found ${found.length})`);
  return found[0]!.o;
}

// --- Flagger: a structural-schema validator (the subset of OpenAPI v3 that CRDs use) ---------------------

/**
 * Validates `value` against a CRD's structural schema as the API server does with strict field validation:
 * types (int-or-string, nullable), required, enum, pattern, bounds, items, `additionalProperties`, and every
 * field the schema does not declare is an error (unless x-kubernetes-preserve-unknown-fields). `anyOf`, `oneOf`
 * and `not` are value validations (their branches declare no fields). CEL rules (x-kubernetes-validations)
 * cannot be run here and are not.
 */
function structural(value: unknown, schema: Obj, path: string, errors: string[]): void {
  if (value === null) {
    if (!schema.nullable) errors.push(`${path}: null`);
    return;
  }
  const type = schema.type as string | undefined;
  if (schema['x-kubernetes-int-or-string']) {
    if (typeof value !== 'string' && !Number.isInteger(value)) errors.push(`${path}: must be an integer or a string`);
  } else if (type === 'object') {
    if (typeof value !== 'object' || Array.isArray(value)) errors.push(`${path}: must be an object`);
  } else if (type === 'array') {
    if (!Array.isArray(value)) errors.push(`${path}: must be an array`);
  } else if (type === 'string') {
    if (typeof value !== 'string') errors.push(`${path}: must be a string`);
  } else if (type === 'integer') {
    if (!Number.isInteger(value)) errors.push(`${path}: must be an integer`);
  } else if (type === 'number') {
    if (typeof value !== 'number') errors.push(`${path}: must be a number`);
  } else if (type === 'boolean') {
    if (typeof value !== 'boolean') errors.push(`${path}: must be a boolean`);
  }
  if (schema.enum && !(schema.enum as unknown[]).includes(value)) errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern as string).test(value)) errors.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) errors.push(`${path}: longer than ${schema.maxLength}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${path}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${path}: above ${schema.maximum}`);
  }
  const valid = (s: Obj) => {
    const e: string[] = [];
    structural(value, s, path, e);
    return e.length === 0;
  };
  if (schema.anyOf && !(schema.anyOf as Obj[]).some(valid)) errors.push(`${path}: matches none of anyOf`);
  if (schema.oneOf && (schema.oneOf as Obj[]).filter(valid).length !== 1) errors.push(`${path}: must match exactly one of oneOf`);
  if (schema.not && valid(schema.not as Obj)) errors.push(`${path}: matches a forbidden schema`);
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${path}: more than ${schema.maxItems} items`);
    if (schema.items) for (const [i, v] of value.entries()) structural(v, schema.items as Obj, `${path}[${i}]`, errors);
    return;
  }
  if (typeof value !== 'object') return;
  const o = value as Obj;
  for (const r of (schema.required as string[] | undefined) ?? []) if (!(r in o)) errors.push(`${path}.${r}: required`);
  if (type !== 'object') return;
  const props = (schema.properties ?? {}) as Obj;
  for (const [k, v] of Object.entries(o)) {
    if (props[k]) structural(v, props[k] as Obj, `${path}.${k}`, errors);
    else if (typeof schema.additionalProperties === 'object') structural(v, schema.additionalProperties as Obj, `${path}.${k}`, errors);
    else if (!schema['x-kubernetes-preserve-unknown-fields'] && schema.additionalProperties !== true) errors.push(`${path}.${k}: unknown field`);
  }
}

/** Flagger's CRDs, as generated: quoted descriptions wrapped as go-yaml does, read by the gateway's own parser. */
let crds: Obj[] | undefined;
function flaggerCrds(): Obj[] {
  if (!crds) {
    assert.ok(existsSync(FLAGGER_CRDS), `Flagger's CRDs are expected at ${FLAGGER_CRDS}`);
    const parsed = parseSource({ path: FLAGGER_CRDS, text: readFileSync(FLAGGER_CRDS, 'utf8') });
    assert.deepEqual(parsed.problems, [], "Flagger's CRDs load as kubectl reads them");
    crds = parsed.resources.map((r) => r.object as Obj);
  }
  return crds;
}

function flaggerSchema(kind: string, apiVersion: string): Obj {
  const [group, version] = apiVersion.split('/');
  const crd = flaggerCrds().find((c) => c.spec?.group === group && c.spec?.names?.kind === kind);
  assert.ok(crd, `Flagger's CRDs define ${kind} in ${group}`);
  const v = (crd.spec.versions as Obj[]).find((x) => x.name === version && x.served);
  assert.ok(v, `${kind} ${apiVersion} is served`);
  return v.schema.openAPIV3Schema as Obj;
}

function validateFlagger(o: Obj): string[] {
  const schema = flaggerSchema(o.kind, o.apiVersion);
  const errors: string[] = [];
  // metadata is the API server's ObjectMeta, not the CRD's to describe.
  const { metadata, ...rest } = o;
  assert.ok(typeof metadata?.name === 'string' && metadata.name.length > 0, 'metadata.name');
  structural(rest, { ...schema, properties: { ...schema.properties, metadata: undefined } }, o.kind, errors);
  return errors;
}

// --- the models: schema errors and fields they do not know ---------------------------------------------

async function validateModel(o: Obj): Promise<string[]> {
  const [group, version] = String(o.apiVersion).includes('/') ? String(o.apiVersion).split('/') : ['', String(o.apiVersion)];
  const specifier =
    group === 'argoproj.io'
      ? `@kubernetes-models/argo-rollouts/${group}/${version}/${o.kind}`
      : group === 'networking.istio.io'
        ? `@kubernetes-models/istio/${group}/${version === 'v1' ? 'v1beta1' : version}/${o.kind}`
        : `kubernetes-models/${o.apiVersion}/${o.kind}`;
  const mod = (await import(specifier)) as Record<string, new (d: Obj) => { validate(): void }>;
  const Model = mod[o.kind as string];
  assert.ok(Model, `${specifier} has ${o.kind}`);
  const errors: string[] = [];
  const unknown = unknownFields(new Model(structuredClone(o)), (tracked) => {
    try {
      (tracked as { validate(): void }).validate();
    } catch (err) {
      errors.push((err as Error).message);
    }
  });
  return [...errors, ...unknown.map((u) => `${u}: unknown field`)];
}

// --- the tests -----------------------------------------------------------------------------------------

describe('deploy/rollouts', () => {
  it('every manifest validates: Flagger kinds against its CRDs, the rest against the Argo Rollouts, Kubernetes and Istio models', async () => {
    assert.ok(manifests.length >= 8, `manifests found: ${manifests.length}`);
    const problems: string[] = [];
    for (const { file, o } of manifests) {
      const errors = String(o.apiVersion).startsWith('flagger.app/') ? validateFlagger(o) : await validateModel(o);
      for (const e of errors) problems.push(`${file}: ${o.kind} ${o.metadata?.name}: ${e}`);
    }
    assert.deepEqual(problems, []);
  });

  it('the validators catch what the API server would refuse', async () => {
    const canary = structuredClone(one('Canary'));
    canary.spec.analysis.mirorr = true;
    canary.spec.analysis.webhooks[0].type = 'gate';
    delete canary.spec.targetRef;
    assert.deepEqual(validateFlagger(canary).sort(), [
      'Canary.spec.analysis.mirorr: unknown field',
      'Canary.spec.analysis.webhooks[0].type: "gate" is not one of ["","confirm-rollout","pre-rollout","rollout","confirm-promotion","post-rollout","event","rollback","confirm-traffic-increase"]',
      'Canary.spec.targetRef: required',
    ]);
    const rollout = structuredClone(one('Rollout'));
    rollout.spec.strategy.canary.steps[1].setMirrorRoute.percent = 100;
    assert.deepEqual(await validateModel(rollout), ['spec.strategy.canary.steps[1].setMirrorRoute.percent: unknown field']);
  });

  it('Flagger: a mirrored pre-stage, the gate webhook on /api/gate, the built-in Istio checks and the comparison template', () => {
    const canary = one('Canary', 'podinfo');
    assert.equal(canary.spec.provider, 'istio');
    assert.equal(canary.spec.analysis.mirror, true);
    assert.equal(canary.spec.analysis.mirrorWeight, 100);
    assert.deepEqual(canary.spec.service.hosts, ['podinfo-gateway'], 'clients call the Service Shadowgate took over');
    const gate = (canary.spec.analysis.webhooks as Obj[]).find((w) => w.name === 'shadowgate-gate');
    assert.ok(gate && new URL(gate.url).pathname === '/api/gate' && gate.type === 'rollout', 'the gate runs every iteration');
    assert.equal(new URL(gate.url).hostname, `shadowgate-admin.${canary.metadata.namespace}`);
    const metrics = canary.spec.analysis.metrics as Obj[];
    assert.deepEqual(
      metrics.map((m) => m.name),
      ['request-success-rate', 'request-duration', 'real-difference-rate'],
    );
    const ref = metrics[2]!.templateRef;
    const template = one('MetricTemplate', ref.name);
    assert.equal(template.metadata.namespace, ref.namespace);
    assert.match(template.spec.query, /shadowgate_compare_differences_total/);
    const gateway = one('Service', 'podinfo-gateway');
    assert.deepEqual(gateway.spec.selector, { 'app.kubernetes.io/name': 'shadowgate' });
    assert.equal(one('Service', gateway.metadata.annotations['shadowgate.dev/backends']).spec.clusterIP, 'None');
  });

  it('Argo Rollouts: the mirror step first, analysed with Shadowgate, on the route the VirtualService names', () => {
    const rollout = one('Rollout', 'podinfo');
    const canary = rollout.spec.strategy.canary;
    const steps = canary.steps as Obj[];
    const first = steps.findIndex((s) => s.setWeight !== undefined);
    const mirror = steps.findIndex((s) => s.setMirrorRoute?.percentage === 100);
    const analysis = steps.findIndex((s) => s.analysis);
    assert.ok(mirror >= 0 && mirror < analysis && analysis < first, 'mirror, then the analysis, before any weight');
    assert.equal(steps[mirror]!.setMirrorRoute.name, canary.trafficRouting.managedRoutes[0].name);
    assert.deepEqual(steps[analysis + 1]!.setMirrorRoute, { name: steps[mirror]!.setMirrorRoute.name }, 'the mirror route removed after the gate');
    const vs = one('VirtualService', canary.trafficRouting.istio.virtualService.name);
    assert.deepEqual(
      (vs.spec.http as Obj[]).map((h) => h.name),
      canary.trafficRouting.istio.virtualService.routes,
    );
    const template = one('AnalysisTemplate', steps[analysis]!.analysis.templates[0].templateName);
    const byName = new Map((template.spec.metrics as Obj[]).map((m) => [m.name, m]));
    assert.match(byName.get('real-difference-rate')?.provider.prometheus.query, /shadowgate_compare_requests_total/);
    const web = byName.get('shadowgate-verdict')?.provider.web;
    assert.ok(web.url.endsWith('/api/verdict') && web.jsonPath === '{$.result}');
    assert.equal(one('Service', 'podinfo').metadata.annotations['shadowgate.dev/backends'], 'podinfo-backends');
  });

  it('every PromQL query of the templates, rendered as Flagger and Argo Rollouts render them, parses in a real Prometheus', { timeout: 120_000 }, async (t) => {
    if (!needsPrometheus(t)) return;
    const { flagger, argo } = renderedTemplateQueries('podinfo', 'test', '1m');
    const queries = { 'flagger MetricTemplate': flagger, 'argo AnalysisTemplate': argo, ...flaggerIstioQueries('test', 'podinfo', '1m') };
    const prom = await startPrometheus([]);
    try {
      for (const [name, q] of Object.entries(queries)) {
        assert.doesNotMatch(q, /\{\{/, `${name}: every variable rendered`);
        const r = await prom.query(q);
        assert.equal(r.status, 'success', `${name}: ${r.error}`);
      }
    } finally {
      await prom.close();
    }
  });
});
