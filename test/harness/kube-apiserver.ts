// Test harness: a Kubernetes API server double on a real socket. It serves discovery, list (with pages) and streamed
// watch (chunked JSON lines) for the kinds Shadowgate reads, with resource versions, bookmarks and timeoutSeconds,
// and lets a test change objects, compact history (410 Gone), drop connections, stall streams and fail requests.
// It also takes status writes (PUT and merge PATCH of `.../status`, with resourceVersion preconditions: 409 on a
// stale one) and Events, and emits 'change' after every request it records or object it stores, so a test waits
// on what the gateway did (`until`), never on a clock.
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export type KObject = Record<string, unknown> & { metadata?: Record<string, unknown> };

export interface KindInfo {
  group: string;
  kind: string;
  plural: string;
  /** Versions served, preferred first (core, discovery.k8s.io, extra kinds); Istio kinds are served in `istioVersions`. */
  versions?: string[];
  /** Cluster-scoped (GatewayClass): no namespace in its paths or objects. */
  clusterScoped?: boolean;
}

const KINDS: KindInfo[] = [
  { group: '', versions: ['v1'], kind: 'Service', plural: 'services' },
  { group: '', versions: ['v1'], kind: 'Pod', plural: 'pods' },
  { group: '', versions: ['v1'], kind: 'ConfigMap', plural: 'configmaps' },
  { group: '', versions: ['v1'], kind: 'Secret', plural: 'secrets' },
  { group: 'discovery.k8s.io', versions: ['v1'], kind: 'EndpointSlice', plural: 'endpointslices' },
  { group: 'networking.istio.io', kind: 'VirtualService', plural: 'virtualservices' },
  { group: 'networking.istio.io', kind: 'DestinationRule', plural: 'destinationrules' },
  { group: 'networking.istio.io', kind: 'ServiceEntry', plural: 'serviceentries' },
  { group: 'networking.istio.io', kind: 'WorkloadEntry', plural: 'workloadentries' },
];

export interface RecordedApiRequest {
  path: string;
  query: URLSearchParams;
  /** Kind of the collection asked for, if any. */
  kind?: string;
  watch: boolean;
  authorization?: string;
  accept?: string;
  userAgent?: string;
  method: string;
  /** The object's name, for requests on one object (GET, PUT, PATCH). */
  name?: string;
  /** `status` for the status subresource. */
  subresource?: string;
  at: number;
}

/** A status write the double took (or refused: `status` 409). */
export interface StatusWrite {
  kind: string;
  namespace: string | undefined;
  name: string;
  method: 'PUT' | 'PATCH';
  contentType: string | undefined;
  body: KObject;
  /** The HTTP status answered. */
  answered: number;
}

interface OpenWatch {
  kind: string;
  namespace?: string;
  /** `metadata.name` of a `fieldSelector=metadata.name=X`. */
  name?: string;
  apiVersion: string;
  res: http.ServerResponse;
  stalled: boolean;
  timers: NodeJS.Timeout[];
}

interface LoggedEvent {
  rv: number;
  kind: string;
  namespace: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KObject;
}

export interface FakeApiServerOptions {
  /** Versions of networking.istio.io served, preferred first; empty = Istio CRDs not installed. Default v1, v1beta1, v1alpha3. */
  istioVersions?: string[];
  /** Interval of BOOKMARK events on every open watch; 0 = none. Default 0. */
  bookmarkIntervalMs?: number;
  /** How a watch from a compacted resource version is refused: an ERROR event (as kube-apiserver does) or an HTTP 410. */
  goneAs?: 'event' | 'status';
  /** More kinds to serve (a Gateway API kind, say), each in its `versions`. */
  extraKinds?: KindInfo[];
  /** Answer discovery (`/apis...` without a collection) with 403, as RBAC without `system:discovery` would. */
  forbidDiscovery?: boolean;
}

const clone = <T>(v: T): T => structuredClone(v);

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return clone(patch);
  const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** `metadata.name=X` of a fieldSelector (the only field the double filters on). */
function nameSelected(q: URLSearchParams): string | undefined {
  const m = /^metadata\.name=(.+)$/.exec(q.get('fieldSelector') ?? '');
  return m?.[1];
}

export class FakeKubeApiServer extends EventEmitter {
  readonly requests: RecordedApiRequest[] = [];
  /** Status writes, in order (refused ones too). */
  readonly statusWrites: StatusWrite[] = [];
  /** Status writes to refuse with 409 Conflict before taking one (a test plays a concurrent writer). */
  conflictNextStatusWrites = 0;
  /** Answer status writes 403, as RBAC without the `/status` subresources would. */
  forbidStatusWrites = false;
  /** Token the KubeConfig of `kubeConfig()` sends. */
  readonly token = 'test-token';
  istioVersions: string[];
  bookmarkIntervalMs: number;
  goneAs: 'event' | 'status';
  private readonly kinds: KindInfo[];
  private readonly forbidDiscovery: boolean;
  private rv = 100;
  /** Watches from below this resource version get 410. */
  private compactedBelow = 0;
  private readonly objects = new Map<string, KObject>();
  private readonly log: LoggedEvent[] = [];
  private readonly watches = new Set<OpenWatch>();
  private failures: Array<{ status: number; kind?: string; watchOnly: boolean }> = [];
  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    opts: FakeApiServerOptions,
  ) {
    super();
    this.istioVersions = opts.istioVersions ?? ['v1', 'v1beta1', 'v1alpha3'];
    this.bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 0;
    this.goneAs = opts.goneAs ?? 'event';
    this.kinds = [...KINDS, ...(opts.extraKinds ?? [])];
    this.forbidDiscovery = opts.forbidDiscovery ?? false;
  }

  static async start(opts: FakeApiServerOptions = {}): Promise<FakeKubeApiServer> {
    let self: FakeKubeApiServer | undefined;
    const server = http.createServer((req, res) => self!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    self = new FakeKubeApiServer(server, `http://127.0.0.1:${port}`, opts);
    return self;
  }

  /** A KubeConfig for the real client library: this server, TLS verification skipped, a bearer token. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'tester', token: this.token }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'tester', namespace: 'default' }],
      currentContext: 'fake',
    });
    return kc;
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Resolves once `check()` holds, looked at after every request and change (bounded by the test's own timeout). */
  until<T>(check: () => T | undefined | false): Promise<T> {
    const first = check();
    if (first) return Promise.resolve(first);
    return new Promise<T>((resolve) => {
      const look = () => {
        const v = check();
        if (!v) return;
        this.off('change', look);
        resolve(v);
      };
      this.on('change', look);
    });
  }

  // ------------------------------------------------------------------ what a test does to the cluster

  /** Creates or replaces an object (by kind, namespace, name); returns it with its new resourceVersion. */
  apply(input: KObject): KObject {
    const object = clone(input);
    const kind = String(object.kind);
    if (!this.kinds.some((k) => k.kind === kind)) throw new Error(`fake apiserver: unknown kind ${kind}`);
    object.metadata ??= {};
    const meta = object.metadata;
    const info = this.kinds.find((k) => k.kind === kind)!;
    if (info.clusterScoped) delete meta.namespace;
    else meta.namespace ??= 'default';
    const key = `${kind}/${String(meta.namespace ?? '')}/${String(meta.name)}`;
    const old = this.objects.get(key);
    this.rv++;
    meta.resourceVersion = String(this.rv);
    meta.uid ??= (old?.metadata?.uid as string | undefined) ?? `uid-${this.rv}`;
    meta.creationTimestamp ??= (old?.metadata?.creationTimestamp as string | undefined) ?? new Date(Date.UTC(2026, 0, 1, 0, 0, this.rv)).toISOString();
    // As the API server: a change of anything but metadata and status bumps the generation; the status subresource is
    // written only through /status (an apply keeps what is there).
    const oldGen = Number(old?.metadata?.generation ?? 0);
    const specChanged = !old || JSON.stringify({ ...old, metadata: 0, status: 0 }) !== JSON.stringify({ ...object, metadata: 0, status: 0 });
    meta.generation = specChanged ? oldGen + 1 : oldGen;
    if (old && 'status' in old && !('status' in input)) object.status = clone(old.status);
    this.objects.set(key, object);
    this.publish({ rv: this.rv, kind, namespace: String(meta.namespace ?? ''), type: old ? 'MODIFIED' : 'ADDED', object });
    this.emit('change');
    return clone(object);
  }

  /** Deletes an object; true when it existed. */
  delete(kind: string, namespace: string, name: string): boolean {
    const key = `${kind}/${namespace}/${name}`;
    const old = this.objects.get(key);
    if (!old) return false;
    this.objects.delete(key);
    this.rv++;
    const object = clone(old);
    object.metadata!.resourceVersion = String(this.rv);
    this.publish({ rv: this.rv, kind, namespace, type: 'DELETED', object });
    this.emit('change');
    return true;
  }

  /** An object as stored (`namespace` '' for a cluster-scoped kind). */
  get(kind: string, namespace: string, name: string): KObject | undefined {
    const o = this.objects.get(`${kind}/${namespace}/${name}`);
    return o && clone(o);
  }

  /** Forgets history: a watch from any resource version older than the current one gets 410 Gone. */
  compact(): void {
    this.compactedBelow = this.rv;
    this.log.length = 0;
  }

  /** Destroys the sockets of open watches (of one kind, or all); returns how many. */
  dropWatches(kind?: string): number {
    let n = 0;
    for (const w of [...this.watches]) {
      if (kind && w.kind !== kind) continue;
      this.closeWatch(w);
      w.res.socket?.destroy();
      n++;
    }
    return n;
  }

  /** Keeps open watches (of one kind, or all) open but silent: no event, no bookmark, no end. Returns how many. */
  stallWatches(kind?: string): number {
    let n = 0;
    for (const w of this.watches) {
      if (kind && w.kind !== kind) continue;
      w.stalled = true;
      for (const t of w.timers) clearTimeout(t);
      n++;
    }
    return n;
  }

  /** Answers the next `count` requests (of a kind; watches only if asked) with `status`. */
  failNext(count: number, status: number, opts: { kind?: string; watchOnly?: boolean } = {}): void {
    for (let i = 0; i < count; i++) this.failures.push({ status, kind: opts.kind, watchOnly: opts.watchOnly ?? false });
  }

  /** Forgets the failures `failNext` asked for and that have not happened yet. */
  clearFailures(): void {
    this.failures = [];
  }

  /** Open, non-stalled watches (of one kind, or all). */
  openWatches(kind?: string): number {
    return [...this.watches].filter((w) => !w.stalled && (!kind || w.kind === kind)).length;
  }

  watchRequests(kind?: string): RecordedApiRequest[] {
    return this.requests.filter((r) => r.watch && (!kind || r.kind === kind));
  }

  listRequests(kind?: string): RecordedApiRequest[] {
    return this.requests.filter((r) => !r.watch && r.kind !== undefined && (!kind || r.kind === kind));
  }

  async close(): Promise<void> {
    for (const w of [...this.watches]) {
      this.closeWatch(w);
      w.res.socket?.destroy();
    }
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ------------------------------------------------------------------ serving

  private publish(event: LoggedEvent): void {
    this.log.push(event);
    for (const w of this.watches) {
      if (w.kind !== event.kind || (w.namespace && w.namespace !== event.namespace)) continue;
      if (w.name !== undefined && w.name !== event.object.metadata?.name) continue;
      this.send(w, { type: event.type, object: { ...clone(event.object), apiVersion: w.apiVersion } });
    }
  }

  private send(w: OpenWatch, event: unknown): void {
    if (w.stalled || w.res.writableEnded || w.res.destroyed) return;
    w.res.write(`${JSON.stringify(event)}\n`);
  }

  private closeWatch(w: OpenWatch): void {
    for (const t of w.timers) clearTimeout(t);
    if (this.watches.delete(w)) this.emit('change');
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private status(res: http.ServerResponse, code: number, reason: string, message: string): void {
    this.json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  }

  /** Parses `/api/v1[/namespaces/NS]/PLURAL` and `/apis/GROUP/VERSION[/namespaces/NS]/PLURAL`. */
  private route(
    path: string,
  ):
    | { info: KindInfo; version: string; namespace?: string; name?: string; subresource?: string }
    | { discovery: 'groups' | 'group' | 'version'; group: string; version?: string }
    | undefined {
    const parts = path.split('/').filter(Boolean);
    if (parts.length === 1 && parts[0] === 'apis') return { discovery: 'groups', group: '' };
    let group: string;
    let version: string | undefined;
    let rest: string[];
    if (parts[0] === 'api') {
      group = '';
      version = parts[1];
      rest = parts.slice(2);
    } else if (parts[0] === 'apis') {
      group = parts[1] ?? '';
      version = parts[2];
      rest = parts.slice(3);
      if (!version) return { discovery: 'group', group };
    } else return undefined;
    if (rest.length === 0) return { discovery: 'version', group, version };
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = decodeURIComponent(rest[1]!);
      rest = rest.slice(2);
    }
    if (rest.length < 1 || rest.length > 3) return undefined;
    const info = this.kinds.find((k) => k.group === group && k.plural === rest[0]);
    if (!info || !this.serves(info, version!)) return undefined;
    if (info.clusterScoped && namespace !== undefined) return undefined;
    const out: { info: KindInfo; version: string; namespace?: string; name?: string; subresource?: string } = { info, version: version! };
    if (namespace !== undefined) out.namespace = namespace;
    if (rest[1] !== undefined) out.name = decodeURIComponent(rest[1]);
    if (rest[2] !== undefined) out.subresource = rest[2];
    return out;
  }

  private versionsOf(info: KindInfo): string[] {
    return info.versions ?? this.istioVersions;
  }

  private serves(info: KindInfo, version: string): boolean {
    return this.versionsOf(info).includes(version);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const route = this.route(url.pathname);
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const record: RecordedApiRequest = { path: url.pathname, query: url.searchParams, watch, method: req.method ?? 'GET', at: Date.now() };
    if (req.headers.authorization) record.authorization = req.headers.authorization;
    if (req.headers.accept) record.accept = req.headers.accept;
    if (req.headers['user-agent']) record.userAgent = req.headers['user-agent'];
    if (route && 'info' in route) {
      record.kind = route.info.kind;
      if (route.name !== undefined) record.name = route.name;
      if (route.subresource !== undefined) record.subresource = route.subresource;
    }
    this.requests.push(record);
    this.emit('change');

    if (req.headers.authorization !== `Bearer ${this.token}`) {
      this.status(res, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    if (req.method === 'POST') {
      this.create(req, res, url.pathname);
      return;
    }
    const failure = this.failures.findIndex((f) => (!f.kind || f.kind === record.kind) && (!f.watchOnly || watch));
    if (failure >= 0) {
      const f = this.failures.splice(failure, 1)[0]!;
      this.status(res, f.status, http.STATUS_CODES[f.status] ?? 'Error', 'injected failure');
      return;
    }
    if (!route) {
      this.status(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
      return;
    }
    if ('info' in route && route.name !== undefined) {
      this.one(req, res, route.info, route.version, route.namespace, route.name, route.subresource);
      return;
    }
    if (req.method !== 'GET') {
      this.status(res, 405, 'MethodNotAllowed', `${req.method} ${url.pathname} is not supported by this double`);
      return;
    }
    if ('discovery' in route) {
      if (this.forbidDiscovery) {
        this.status(res, 403, 'Forbidden', `forbidden: User "tester" cannot get path "${url.pathname}"`);
        return;
      }
      this.discovery(res, route.discovery, route.group, route.version);
      return;
    }
    if (watch) {
      this.watch(res, route.info, route.version, route.namespace, url.searchParams);
      return;
    }
    this.list(res, route.info, route.version, route.namespace, url.searchParams);
  }

  /** Events the gateway posted (POST /api/v1/namespaces/{ns}/events). */
  readonly events: KObject[] = [];

  private create(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/events$/.exec(path);
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      if (!m) {
        this.status(res, 405, 'MethodNotAllowed', `POST ${path} is not supported by this double`);
        return;
      }
      const event = JSON.parse(body) as KObject;
      this.events.push(event);
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify(event));
      this.emit('change');
    });
  }

  /** GET of one object, or a PUT / merge PATCH of its status subresource. */
  private one(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    info: KindInfo,
    version: string,
    namespace: string | undefined,
    name: string,
    subresource: string | undefined,
  ): void {
    const key = `${info.kind}/${namespace ?? ''}/${name}`;
    const apiVersion = info.group ? `${info.group}/${version}` : version;
    if (req.method === 'GET' && subresource === undefined) {
      const o = this.objects.get(key);
      if (!o) this.status(res, 404, 'NotFound', `${info.plural} "${name}" not found`);
      else this.json(res, 200, { ...clone(o), apiVersion, kind: info.kind });
      return;
    }
    if ((req.method !== 'PUT' && req.method !== 'PATCH') || subresource !== 'status') {
      this.status(res, 405, 'MethodNotAllowed', `${req.method} ${req.url} is not supported by this double`);
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      const method = req.method as 'PUT' | 'PATCH';
      const contentType = req.headers['content-type'];
      const parsed = JSON.parse(body) as KObject;
      const write: StatusWrite = { kind: info.kind, namespace, name, method, contentType, body: parsed, answered: 200 };
      const answer = (code: number, reason: string, message: string) => {
        write.answered = code;
        this.statusWrites.push(write);
        this.status(res, code, reason, message);
        this.emit('change');
      };
      const old = this.objects.get(key);
      if (!old) return answer(404, 'NotFound', `${info.plural} "${name}" not found`);
      if (this.forbidStatusWrites)
        return answer(403, 'Forbidden', `${info.plural}.${info.group} "${name}" is forbidden: cannot patch resource "${info.plural}/status"`);
      if (method === 'PATCH' && contentType !== 'application/merge-patch+json')
        return answer(415, 'UnsupportedMediaType', `${contentType} is not a patch type this double takes`);
      const precondition = parsed.metadata?.resourceVersion;
      if (method === 'PUT' && precondition === undefined) return answer(422, 'Invalid', 'metadata.resourceVersion: must be specified for an update');
      if (this.conflictNextStatusWrites > 0 || (precondition !== undefined && precondition !== old.metadata?.resourceVersion)) {
        if (this.conflictNextStatusWrites > 0) this.conflictNextStatusWrites--;
        return answer(
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${info.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        );
      }
      const status = method === 'PUT' ? clone(parsed.status) : mergePatch(old.status, parsed.status);
      const object = clone(old);
      if (status === undefined) delete object.status;
      else object.status = status;
      this.rv++;
      object.metadata!.resourceVersion = String(this.rv);
      this.objects.set(key, object);
      this.statusWrites.push(write);
      this.publish({ rv: this.rv, kind: info.kind, namespace: namespace ?? '', type: 'MODIFIED', object });
      this.json(res, 200, { ...clone(object), apiVersion, kind: info.kind });
      this.emit('change');
    });
  }

  /** Versions a group serves, preferred first. */
  private groupVersions(group: string): string[] {
    return [...new Set(this.kinds.filter((k) => k.group === group).flatMap((k) => this.versionsOf(k)))];
  }

  private discovery(res: http.ServerResponse, what: 'groups' | 'group' | 'version', group: string, version?: string): void {
    if (what === 'groups') {
      // APIGroupList: every named group that serves something (the core group lives at /api).
      const groups = [...new Set(this.kinds.map((k) => k.group))]
        .filter((g) => g !== '' && this.groupVersions(g).length > 0)
        .map((g) => {
          const list = this.groupVersions(g).map((v) => ({ groupVersion: `${g}/${v}`, version: v }));
          return { name: g, versions: list, preferredVersion: list[0] };
        });
      this.json(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
      return;
    }
    const versions = this.groupVersions(group);
    const kinds = this.kinds.filter((k) => k.group === group && (what === 'group' || this.serves(k, version!)));
    if (kinds.length === 0 || versions.length === 0 || (what === 'version' && !versions.includes(version!))) {
      this.status(res, 404, 'NotFound', 'the server could not find the requested resource');
      return;
    }
    if (what === 'group') {
      const list = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
      this.json(res, 200, { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: list, preferredVersion: list[0] });
      return;
    }
    this.json(res, 200, {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: group ? `${group}/${version}` : version,
      resources: kinds.flatMap((k) => [
        { name: k.plural, singularName: k.kind.toLowerCase(), namespaced: !k.clusterScoped, kind: k.kind, verbs: ['get', 'list', 'watch'] },
        { name: `${k.plural}/status`, singularName: '', namespaced: !k.clusterScoped, kind: k.kind, verbs: ['get', 'patch', 'update'] },
      ]),
    });
  }

  private matching(info: KindInfo, namespace: string | undefined, name: string | undefined): KObject[] {
    return [...this.objects.entries()]
      .filter(([key]) => key.startsWith(`${info.kind}/${namespace ? `${namespace}/` : ''}`))
      .filter(([, o]) => name === undefined || o.metadata?.name === name)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, o]) => o);
  }

  private list(res: http.ServerResponse, info: KindInfo, version: string, namespace: string | undefined, q: URLSearchParams): void {
    const apiVersion = info.group ? `${info.group}/${version}` : version;
    const all = this.matching(info, namespace, nameSelected(q));
    const limit = Number(q.get('limit') ?? 0);
    const offset = Number(q.get('continue') || 0);
    const page = limit > 0 ? all.slice(offset, offset + limit) : all.slice(offset);
    const next = limit > 0 && offset + limit < all.length ? String(offset + limit) : undefined;
    // Built-in kinds' list items carry no apiVersion/kind (the real server leaves them out); custom resources do.
    const items = page.map((o) => {
      const c = clone(o);
      if (info.group !== '' && info.group !== 'discovery.k8s.io') c.apiVersion = apiVersion;
      else {
        delete c.apiVersion;
        delete c.kind;
      }
      return c;
    });
    const metadata: Record<string, string> = { resourceVersion: String(this.rv) };
    if (next) metadata.continue = next;
    this.json(res, 200, { kind: `${info.kind}List`, apiVersion, metadata, items });
  }

  private watch(res: http.ServerResponse, info: KindInfo, version: string, namespace: string | undefined, q: URLSearchParams): void {
    const apiVersion = info.group ? `${info.group}/${version}` : version;
    const from = q.get('resourceVersion');
    const fromRv = from ? Number(from) : this.rv;
    const gone = fromRv < this.compactedBelow;
    if (gone && this.goneAs === 'status') {
      this.status(res, 410, 'Expired', `too old resource version: ${from} (${this.compactedBelow})`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (gone) {
      const status = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${from} (${this.compactedBelow})`,
        reason: 'Expired',
        code: 410,
      };
      res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      return;
    }
    const w: OpenWatch = { kind: info.kind, apiVersion, res, stalled: false, timers: [] };
    if (namespace) w.namespace = namespace;
    const name = nameSelected(q);
    if (name !== undefined) w.name = name;
    // What happened since `from`, then live events.
    for (const e of this.log) {
      if (e.rv > fromRv && e.kind === info.kind && (!namespace || e.namespace === namespace) && (name === undefined || e.object.metadata?.name === name)) {
        this.send(w, { type: e.type, object: { ...clone(e.object), apiVersion } });
      }
    }
    this.watches.add(w);
    res.on('close', () => this.closeWatch(w));
    this.emit('change');
    const timeoutSeconds = Number(q.get('timeoutSeconds') ?? 0);
    if (timeoutSeconds > 0) {
      w.timers.push(
        setTimeout(() => {
          this.closeWatch(w);
          if (!w.stalled) res.end();
        }, timeoutSeconds * 1000),
      );
    }
    if (this.bookmarkIntervalMs > 0 && q.get('allowWatchBookmarks') === 'true') {
      const tick = () => {
        this.send(w, { type: 'BOOKMARK', object: { kind: info.kind, apiVersion, metadata: { resourceVersion: String(this.rv) } } });
        w.timers.push(setTimeout(tick, this.bookmarkIntervalMs));
      };
      w.timers.push(setTimeout(tick, this.bookmarkIntervalMs));
    }
  }
}
