// Which version of each kind the API server serves, asked once per start for every kind together: one GET /apis
// (every group, its versions and its preferred version), then one GET /apis/GROUP/VERSION per group-version
// looked into. Answers are shared by every watcher; a kind found missing is looked for again on a new generation.
import { isForbidden, isNotFound, type KubeHttp } from './http.js';
import { collectionPath, type ResourceType } from './resource-types.js';

interface GroupInfo {
  /** The server's preferred version first, then the others in the server's order. */
  versions: string[];
}

export interface DiscoveryResult {
  /** Undefined when the server does not serve the kind in any version this code reads. */
  version: string | undefined;
  /** Pass to `invalidate` to look again (a CRD installed or removed later). */
  generation: number;
}

export class Discovery {
  private groups: Promise<Map<string, GroupInfo> | 'forbidden'> | undefined;
  private readonly resources = new Map<string, Promise<Set<string> | undefined>>();
  private generation = 0;

  constructor(
    private readonly api: KubeHttp,
    private readonly signal: AbortSignal,
    private readonly timeoutMs: number,
  ) {}

  /** The version of `t` to read; a built-in kind's only version without asking. */
  async versionOf(t: ResourceType, namespace: string | undefined): Promise<DiscoveryResult> {
    const generation = this.generation;
    if (t.builtIn) return { version: t.versions[0], generation };
    const groups = await this.groupList();
    if (groups === 'forbidden') return { version: await this.probe(t, namespace), generation };
    const served = groups.get(t.group)?.versions ?? [];
    // client-go's order: the preferred version, then the rest as listed; only versions this code reads.
    for (const version of served.filter((v) => t.versions.includes(v))) {
      if ((await this.resourceList(t.group, version))?.has(t.plural)) return { version, generation };
    }
    return { version: undefined, generation };
  }

  /** Forgets the answers of `generation` (once: later callers with the same generation share the new answers). */
  invalidate(generation: number): void {
    if (generation !== this.generation) return;
    this.generation++;
    this.groups = undefined;
    this.resources.clear();
  }

  private groupList(): Promise<Map<string, GroupInfo> | 'forbidden'> {
    if (this.groups) return this.groups;
    const p = this.api.getJson('/apis', {}, 'application/json', this.signal, this.timeoutMs).then(
      (list) => {
        const out = new Map<string, GroupInfo>();
        for (const g of Array.isArray(list.groups) ? list.groups : []) {
          const name = (g as { name?: unknown } | null)?.name;
          if (typeof name !== 'string') continue;
          const listed = Array.isArray((g as { versions?: unknown }).versions) ? ((g as { versions: unknown[] }).versions as unknown[]) : [];
          const names = listed.flatMap((v) => (v && typeof (v as { version?: unknown }).version === 'string' ? [(v as { version: string }).version] : []));
          const preferred = (g as { preferredVersion?: { version?: unknown } }).preferredVersion?.version;
          out.set(name, { versions: typeof preferred === 'string' ? [preferred, ...names.filter((n) => n !== preferred)] : names });
        }
        return out;
      },
      (err: unknown) => {
        // Discovery refused (RBAC without system:discovery): fall back to probing each kind's collection.
        if (isForbidden(err)) return 'forbidden' as const;
        throw err;
      },
    );
    this.groups = p;
    // A failure is not an answer: the next caller asks again.
    p.catch(() => {
      if (this.groups === p) this.groups = undefined;
    });
    return p;
  }

  private resourceList(group: string, version: string): Promise<Set<string> | undefined> {
    const key = `${group}/${version}`;
    let p = this.resources.get(key);
    if (p) return p;
    p = this.api.getJson(`/apis/${group}/${version}`, {}, 'application/json', this.signal, this.timeoutMs).then(
      (list) =>
        new Set(
          (Array.isArray(list.resources) ? list.resources : []).flatMap((r: unknown) =>
            typeof (r as { name?: unknown } | null)?.name === 'string' ? [(r as { name: string }).name] : [],
          ),
        ),
      (err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      },
    );
    this.resources.set(key, p);
    const settled = p;
    settled.catch(() => {
      if (this.resources.get(key) === settled) this.resources.delete(key);
    });
    return p;
  }

  /** Without discovery: the first version of `t` whose collection answers a one-item list. */
  private async probe(t: ResourceType, namespace: string | undefined): Promise<string | undefined> {
    for (const version of t.versions) {
      try {
        await this.api.getJson(collectionPath(t, version, namespace), { limit: 1 }, 'application/json', this.signal, this.timeoutMs);
        return version;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return undefined;
  }
}
