// Shadowgate's own settings (ShadowgateConfig) from the cluster: a ConfigMap key holding the same YAML as a file
// would (`kubectl create configmap shadowgate --from-file=config.yaml`), and ShadowgateConfig objects (the CRD in
// deploy/k8s/crds). Each is checked here, as a file is checked on reload: a version with errors is refused, the
// last good version of that object keeps serving, and the refusal is reported (problems, log, gauge, Event).
// Checking here rather than in the snapshot is what keeps the last good version: the snapshot only disables a
// cluster object with errors, which would put the defaults back in force.
import { loadSnapshot, type Problem, type ProblemCode, type RawResource } from '../../config/index.js';
import { parseSource } from '../../config/parse.js';
import { SHADOWGATE_CONFIG } from './resource-types.js';
import { sourceFile } from './translate.js';
import type { KubeObject } from './watcher.js';

/** Where the ConfigMap is: `--config-map [NS/]NAME`, `--config-map-key KEY`. */
export interface ConfigMapRef {
  namespace: string;
  name: string;
  key: string;
}

export const DEFAULT_CONFIG_MAP_NAME = 'shadowgate';
export const DEFAULT_CONFIG_MAP_KEY = 'config.yaml';
/** Kubernetes refuses a ConfigMap whose data exceeds 1 MiB. */
const MAX_CONFIG_MAP_BYTES = 1024 * 1024;

const SETTINGS_API_VERSION = 'shadowgate.dev/v1alpha1';

/** The outcome of one version of one object, kept until the object changes (not re-checked on every endpoint change). */
interface Checked {
  resourceVersion: string;
  /** Accepted: the resource handed to the snapshot. */
  resource?: RawResource;
  /** Refused: why (errors first, then the `settings-rejected` summary). */
  errors?: Problem[];
}

export interface SettingsResult {
  /** What the snapshot reads: the good (or last good) version of each object, the ConfigMap first. */
  resources: RawResource[];
  /** Refused versions: their errors and a `settings-rejected` problem each. */
  problems: Problem[];
}

function meta(o: KubeObject): { name: string; namespace: string; resourceVersion: string } {
  const m = (o.metadata ?? {}) as Record<string, unknown>;
  return {
    name: typeof m.name === 'string' ? m.name : '',
    namespace: typeof m.namespace === 'string' && m.namespace ? m.namespace : 'default',
    resourceVersion: typeof m.resourceVersion === 'string' ? m.resourceVersion : '',
  };
}

export class ClusterSettings {
  private readonly checked = new Map<string, Checked>();
  /** The last accepted resource of each object, served while a later version is refused. */
  private readonly lastGood = new Map<string, RawResource>();

  constructor(
    private readonly configMap: ConfigMapRef | undefined,
    /** Told once per refused version (a log line). */
    private readonly onRejected: (resource: string, errors: readonly Problem[], keeping: boolean) => void = () => {},
  ) {}

  /** Objects whose newest version is refused (the `shadowgate_kubernetes_settings_rejected` gauge). */
  rejected = 0;

  update(configMaps: readonly KubeObject[], crds: readonly KubeObject[]): SettingsResult {
    const current = new Map<string, { kind: string; object: KubeObject }>();
    for (const cm of configMaps) {
      const m = meta(cm);
      // The watch asks for this one name; anything else is not ours to read.
      if (this.configMap && m.name === this.configMap.name && m.namespace === this.configMap.namespace) {
        current.set(`ConfigMap/${m.namespace}/${m.name}`, { kind: 'ConfigMap', object: cm });
      }
    }
    const byAge = [...crds].sort((a, b) => {
      const ca = String((a.metadata as { creationTimestamp?: unknown } | undefined)?.creationTimestamp ?? '');
      const cb = String((b.metadata as { creationTimestamp?: unknown } | undefined)?.creationTimestamp ?? '');
      return ca.localeCompare(cb) || `${meta(a).namespace}/${meta(a).name}`.localeCompare(`${meta(b).namespace}/${meta(b).name}`);
    });
    for (const o of byAge) current.set(`ShadowgateConfig/${meta(o).namespace}/${meta(o).name}`, { kind: 'ShadowgateConfig', object: o });

    // A deleted object takes its settings with it, as a deleted file does.
    for (const key of [...this.checked.keys()]) {
      if (!current.has(key)) {
        this.checked.delete(key);
        this.lastGood.delete(key);
      }
    }
    const resources: RawResource[] = [];
    const problems: Problem[] = [];
    let rejected = 0;
    for (const [key, { kind, object }] of current) {
      const m = meta(object);
      let c = this.checked.get(key);
      if (!c || c.resourceVersion !== m.resourceVersion || m.resourceVersion === '') {
        c = kind === 'ConfigMap' ? this.checkConfigMap(object) : this.checkObject(object);
        c.resourceVersion = m.resourceVersion;
        this.checked.set(key, c);
        if (c.resource) this.lastGood.set(key, c.resource);
        else this.onRejected(`${kind} ${m.namespace}/${m.name}`, c.errors ?? [], this.lastGood.has(key));
      }
      const serving = c.resource ?? this.lastGood.get(key);
      if (serving) resources.push(serving);
      if (c.errors) {
        rejected++;
        problems.push(...c.errors, this.summary(kind, m, c.errors, this.lastGood.has(key)));
      }
    }
    this.rejected = rejected;
    return { resources, problems };
  }

  private summary(kind: string, m: { namespace: string; name: string; resourceVersion: string }, errors: readonly Problem[], keeping: boolean): Problem {
    const first = errors[0];
    return {
      severity: 'error',
      code: 'settings-rejected',
      file: sourceFile(kind, m.namespace, m.name),
      resource: `${kind} ${m.namespace}/${m.name}`,
      message: `resource version ${m.resourceVersion} refused (${errors.length} error${errors.length === 1 ? '' : 's'}${first ? `, first: ${first.path ? `${first.path}: ` : ''}${first.message}` : ''}); ${keeping ? 'the last good version keeps serving' : 'no earlier version was good: the settings stay as they were without it'}`,
    };
  }

  private checkConfigMap(cm: KubeObject): Checked {
    const ref = this.configMap!;
    const m = meta(cm);
    const file = `${sourceFile('ConfigMap', m.namespace, m.name)}#${ref.key}`;
    const data = (cm.data ?? {}) as Record<string, unknown>;
    const text = data[ref.key];
    const fail = (message: string, code: ProblemCode = 'missing-field'): Checked => ({
      resourceVersion: '',
      errors: [{ severity: 'error', code, file, resource: `ConfigMap ${m.namespace}/${m.name}`, path: `data.${ref.key}`, message }],
    });
    if (typeof text !== 'string') {
      const keys = Object.keys(data);
      return fail(
        `has no key ${ref.key}${keys.length ? ` (keys: ${keys.slice(0, 10).join(', ')})` : ''}: put a ShadowgateConfig there, or name the key with --config-map-key`,
      );
    }
    // Parsed on the serving thread: within Kubernetes' own 1 MiB bound for a ConfigMap, and the parser bounds
    // aliases, so this cannot run away (a larger answer is not a ConfigMap the API server would store).
    if (text.length > MAX_CONFIG_MAP_BYTES) return fail(`is larger than a ConfigMap may be (${MAX_CONFIG_MAP_BYTES} bytes): not read`, 'file-too-large');
    const parsed = parseSource({ path: file, text });
    const settings = parsed.resources.filter((r) => r.kind === SHADOWGATE_CONFIG.kind && r.apiVersion.startsWith(`${SHADOWGATE_CONFIG.group}/`));
    const others = parsed.resources.filter((r) => !settings.includes(r));
    const errors = parsed.problems.filter((p) => p.severity === 'error');
    for (const r of others) {
      errors.push({
        severity: 'error',
        code: 'skipped-kind',
        file,
        message: `${r.kind} (${r.apiVersion}) is not read from the ConfigMap: only one ShadowgateConfig (${SETTINGS_API_VERSION}) is`,
      });
    }
    if (settings.length !== 1 && errors.length === 0) {
      errors.push({
        severity: 'error',
        code: settings.length === 0 ? 'missing-field' : 'duplicate-settings',
        file,
        message: settings.length === 0 ? `holds no ShadowgateConfig (${SETTINGS_API_VERSION})` : `holds ${settings.length} ShadowgateConfigs: one is read`,
      });
    }
    if (errors.length > 0) return { resourceVersion: '', errors };
    const res = settings[0]!;
    // The ConfigMap names it: a document without metadata is the common case.
    const object = { ...res.object, metadata: { ...((res.object.metadata as Record<string, unknown> | undefined) ?? {}) } } as Record<string, unknown>;
    const md = object.metadata as Record<string, unknown>;
    md.name = res.name || m.name;
    md.namespace = m.namespace;
    const resource: RawResource = { ...res, object, name: res.name || m.name, namespace: m.namespace };
    return this.check(resource);
  }

  private checkObject(o: KubeObject): Checked {
    const m = meta(o);
    return this.check({
      apiVersion: typeof o.apiVersion === 'string' ? o.apiVersion : SETTINGS_API_VERSION,
      kind: SHADOWGATE_CONFIG.kind,
      name: m.name,
      namespace: m.namespace,
      object: o,
      file: sourceFile(SHADOWGATE_CONFIG.kind, m.namespace, m.name),
      base: [],
      locate: () => undefined,
    });
  }

  /** The snapshot's own checks of the one resource (what a file holding it would get). */
  private check(resource: RawResource): Checked {
    const errors = loadSnapshot([], [], [resource]).problems.filter((p) => p.severity === 'error');
    // The worker re-reads the resource without its positions: hand it over without them, as every cluster object is.
    return errors.length > 0 ? { resourceVersion: '', errors } : { resourceVersion: '', resource: { ...resource, locate: () => undefined } };
  }
}
