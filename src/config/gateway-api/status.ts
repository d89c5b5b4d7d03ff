// Status conditions as a Gateway API controller writes them, built as plain data (no clock: no lastTransitionTime).
import { isIP } from 'node:net';
import type { ProblemCode } from '../problem-codes.js';
import type { ParentRefSpec } from './types.js';

export interface Condition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
  observedGeneration: number;
}

export function condition(type: string, ok: boolean, reason: string, message: string, generation: number): Condition {
  return { type, status: ok ? 'True' : 'False', reason, message, observedGeneration: generation };
}

/**
 * A Gateway's own Accepted and Programmed conditions from its listeners' (GEP-1364): reason ListenersNotValid when some
 * listener is not programmed; Accepted False only when no listener is accepted (nothing of the Gateway can be served:
 * the suite's GatewayListenerUnsupportedProtocol expects a Gateway of unsupported protocols only not to be accepted,
 * and one with a valid listener beside them to be); Programmed while at least one listener is.
 */
export function gatewayConditions(listeners: ReadonlyArray<{ accepted: boolean; programmed: boolean }>, generation: number): Condition[] {
  const live = listeners.filter((l) => l.programmed).length;
  const all = live === listeners.length;
  const accepted = listeners.length === 0 || listeners.some((l) => l.accepted);
  return [
    condition(
      'Accepted',
      accepted,
      all ? 'Accepted' : 'ListenersNotValid',
      all ? 'accepted' : accepted ? 'some listeners are not valid' : 'no listener is valid',
      generation,
    ),
    condition('Programmed', live > 0, live > 0 ? 'Programmed' : 'Invalid', live > 0 ? 'serving' : 'no listener can be served', generation),
  ];
}

/** What a Secret named by a certificateRef is worth: undefined when usable, 'pending' while Secrets are being listed, else why not. */
export type CertificateCheck = (secret: string) => string | 'pending' | undefined;

type Obj = Record<string, unknown>;

/**
 * A Gateway's computed status with its listeners' certificateRefs checked against the Secrets present (`refs`: per
 * listener name, the Secrets `ns/name` it terminates TLS with). Config building reads no Secret, so this is done
 * where the status is written: a listener whose Secret is missing or unusable gets ResolvedRefs False
 * InvalidCertificateRef and Programmed False Invalid (it is not served), and the Gateway's conditions follow.
 * 'pending' while any of those Secrets is not known yet.
 */
export function withCertificateChecks(status: Obj, refs: Readonly<Record<string, readonly string[]>>, check: CertificateCheck): Obj | 'pending' {
  const listeners = Array.isArray(status.listeners) ? (status.listeners as Obj[]) : [];
  let changed = false;
  const out: Obj[] = [];
  for (const l of listeners) {
    let problem: string | undefined;
    for (const secret of refs[String(l.name)] ?? []) {
      const got = check(secret);
      if (got === 'pending') return 'pending';
      if (got !== undefined) {
        problem = got;
        break;
      }
    }
    const conds = (Array.isArray(l.conditions) ? l.conditions : []) as Condition[];
    const resolved = conds.find((c) => c.type === 'ResolvedRefs');
    // Another ResolvedRefs reason (a kind, a grant) was found first and stays.
    if (problem === undefined || !resolved || resolved.status === 'False') {
      out.push(l);
      continue;
    }
    changed = true;
    out.push({
      ...l,
      conditions: conds.map((c) =>
        c.type === 'ResolvedRefs'
          ? condition('ResolvedRefs', false, 'InvalidCertificateRef', problem, c.observedGeneration)
          : c.type === 'Programmed'
            ? condition('Programmed', false, 'Invalid', `not served: ${problem}`, c.observedGeneration)
            : c,
      ),
    });
  }
  if (!changed) return status;
  const generation = ((status.conditions ?? []) as Condition[])[0]?.observedGeneration ?? 1;
  const isTrue = (l: Obj, type: string) => (l.conditions as Condition[]).some((c) => c.type === type && c.status === 'True');
  const own = gatewayConditions(
    out.map((l) => ({ accepted: isTrue(l, 'Accepted'), programmed: isTrue(l, 'Programmed') })),
    generation,
  );
  const conditions = ((status.conditions ?? []) as Condition[]).map((c) => own.find((o) => o.type === c.type) ?? c);
  return { ...status, conditions, listeners: out };
}

/** A GatewayStatusAddress (gateway.networking.k8s.io/v1). */
export interface GatewayStatusAddress {
  type: 'IPAddress' | 'Hostname';
  value: string;
}

/**
 * A Gateway's status with `addresses`: those its programmed listeners' ports are bound to (`boundAddress`: the
 * socket's address, undefined when the port is not bound), IPs as IPAddress, names as Hostname; none when no listener
 * is programmed and bound. A wildcard bind (0.0.0.0, ::) says nothing of where clients reach the Gateway: the
 * addresses are not known then, and `addresses` is left out (what the object says stays).
 */
export function withAddresses(status: Obj, ports: Readonly<Record<string, number>>, boundAddress: (port: number) => string | undefined): Obj {
  const listeners = Array.isArray(status.listeners) ? (status.listeners as Obj[]) : [];
  const values = new Set<string>();
  for (const l of listeners) {
    const port = ports[String(l.name)];
    const programmed = ((l.conditions ?? []) as Condition[]).some((c) => c.type === 'Programmed' && c.status === 'True');
    if (port === undefined || !programmed) continue;
    const address = boundAddress(port);
    if (address === undefined) continue;
    if (WILDCARDS.has(address)) return status;
    values.add(address);
  }
  const addresses: GatewayStatusAddress[] = [...values].sort().map((value) => ({ type: isIP(value) ? 'IPAddress' : 'Hostname', value }));
  return { ...status, addresses };
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** The problem code for each failing condition reason (`NoMatchingParent` → `no-matching-parent`). */
const REASON_CODES: Readonly<Record<string, ProblemCode>> = Object.freeze({
  BackendNotFound: 'backend-not-found',
  UnsupportedProtocol: 'unsupported-backend-protocol',
  InvalidKind: 'invalid-kind',
  RefNotPermitted: 'ref-not-permitted',
  UnsupportedValue: 'unsupported-value',
  NoMatchingParent: 'no-matching-parent',
  NoMatchingListenerHostname: 'no-matching-listener-hostname',
  NotAllowedByListeners: 'not-allowed-by-listeners',
});

export function reasonCode(reason: string): ProblemCode {
  return REASON_CODES[reason] ?? 'unresolved-reference';
}

export function parentStatus(ref: ParentRefSpec, controllerName: string, conditions: Condition[]): Record<string, unknown> {
  const parentRef: Record<string, unknown> = { group: ref.group, kind: ref.kind, namespace: ref.namespace, name: ref.name };
  if (ref.sectionName !== undefined) parentRef.sectionName = ref.sectionName;
  if (ref.port !== undefined) parentRef.port = ref.port;
  return { parentRef, controllerName, conditions };
}

/**
 * The Gateway API feature names (as in GatewayClass `status.supportedFeatures`) Shadowgate implements; the
 * README's table lists these and the ones it does not.
 */
export const SUPPORTED_FEATURES: readonly string[] = [
  'Gateway',
  'GatewayPort8080',
  'GatewayHTTPListenerIsolation',
  'GRPCRoute',
  'GRPCRouteNamedRouteRule',
  'GRPCRouteRequestHeaderModifier',
  'HTTPRoute',
  'HTTPRouteQueryParamMatching',
  'HTTPRouteMethodMatching',
  'HTTPRouteResponseHeaderModification',
  'HTTPRouteBackendRequestHeaderModification',
  'HTTPRoutePortRedirect',
  'HTTPRoutePathRedirect',
  'HTTPRouteSchemeRedirect',
  'HTTPRoute303RedirectStatusCode',
  'HTTPRoute307RedirectStatusCode',
  'HTTPRoute308RedirectStatusCode',
  'HTTPRouteHostRewrite',
  'HTTPRoutePathRewrite',
  'HTTPRouteRequestMirror',
  'HTTPRouteRequestMultipleMirrors',
  'HTTPRouteRequestPercentageMirror',
  'HTTPRouteRequestTimeout',
  'HTTPRouteBackendTimeout',
  'HTTPRouteParentRefPort',
  'HTTPRouteNamedRouteRule',
  'HTTPRouteRetry',
  'HTTPRouteCORS',
  'Mesh',
  'MeshHTTPRouteQueryParamMatching',
  'MeshHTTPRouteBackendRequestHeaderModification',
  'MeshHTTPRouteRewritePath',
  'MeshHTTPRouteSchemeRedirect',
  'MeshHTTPRouteRedirectPort',
  'MeshHTTPRouteRedirectPath',
  'MeshHTTPRouteNamedRouteRule',
  'ReferenceGrant',
  'TLSRoute',
  'TLSRouteModeMixed',
  'TLSRouteModeTerminate',
];
