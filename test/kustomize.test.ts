// deploy/k8s: every kustomize base and overlay is rendered by a real kustomize (kubectl's built-in one,
// v4 or later), and every rendered object is validated: Kubernetes kinds against the `kubernetes-models`
// schemas, Istio kinds against `@kubernetes-models/istio` (Istio's own CRD schemas) plus a structural
// check; fields no schema knows (a typo such as `readOnlyRootFileSystem`) fail too. Then what the install
// promises: the takeover, the RBAC, the Deployment's safety settings, the CRDs.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { unknownFields } from './harness/schema-fields.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const K8S = join(ROOT, 'deploy/k8s');
const ISTIO_GROUP = 'networking.istio.io';
const ISTIO_KINDS = ['VirtualService', 'DestinationRule', 'ServiceEntry', 'WorkloadEntry'];
const ISTIO_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'];
const GATEWAY_LABEL = { 'app.kubernetes.io/name': 'shadowgate' };

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are checked field by field below
type Obj = Record<string, any>;

// --- finding kustomize -------------------------------------------------------------------------------

interface Kustomize {
  describe: string;
  render(dir: string, extraArgs?: string[]): string;
}

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Major version of the kustomize inside `kubectl`, or of a standalone `kustomize`; 0 when unusable. */
function kustomizeMajor(text: string): number {
  const m = /Kustomize Version:\s*v?(\d+)\./.exec(text) ?? /(?:^|\s|\/)v(\d+)\.\d+\.\d+/.exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * `$KUBECTL` (a kubectl) or `$KUSTOMIZE` (a standalone kustomize), then `kubectl` and `kustomize` on the
 * PATH, then the kubectl that .ci/run unpacks from the npm registry into node_modules/.cache. Debian's
 * kubectl 1.20 (kustomize v2) is too old for `patches:` and is refused.
 */
function findKustomize(): Kustomize | string {
  const seen: string[] = [];
  const kubectls = [process.env.KUBECTL, 'kubectl', join(ROOT, 'node_modules/.cache/kubectl/kubectl/kubectl')];
  for (const bin of kubectls) {
    if (!bin) continue;
    const v = run(bin, ['version', '--client']);
    const major = v.ok ? kustomizeMajor(v.out) : 0;
    seen.push(`${bin}: ${v.ok ? v.out.trim().replace(/\n/g, ', ') : 'not found'}`);
    if (major >= 4) {
      return {
        describe: `${bin} (${v.out.trim().replace(/\n/g, ', ')})`,
        render: (dir, extra = []) => execFileSync(bin, ['kustomize', ...extra, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
      };
    }
  }
  for (const bin of [process.env.KUSTOMIZE, 'kustomize']) {
    if (!bin) continue;
    const v = run(bin, ['version']);
    const major = v.ok ? kustomizeMajor(v.out) : 0;
    seen.push(`${bin}: ${v.ok ? v.out.trim() : 'not found'}`);
    if (major >= 4) {
      return {
        describe: `${bin} (${v.out.trim()})`,
        render: (dir, extra = []) => execFileSync(bin, ['build', ...extra, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
      };
    }
  }
  return `no kustomize v4+ found (kubectl 1.21 or later, or kustomize): ${seen.join('; ')}`;
}

function parseYaml(text: string, where: string): Obj[] {
  const out: Obj[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS();
    if (value != null) out.push(value as Obj);
  }
  return out;
}

/** Every directory under deploy/k8s with a kustomization.yaml. */
function kustomizationDirs(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...kustomizationDirs(path));
    else if (name === 'kustomization.yaml' || name === 'kustomization.yml' || name === 'Kustomization') found.push(dir);
  }
  return found.sort();
}

// --- validation ----------------------------------------------------------------------------------------

// biome-ignore lint/suspicious/noExplicitAny: model classes are loaded by computed module paths
type ModelClass = new (data: Obj) => any;

async function modelClass(apiVersion: string, kind: string): Promise<ModelClass> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  let specifier: string;
  if (group === ISTIO_GROUP) {
    // The models ship Istio's v1alpha3 and v1beta1 schemas; Istio's v1 is the same API as v1beta1.
    specifier = `@kubernetes-models/istio/${ISTIO_GROUP}/${version === 'v1' ? 'v1beta1' : version}/${kind}`;
  } else {
    specifier = `kubernetes-models/${apiVersion}/${kind}`;
  }
  const mod = (await import(specifier)) as Record<string, unknown>;
  const cls = mod[kind];
  if (typeof cls !== 'function') throw new Error(`${specifier} has no class ${kind}`);
  return cls as ModelClass;
}

/** Throws with every problem of one object: schema errors, unknown fields, Istio structure. */
async function validateObject(obj: Obj, where: string): Promise<void> {
  const label = `${where}: ${obj.kind ?? '?'} ${obj.metadata?.name ?? '?'}`;
  assert.equal(typeof obj.apiVersion, 'string', `${label}: apiVersion`);
  assert.equal(typeof obj.kind, 'string', `${label}: kind`);
  assert.ok(obj.metadata && typeof obj.metadata.name === 'string' && obj.metadata.name !== '', `${label}: metadata.name`);
  if (String(obj.apiVersion).startsWith(`${ISTIO_GROUP}/`)) {
    const version = String(obj.apiVersion).slice(ISTIO_GROUP.length + 1);
    assert.ok(ISTIO_KINDS.includes(obj.kind), `${label}: Shadowgate reads ${ISTIO_KINDS.join(', ')}, not ${obj.kind}`);
    assert.ok(ISTIO_VERSIONS.includes(version), `${label}: ${ISTIO_GROUP} serves ${ISTIO_VERSIONS.join(', ')}, not ${version}`);
    assert.ok(obj.spec && typeof obj.spec === 'object' && !Array.isArray(obj.spec), `${label}: spec must be an object`);
  }
  let cls: ModelClass;
  try {
    cls = await modelClass(obj.apiVersion, obj.kind);
  } catch (err) {
    throw new Error(`${label}: no schema for ${obj.apiVersion} ${obj.kind} (${(err as Error).message})`);
  }
  const model = new cls(structuredClone(obj));
  const unknown = unknownFields(model, (tracked) => {
    try {
      (tracked as { validate(): void }).validate();
    } catch (err) {
      throw new Error(`${label}: ${(err as Error).message}`);
    }
  });
  assert.deepEqual(unknown, [], `${label}: fields the ${obj.apiVersion} ${obj.kind} schema does not have`);
}

// --- the tests -----------------------------------------------------------------------------------------

const kustomize = findKustomize();
const missing = typeof kustomize === 'string' ? kustomize : undefined;
const rendered = new Map<string, Obj[]>();

function render(dir: string, extraArgs: string[] = []): Obj[] {
  if (typeof kustomize === 'string') throw new Error(kustomize);
  let text: string;
  try {
    text = kustomize.render(dir, extraArgs);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kustomize ${relative(ROOT, dir)}: ${e.stderr || e.message}`);
  }
  return parseYaml(text, relative(ROOT, dir));
}

function get(rel: string): Obj[] {
  const objs = rendered.get(rel);
  assert.ok(objs, `${rel} was not rendered`);
  return objs;
}

function find(objs: Obj[], kind: string, name: string): Obj {
  const found = objs.filter((o) => o.kind === kind && o.metadata?.name === name);
  assert.equal(found.length, 1, `exactly one ${kind} ${name} (found ${found.length})`);
  return found[0]!;
}

function selects(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

describe('deploy/k8s with kustomize', () => {
  before(() => {
    // No kustomize is a failure, not a skip: see .ci/run for how CI gets one.
    assert.equal(missing, undefined, missing);
    for (const dir of kustomizationDirs(K8S)) rendered.set(relative(K8S, dir), render(dir));
  });

  it('a real kustomize renders every base and overlay', () => {
    assert.ok(typeof kustomize !== 'string');
    const dirs = [...rendered.keys()];
    for (const expected of ['crds', 'gateway', 'examples/nginx-takeover', 'examples/nginx-takeover/takeover']) {
      assert.ok(dirs.includes(expected), `deploy/k8s/${expected} renders (rendered: ${dirs.join(', ')}; with ${kustomize.describe})`);
    }
    for (const [dir, objs] of rendered) assert.ok(objs.length > 0, `${dir} renders objects`);
  });

  it('every rendered object validates against the Kubernetes and Istio schemas, with no unknown field', async () => {
    let count = 0;
    for (const [dir, objs] of rendered) {
      for (const obj of objs) {
        await validateObject(obj, dir);
        count++;
      }
    }
    // The Istio files the walkthrough applies by hand, outside any kustomization, too.
    for (const dir of ['examples/nginx-takeover/istio', 'examples/nginx-steps']) {
      const istioDir = join(K8S, dir);
      for (const file of readdirSync(istioDir).filter((f) => f.endsWith('.yaml'))) {
        for (const obj of parseYaml(readFileSync(join(istioDir, file), 'utf8'), file)) {
          await validateObject(obj, `${dir}/${file}`);
          count++;
        }
      }
    }
    assert.ok(count >= 25, `validated ${count} objects`);
  });

  it('the validation catches wrong types and unknown fields (it is not vacuous)', async () => {
    const deployment = structuredClone(find(get('gateway'), 'Deployment', 'shadowgate'));
    deployment.spec.replica = 2;
    deployment.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
    await assert.rejects(validateObject(deployment, 'typo'), /spec\.replica.*readOnlyRootFileSystem|readOnlyRootFileSystem.*spec\.replica/s);
    const badPort = structuredClone(find(get('gateway'), 'Deployment', 'shadowgate'));
    badPort.spec.template.spec.containers[0].ports[0].containerPort = 'fifteen-thousand';
    await assert.rejects(validateObject(badPort, 'type'), /containerPort must be integer/);
    const vs = structuredClone(find(get('examples/nginx-takeover'), 'VirtualService', 'nginx'));
    vs.spec.http[0].mirror_percnt = 100;
    await assert.rejects(validateObject(vs, 'typo'), /mirror_percnt/);
    const hosts = structuredClone(vs);
    delete hosts.spec.http[0].mirror_percnt;
    hosts.spec.hosts = 'nginx';
    await assert.rejects(validateObject(hosts, 'type'), /hosts must be array/);
    const gatewayVs = { ...structuredClone(hosts), kind: 'Gateway' };
    await assert.rejects(validateObject(gatewayVs, 'kind'), /Shadowgate reads/);
  });

  it('CRDs: the four networking.istio.io kinds, as Istio names them, v1 stored', () => {
    const crds = get('crds');
    const expected: Record<string, { plural: string; singular: string; short: string; columns: string[] }> = {
      VirtualService: { plural: 'virtualservices', singular: 'virtualservice', short: 'vs', columns: ['Gateways', 'Hosts', 'Age'] },
      DestinationRule: { plural: 'destinationrules', singular: 'destinationrule', short: 'dr', columns: ['Host', 'Age'] },
      ServiceEntry: { plural: 'serviceentries', singular: 'serviceentry', short: 'se', columns: ['Hosts', 'Location', 'Resolution', 'Age'] },
      WorkloadEntry: { plural: 'workloadentries', singular: 'workloadentry', short: 'we', columns: ['Age', 'Address'] },
    };
    assert.deepEqual(
      crds.map((c) => c.kind),
      ['CustomResourceDefinition', 'CustomResourceDefinition', 'CustomResourceDefinition', 'CustomResourceDefinition'],
    );
    assert.deepEqual(crds.map((c) => c.spec.names.kind).sort(), Object.keys(expected).sort());
    for (const crd of crds) {
      const want = expected[crd.spec.names.kind]!;
      assert.equal(crd.metadata.name, `${want.plural}.${ISTIO_GROUP}`);
      assert.equal(crd.spec.group, ISTIO_GROUP);
      assert.equal(crd.spec.scope, 'Namespaced');
      assert.deepEqual(crd.spec.names, {
        categories: ['istio-io', 'networking-istio-io'],
        kind: crd.spec.names.kind,
        listKind: `${crd.spec.names.kind}List`,
        plural: want.plural,
        shortNames: [want.short],
        singular: want.singular,
      });
      assert.deepEqual(crd.spec.versions.map((v: Obj) => v.name).sort(), [...ISTIO_VERSIONS].sort());
      assert.deepEqual(
        crd.spec.versions.filter((v: Obj) => v.storage).map((v: Obj) => v.name),
        ['v1'],
      );
      for (const v of crd.spec.versions) {
        assert.equal(v.served, true);
        const schema = v.schema.openAPIV3Schema;
        assert.equal(schema.type, 'object');
        assert.deepEqual(schema.required, ['spec']);
        assert.equal(schema.properties.spec.type, 'object');
        assert.equal(schema.properties.spec['x-kubernetes-preserve-unknown-fields'], true);
        assert.deepEqual(v.subresources, { status: {} });
        assert.deepEqual(
          v.additionalPrinterColumns.map((c: Obj) => c.name),
          want.columns,
        );
      }
    }
  });

  it('gateway: RBAC reads exactly what Shadowgate watches, read-only, and writes Events', () => {
    const objs = get('gateway');
    const role = find(objs, 'Role', 'shadowgate');
    const rules = new Map<string, string[]>();
    for (const rule of role.rules) {
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) {
          const key = `${group || 'core'}/${resource}`;
          assert.ok(!rules.has(key), `${key} granted once`);
          rules.set(key, [...rule.verbs].sort());
        }
      }
      // Only the settings ConfigMap is granted by name (its watch asks for that name alone).
      if (rule.resources.includes('configmaps')) assert.deepEqual(rule.resourceNames, ['shadowgate']);
      else assert.equal(rule.resourceNames, undefined);
    }
    const read = ['get', 'list', 'watch'];
    assert.deepEqual(Object.fromEntries([...rules].sort()), {
      'core/configmaps': read,
      'core/events': ['create', 'patch'],
      'core/pods': read,
      // Gateway servers' credentialName (issue 17): watched only once a server names one.
      'core/secrets': read,
      'core/services': read,
      'discovery.k8s.io/endpointslices': read,
      'gateway.networking.k8s.io/gateways': read,
      'gateway.networking.k8s.io/gateways/status': ['get', 'patch', 'update'],
      'gateway.networking.k8s.io/grpcroutes': read,
      'gateway.networking.k8s.io/grpcroutes/status': ['get', 'patch', 'update'],
      'gateway.networking.k8s.io/httproutes': read,
      'gateway.networking.k8s.io/httproutes/status': ['get', 'patch', 'update'],
      'gateway.networking.k8s.io/referencegrants': read,
      'gateway.networking.k8s.io/tlsroutes': read,
      'gateway.networking.k8s.io/tlsroutes/status': ['get', 'patch', 'update'],
      'networking.istio.io/destinationrules': read,
      'networking.istio.io/gateways': read,
      'networking.istio.io/serviceentries': read,
      'networking.istio.io/virtualservices': read,
      'networking.istio.io/workloadentries': read,
      'shadowgate.dev/shadowgateconfigs': read,
    });
    // Cluster-wide: GatewayClasses only (cluster-scoped), read and their status written.
    assert.deepEqual(
      objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding').map((o) => `${o.kind} ${o.metadata.name}`),
      ['ClusterRole shadowgate-gatewayclasses', 'ClusterRoleBinding shadowgate-gatewayclasses'],
    );
    assert.deepEqual(find(objs, 'ClusterRole', 'shadowgate-gatewayclasses').rules, [
      { apiGroups: ['gateway.networking.k8s.io'], resources: ['gatewayclasses'], verbs: read },
      { apiGroups: ['gateway.networking.k8s.io'], resources: ['gatewayclasses/status'], verbs: ['get', 'update', 'patch'] },
    ]);
    assert.deepEqual(find(objs, 'ClusterRoleBinding', 'shadowgate-gatewayclasses').subjects, [
      { kind: 'ServiceAccount', name: 'shadowgate', namespace: 'default' },
    ]);
    const binding = find(objs, 'RoleBinding', 'shadowgate');
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'shadowgate' });
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'shadowgate', namespace: 'default' }]);
    find(objs, 'ServiceAccount', 'shadowgate');
    const deployment = find(objs, 'Deployment', 'shadowgate');
    assert.equal(deployment.spec.template.spec.serviceAccountName, 'shadowgate');
    for (const o of objs) {
      if (o.kind !== 'ClusterRole' && o.kind !== 'ClusterRoleBinding') assert.equal(o.metadata.namespace, 'default', `${o.kind} ${o.metadata.name} namespace`);
    }
  });

  it('gateway: Deployment with 2 replicas, admin probes, non-root read-only container', () => {
    const objs = get('gateway');
    const d = find(objs, 'Deployment', 'shadowgate');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(d.spec.replicas, 2);
    const pod = d.spec.template;
    assert.deepEqual(d.spec.selector.matchLabels, GATEWAY_LABEL);
    assert.ok(selects(GATEWAY_LABEL, pod.metadata.labels), 'pods carry app.kubernetes.io/name: shadowgate');
    assert.equal(pod.spec.containers.length, 1);
    const c = pod.spec.containers[0];
    assert.equal(c.image, `shadowgate:${pkg.version}`);
    const args: string[] = c.args;
    assert.equal(args[0], 'serve');
    assert.ok(args.includes('--kubernetes'));
    const flag = (name: string) => args[args.indexOf(name) + 1];
    assert.equal(flag('--admin'), '0.0.0.0:15000');
    assert.equal(flag('--store'), '/var/lib/shadowgate/shadowgate.db');
    assert.equal(flag('--namespace'), '$(POD_NAMESPACE)');
    assert.deepEqual(
      c.env.find((e: Obj) => e.name === 'POD_NAMESPACE'),
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    );
    const portOf = (p: string | number) => (typeof p === 'number' ? p : c.ports.find((x: Obj) => x.name === p)?.containerPort);
    assert.equal(c.readinessProbe.httpGet.path, '/ready');
    assert.equal(portOf(c.readinessProbe.httpGet.port), 15000);
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(portOf(c.livenessProbe.httpGet.port), 15000);
    assert.ok(
      c.ports.some((p: Obj) => p.containerPort === 8000),
      "the article's service port 8000 is exposed",
    );
    for (const sc of [pod.spec.securityContext, c.securityContext]) {
      assert.equal(sc.runAsNonRoot, true);
      assert.equal(sc.runAsUser, 10001);
      assert.deepEqual(sc.seccompProfile, { type: 'RuntimeDefault' });
    }
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
    for (const r of ['cpu', 'memory']) {
      assert.ok(c.resources.requests[r], `requests.${r}`);
      assert.ok(c.resources.limits[r], `limits.${r}`);
    }
    const mounts = Object.fromEntries(c.volumeMounts.map((m: Obj) => [m.mountPath, m.name]));
    for (const path of ['/var/lib/shadowgate', '/tmp']) {
      const volume = pod.spec.volumes.find((v: Obj) => v.name === mounts[path]);
      assert.ok(volume?.emptyDir, `${path} is an emptyDir`);
    }
    const anti = pod.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution;
    assert.equal(anti.length, 1);
    assert.equal(anti[0].podAffinityTerm.topologyKey, 'kubernetes.io/hostname');
    assert.deepEqual(anti[0].podAffinityTerm.labelSelector.matchLabels, GATEWAY_LABEL);
    assert.equal(pod.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution, undefined);

    const pdb = find(objs, 'PodDisruptionBudget', 'shadowgate');
    assert.equal(pdb.spec.minAvailable, 1);
    assert.ok(selects(pdb.spec.selector.matchLabels, pod.metadata.labels));

    const admin = find(objs, 'Service', 'shadowgate-admin');
    assert.ok(selects(admin.spec.selector, pod.metadata.labels));
    assert.deepEqual(
      admin.spec.ports.map((p: Obj) => [p.name, p.port, portOf(p.targetPort)]),
      [['http-admin', 15000, 15000]],
    );
    assert.deepEqual(admin.metadata.annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15000', 'prometheus.io/path': '/metrics' });
  });

  it('takeover: the nginx Service now selects exactly the gateway, and names its backends', () => {
    for (const dir of ['examples/nginx-takeover/takeover', 'examples/nginx-takeover']) {
      const objs = get(dir);
      const nginx = find(objs, 'Service', 'nginx');
      assert.deepEqual(nginx.spec.selector, GATEWAY_LABEL, `${dir}: selector replaced, not merged`);
      assert.equal(nginx.metadata.annotations?.['shadowgate.dev/backends'], 'nginx-backends');
      assert.deepEqual(
        nginx.spec.ports.map((p: Obj) => [p.name, p.port, p.targetPort]),
        [['http', 8000, 8000]],
      );
      assert.equal(nginx.spec.clusterIP, undefined, 'the Service keeps its cluster IP');
      const backends = find(objs, 'Service', 'nginx-backends');
      assert.equal(backends.spec.clusterIP, 'None', 'headless');
      assert.deepEqual(backends.spec.selector, { app: 'nginx' });
      assert.deepEqual(
        backends.spec.ports.map((p: Obj) => [p.name, p.port, p.targetPort]),
        [['http', 8000, 80]],
      );

      const deployments = objs.filter((o) => o.kind === 'Deployment');
      const versions = deployments.filter((d) => selects(backends.spec.selector, d.spec.template.metadata.labels));
      assert.deepEqual(versions.map((d) => d.metadata.name).sort(), ['nginx-v1', 'nginx-v2']);
      for (const d of deployments) {
        assert.ok(!selects(GATEWAY_LABEL, d.spec.template.metadata.labels), `${d.metadata.name} is not taken for the gateway`);
      }
      for (const n of [1, 2]) {
        const d = find(objs, 'Deployment', `nginx-v${n}`);
        assert.deepEqual(d.spec.template.metadata.labels, { app: 'nginx', version: `v${n}` });
        const c = d.spec.template.spec.containers[0];
        assert.equal(c.name, 'nginx');
        const conf: string = find(objs, 'ConfigMap', `nginx-v${n}`).data['default.conf'];
        assert.match(conf, new RegExp(`return 200 'This is version ${n}\\\\n';`));
        assert.match(conf, /"\$http_x_forwarded_for"';/);
        assert.match(conf, /listen 80;/);
        assert.equal(d.spec.template.spec.volumes[0].configMap.name, `nginx-v${n}`);
      }
      const sleep = find(objs, 'Deployment', 'sleep');
      assert.equal(sleep.spec.template.spec.containers[0].name, 'sleep');
      assert.deepEqual(sleep.spec.template.metadata.labels, { app: 'sleep' });
    }
    // The gateway listens on the taken-over Service's port.
    const gatewayPorts = find(get('gateway'), 'Deployment', 'shadowgate').spec.template.spec.containers[0].ports.map((p: Obj) => p.containerPort);
    assert.ok(gatewayPorts.includes(8000));
  });

  it("takeover: the article's Istio rules are applied unchanged, and their subsets find pods", () => {
    const objs = get('examples/nginx-takeover');
    const istioDir = join(K8S, 'examples/nginx-takeover/istio');
    for (const [kind, file] of [
      ['DestinationRule', 'destination-rule.yaml'],
      ['VirtualService', 'virtual-service-mirror.yaml'],
    ] as const) {
      assert.deepEqual(find(objs, kind, 'nginx'), parseYaml(readFileSync(join(istioDir, file), 'utf8'), file)[0], `${file} unchanged`);
    }
    const vs = find(objs, 'VirtualService', 'nginx');
    assert.equal(vs.apiVersion, `${ISTIO_GROUP}/v1alpha3`);
    assert.deepEqual(vs.spec, {
      hosts: ['nginx'],
      http: [{ route: [{ destination: { host: 'nginx', subset: 'v1' }, weight: 100 }], mirror: { host: 'nginx', subset: 'v2' }, mirror_percent: 100 }],
    });
    const routeOnly = parseYaml(readFileSync(join(istioDir, '..', '..', 'nginx-steps', 'virtual-service-v1.yaml'), 'utf8'), 'virtual-service-v1.yaml')[0]!;
    assert.deepEqual(routeOnly.spec, { hosts: ['nginx'], http: [{ route: [{ destination: { host: 'nginx', subset: 'v1' }, weight: 100 }] }] });
    const dr = find(objs, 'DestinationRule', 'nginx');
    const pods = objs.filter((o) => o.kind === 'Deployment').map((d) => d.spec.template.metadata.labels);
    for (const subset of dr.spec.subsets) {
      assert.equal(pods.filter((labels) => selects({ app: 'nginx', ...subset.labels }, labels)).length, 1, `subset ${subset.name} selects one Deployment`);
    }
    // Every Istio object is of a kind and version the CRDs serve.
    const served = new Set(get('crds').flatMap((c) => c.spec.versions.map((v: Obj) => `${c.spec.group}/${v.name} ${c.spec.names.kind}`)));
    for (const o of objs.filter((x) => String(x.apiVersion).startsWith(ISTIO_GROUP))) {
      assert.ok(served.has(`${o.apiVersion} ${o.kind}`), `${o.apiVersion} ${o.kind} is served by deploy/k8s/crds`);
    }
  });

  describe('kustomize behaviour the install relies on', () => {
    let scratch = '';
    before(() => {
      scratch = mkdtempSync(join(tmpdir(), 'shadowgate-kustomize-'));
    });
    after(() => {
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    });

    it('a strategic-merge patch would MERGE the selectors and select nothing (why the overlay uses a JSON patch)', () => {
      const dir = join(scratch, 'smp');
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        [
          'resources:',
          `- ${join(K8S, 'examples/nginx-takeover/takeover/nginx-service.yaml')}`,
          'patches:',
          '- patch: |-',
          '    apiVersion: v1',
          '    kind: Service',
          '    metadata: {name: nginx}',
          '    spec:',
          '      selector: {app.kubernetes.io/name: shadowgate}',
          '',
        ].join('\n'),
      );
      const nginx = find(render(dir, ['--load-restrictor=LoadRestrictionsNone']), 'Service', 'nginx');
      assert.deepEqual(nginx.spec.selector, { app: 'nginx', 'app.kubernetes.io/name': 'shadowgate' });
    });

    it('the gateway installs into another namespace with an overlay, RoleBinding subject included', async () => {
      const dir = join(scratch, 'shop');
      mkdirSync(dir, { recursive: true });
      // kustomize takes a directory resource by relative path only.
      writeFileSync(join(dir, 'kustomization.yaml'), `namespace: shop\nresources:\n- ${relative(dir, join(K8S, 'gateway'))}\n`);
      const objs = render(dir, ['--load-restrictor=LoadRestrictionsNone']);
      for (const o of objs) {
        if (o.kind !== 'ClusterRole' && o.kind !== 'ClusterRoleBinding') assert.equal(o.metadata.namespace, 'shop', `${o.kind} ${o.metadata.name}`);
        await validateObject(o, 'shop overlay');
      }
      assert.deepEqual(find(objs, 'RoleBinding', 'shadowgate').subjects, [{ kind: 'ServiceAccount', name: 'shadowgate', namespace: 'shop' }]);
      assert.deepEqual(find(objs, 'ClusterRoleBinding', 'shadowgate-gatewayclasses').subjects, [
        { kind: 'ServiceAccount', name: 'shadowgate', namespace: 'shop' },
      ]);
    });
  });
});

it('Dockerfile: node:24-slim stages, the user the manifests run as, the CLI as entrypoint (without V8 memory reducer)', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const from = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
  assert.deepEqual(from, ['node:24-slim', 'node:24-slim']);
  assert.match(dockerfile, /^RUN npm ci\b/m);
  assert.match(dockerfile, /npm run build/);
  assert.match(dockerfile, /npm prune --omit=dev/);
  assert.match(dockerfile, /^USER 10001(:10001)?$/m);
  // --no-memory-reducer for the process that serves with --workers 1 (the workers get it from workerExecArgv).
  assert.match(dockerfile, /^ENTRYPOINT \["node", ?"--no-memory-reducer", ?"\/app\/bin\/shadowgate\.js"\]$/m);
  // The launcher imports the compiled CLI from the path the image copies.
  assert.match(readFileSync(join(ROOT, 'bin/shadowgate.js'), 'utf8'), /'\.\.\/dist\/src\/cli\/index\.js'/);
  assert.match(dockerfile, /COPY --from=builder \/app\/dist\/src \.\/dist\/src/);
  // The admin listener serves /ui from dist/ui (src/admin/ui-assets.ts): built from ui/ and shipped.
  assert.match(dockerfile, /^COPY ui \.\/ui$/m);
  assert.match(dockerfile, /COPY --from=builder \/app\/dist\/ui \.\/dist\/ui/);
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim());
  for (const entry of ['node_modules', 'dist', '.git']) assert.ok(ignore.includes(entry), `.dockerignore has ${entry}`);
  assert.ok(existsSync(join(K8S, 'gateway/deployment.yaml')));
});
