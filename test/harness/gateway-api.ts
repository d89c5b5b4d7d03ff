// Test harness for the Gateway API conformance cases: the suite's three backends and its Gateway, on loopback.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { GatewayOptions } from '../../src/gateway/index.js';
import { freePort, send, startGateway, type TestGateway } from './gateway.js';
import { type Behaviour, startUpstream, type TestUpstream } from './upstream.js';

export const NS = 'gateway-conformance-infra';
/** The suite's other namespaces with backends (conformance/base/manifests.yaml). */
export const WEB_NS = 'gateway-conformance-web-backend';
export const APP_NS = 'gateway-conformance-app-backend';
const FIXTURES = new URL('../../../test/fixtures/gateway-api/', import.meta.url);

/** A conformance test's YAML, as kept in test/fixtures/gateway-api/. */
export function fixture(name: string): string {
  return readFileSync(new URL(`${name}.yaml`, FIXTURES), 'utf8');
}

/**
 * The suite's `infra-backend-v1..v3` Services (port 8080), declared as ServiceEntries that are destinations
 * only (no listener of their own), each answering with `x-upstream: infra-backend-vN`. The gRPC cases' backends
 * change the port's protocol, name and number, and the namespace.
 */
export function backendsYaml(
  backends: ReadonlyArray<{ name: string; port: number }>,
  o: { ns?: string; number?: number; portName?: string; protocol?: string } = {},
): string {
  const { ns = NS, number = 8080, portName = 'http', protocol = 'HTTP' } = o;
  return backends
    .map(
      (b) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${b.name}
  namespace: ${ns}
  annotations: {shadowgate.dev/listen: "false"}
spec:
  hosts: [${b.name}.${ns}.svc.cluster.local]
  ports: [{number: ${number}, name: ${portName}, protocol: ${protocol}}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {${portName}: ${b.port}}}]
`,
    )
    .join('---\n');
}

/** Runs `fn` on a started case whose config loaded without problems but `warnings` (`code path`), then closes it. */
export async function clean<C extends { tg: TestGateway; close(): Promise<void> }>(
  c: C,
  fn: (c: C) => Promise<void>,
  warnings: readonly string[] = [],
): Promise<void> {
  try {
    assert.deepEqual(
      c.tg.gw.snapshot.problems.filter((p) => p.severity !== 'info').map((p) => `${p.code} ${p.path}`),
      warnings,
      'the YAML loads without other problems',
    );
    await fn(c);
  } finally {
    await c.close();
  }
}

/** The suite's `same-namespace` Gateway (conformance/base/manifests.yaml), its port 80 replaced by `port`. */
export function gatewayYaml(port: number, className = 'shadowgate'): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: same-namespace, namespace: ${NS}}
spec:
  gatewayClassName: ${className}
  listeners:
  - name: http
    port: ${port}
    protocol: HTTP
    allowedRoutes:
      namespaces: {from: Same}
`;
}

/** A Go duration as the suite's echo server reads its `delay` parameter: `1s`, `500ms`. */
function goDurationMs(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(s);
  if (!m) throw new Error(`delay "${s}" is not a duration this harness reads`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

/**
 * The query parameters the suite's echo server (conformance/echo-basic) obeys, for the cases that use them: `delay`
 * (answer after it), and `responseCode` with `succeedAfter` (the first `succeedAfter` requests carrying the same
 * `uuid` get `responseCode`, later ones 200: the retry cases).
 */
export function echoBasic(upstream: () => TestUpstream): Behaviour {
  return {
    kind: 'script',
    answer(req) {
      const q = new URL(req.url, 'http://x').searchParams;
      const delay = q.get('delay');
      const code = q.get('responseCode');
      let status = 200;
      if (code !== null) {
        const uuid = q.get('uuid');
        const seen = upstream().requests.filter((r) => new URL(r.url, 'http://x').searchParams.get('uuid') === uuid).length;
        if (seen <= Number(q.get('succeedAfter') ?? Number.POSITIVE_INFINITY)) status = Number(code);
      }
      return delay === null ? { status } : { status, delayMs: goDurationMs(delay) };
    },
  };
}

export interface Conformance {
  port: number;
  tg: TestGateway;
  backends: Record<'v1' | 'v2' | 'v3', TestUpstream>;
  /** The suite's `web-backend` (gateway-conformance-web-backend) and `app-backend-v1`/`-v2` (gateway-conformance-app-backend). */
  others: Record<'web' | 'appV1' | 'appV2', TestUpstream>;
  /** Sends a request; the answer's `x-upstream` says which backend served it. */
  get(path: string, init?: { method?: string; headers?: Record<string, string> }): ReturnType<typeof send>;
  close(): Promise<void>;
}

/** `port`: the `same-namespace` Gateway's (a free one when not given). */
export async function conformance(files: Record<string, string>, opts: Partial<GatewayOptions> = {}, port?: number): Promise<Conformance> {
  const v1 = await startUpstream('infra-backend-v1');
  const v2 = await startUpstream('infra-backend-v2');
  const v3 = await startUpstream('infra-backend-v3');
  const web = await startUpstream('web-backend');
  const appV1 = await startUpstream('app-backend-v1');
  const appV2 = await startUpstream('app-backend-v2');
  const all = [v1, v2, v3, web, appV1, appV2];
  const closeBackends = () => Promise.all(all.map((b) => b.close()));
  port ??= await freePort();
  const backends = [backendsYaml([v1, v2, v3]), backendsYaml([web], { ns: WEB_NS }), backendsYaml([appV1, appV2], { ns: APP_NS })].join('---\n');
  // A gateway that fails to start must not leave the backends holding the event loop open (as grpcConformance).
  const tg = await startGateway({ 'backends.yaml': backends, 'gateway.yaml': gatewayYaml(port), ...files }, opts).catch(async (err: unknown) => {
    await closeBackends();
    throw err;
  });
  const gatewayPort = port;
  return {
    port: gatewayPort,
    tg,
    backends: { v1, v2, v3 },
    others: { web, appV1, appV2 },
    get: (path, init = {}) => send(gatewayPort, path, { method: init.method ?? 'GET', headers: { host: 'gateway.example', ...init.headers } }),
    async close() {
      await tg.close();
      await closeBackends();
    },
  };
}

/**
 * A suite fixture as the harness needs it, nothing else changed: the class placeholder filled in, and the ports of its
 * Gateways' listeners (and of its routes' parentRefs, which name them) mapped by `ports` (the suite's 80, 443, 8080...
 * to free loopback ports); a port not in `ports` stays. Backend and redirect ports are left alone.
 */
export function suiteYaml(name: string, ports: Readonly<Record<number, number>> = {}): string {
  const map = (text: string) => text.replace(/\bport: (\d+)$/gm, (all, p: string) => (ports[Number(p)] === undefined ? all : `port: ${ports[Number(p)]}`));
  return fixture(name)
    .replaceAll('"{GATEWAY_CLASS_NAME}"', 'shadowgate')
    .split(/^---$/m)
    .map((doc) => {
      if (/^kind: Gateway$/m.test(doc)) return map(doc);
      // A route's parentRefs come before its rules in every suite fixture.
      const at = doc.indexOf('parentRefs:');
      const end = doc.indexOf('rules:', at);
      return at < 0 || end < 0 ? doc : doc.slice(0, at) + map(doc.slice(at, end)) + doc.slice(end);
    })
    .join('---');
}

export type Cond = { type: string; status: string; reason: string; observedGeneration?: number };
export type ListenerStatus = { name: string; attachedRoutes: number; supportedKinds: Array<{ group: string; kind: string }>; conditions: Cond[] };
type Resources = { resources: ReadonlyArray<{ kind: string; namespace?: string; name: string; status?: Record<string, unknown> }> };

/** A resource's status, as /config_dump shows it. */
export function statusOf(s: Resources, kind: string, name: string): Record<string, unknown> {
  const r = s.resources.find((x) => x.kind === kind && x.name === name);
  assert.ok(r?.status, `${kind} ${name} has a status`);
  return r.status;
}

/** `Type=Status/Reason` of each of a route's parents' conditions. */
export function parentConditions(s: Resources, kind: string, name: string): string[][] {
  return ((statusOf(s, kind, name).parents ?? []) as Array<{ conditions: Cond[] }>).map((p) => p.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`));
}

export function gatewayListeners(s: Resources, name: string): ListenerStatus[] {
  return (statusOf(s, 'Gateway', name).listeners ?? []) as ListenerStatus[];
}

/** `Status/Reason` of a listener's condition of `type`. */
export function listenerCondition(l: ListenerStatus, type: string): string {
  const c = l.conditions.find((x) => x.type === type);
  assert.ok(c, `listener ${l.name} has a ${type} condition`);
  return `${c.status}/${c.reason}`;
}

/**
 * What the suite's GatewayStatusMustHaveListeners checks: the same listeners by name, the expected supportedKinds
 * among the actual ones (none when none are expected), attachedRoutes, and each expected condition present with its
 * status and (when given) reason.
 */
export function assertListeners(
  actual: readonly ListenerStatus[],
  expected: ReadonlyArray<{ name: string; kinds: string[]; attachedRoutes: number; conditions: string[] }>,
): void {
  assert.deepEqual(actual.map((l) => l.name).sort(), expected.map((l) => l.name).sort(), 'listener names');
  for (const e of expected) {
    const a = actual.find((l) => l.name === e.name)!;
    const kinds = a.supportedKinds.map((k) => k.kind);
    if (e.kinds.length === 0) assert.deepEqual(kinds, [], `${e.name}: no supportedKinds`);
    for (const k of e.kinds) assert.ok(kinds.includes(k), `${e.name}: ${k} among supportedKinds ${kinds.join(', ')}`);
    assert.equal(a.attachedRoutes, e.attachedRoutes, `${e.name}: attachedRoutes`);
    for (const want of e.conditions) {
      // `Type=Status` or `Type=Status/Reason`.
      const [type, rest] = want.split('=') as [string, string];
      const [status, reason] = rest.split('/');
      const c = a.conditions.find((x) => x.type === type);
      assert.ok(c, `${e.name}: a ${type} condition`);
      assert.equal(c.status, status, `${e.name}: ${type} status (${c.reason})`);
      if (reason !== undefined) assert.equal(c.reason, reason, `${e.name}: ${type} reason`);
    }
  }
}
