// Status conditions as a Gateway API controller writes them, built as plain data (no clock: no lastTransitionTime).
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

/** The problem code for each failing condition reason (`NoMatchingParent` → `no-matching-parent`). */
const REASON_CODES: Readonly<Record<string, ProblemCode>> = Object.freeze({
  BackendNotFound: 'backend-not-found',
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
  'Mesh',
  'MeshHTTPRouteQueryParamMatching',
  'MeshHTTPRouteBackendRequestHeaderModification',
  'MeshHTTPRouteRewritePath',
  'MeshHTTPRouteSchemeRedirect',
  'MeshHTTPRouteRedirectPort',
  'MeshHTTPRouteRedirectPath',
  'MeshHTTPRouteNamedRouteRule',
  'ReferenceGrant',
];
