// Gateway API resources as read and checked, before they are attached to parents and compiled into routes.
import type { CorsPolicy, HeadersPolicy, Redirect, RetryPolicy, RouteMatch } from '../model.js';
import type { PathSeg, ResourceContext } from '../problems.js';

interface Read {
  ref: string;
  namespace: string;
  name: string;
  /** metadata.generation (1 when absent), echoed as observedGeneration. */
  generation: number;
  ctx: ResourceContext;
}

export interface GatewayClassSpec extends Read {
  controllerName: string;
}

export interface ListenerSpec {
  index: number;
  name: string;
  port: number;
  protocol: string;
  hostname?: string;
  /** allowedRoutes.namespaces.from */
  from: 'Same' | 'All' | 'Selector';
  /** allowedRoutes.namespaces.selector, with `from: Selector`. */
  selector?: NamespaceSelector;
  /** allowedRoutes.kinds; undefined = the protocol's default (HTTPRoute and GRPCRoute for HTTP and HTTPS, TLSRoute for TLS). */
  kinds?: Array<{ group: string; kind: string }>;
  /** HTTPS and TLS listeners: whether TLS is terminated or passed through. */
  tls?: ListenerTlsSpec;
}

/** A Kubernetes LabelSelector over namespaces. */
export interface NamespaceSelector {
  matchLabels: Record<string, string>;
  matchExpressions: Array<{ key: string; operator: string; values: string[] }>;
}

export interface ListenerTlsSpec {
  mode: 'Terminate' | 'Passthrough';
  /** Secrets (`namespace` resolved: the Gateway's when absent). */
  certificateRefs: Array<{ group: string; kind: string; name: string; namespace: string }>;
  /** `tls.options` `shadowgate.dev/certificate-file` / `shadowgate.dev/private-key-file`: files instead of a Secret. */
  certificateFile?: string;
  privateKeyFile?: string;
  path: PathSeg[];
}

export interface GatewaySpec extends Read {
  className: string;
  listeners: ListenerSpec[];
  /** Why `infrastructure.parametersRef` is refused (Shadowgate takes no parameters): the Gateway is not accepted. */
  invalidParameters?: string;
}

export interface ReferenceGrantSpec extends Read {
  from: Array<{ group: string; kind: string; namespace: string }>;
  to: Array<{ group: string; kind: string; name?: string }>;
}

export interface ParentRefSpec {
  group: string;
  kind: string;
  namespace: string;
  name: string;
  sectionName?: string;
  port?: number;
  path: PathSeg[];
}

export interface BackendSpec {
  group: string;
  kind: string;
  namespace: string;
  name: string;
  port?: number;
  path: PathSeg[];
}

export interface WeightedBackendSpec extends BackendSpec {
  weight: number;
  headers: HeadersPolicy;
}

export interface MirrorSpec extends BackendSpec {
  /** 0..100 */
  percentage: number;
}

/** One HTTPRouteMatch or GRPCRouteMatch, with the facts precedence sorts on. */
export interface MatchSpec {
  index: number;
  match: RouteMatch;
  /** 3 Exact, 2 PathPrefix, 1 RegularExpression (Istio's rank for the implementation-specific one). */
  pathRank: number;
  pathLength: number;
  /** Normalized PathPrefix value ("" for "/"), for ReplacePrefixMatch. */
  prefix?: string;
  /** GRPCRoute: the characters of its method match's `service` and `method` (0 when unset). */
  grpc?: { service: number; method: number };
}

export type PathModifier = { type: 'ReplaceFullPath'; value: string } | { type: 'ReplacePrefixMatch'; value: string };

export interface RuleSpec {
  index: number;
  name?: string;
  path: PathSeg[];
  matches: MatchSpec[];
  backends: WeightedBackendSpec[];
  mirrors: MirrorSpec[];
  headers: HeadersPolicy;
  redirect?: { redirect: Omit<Redirect, 'uri'>; path?: PathModifier; portSet: boolean; schemeSet: boolean };
  rewrite?: { authority?: string; path?: PathModifier };
  /** The rule's `CORS` filter. */
  cors?: CorsPolicy;
  timeoutMs?: number;
  retries: RetryPolicy;
  /** A filter Shadowgate cannot apply: the rule answers 500, as the spec requires. */
  unsupported?: string;
}

/** The route kinds Shadowgate serves, in the order `supportedKinds` lists them. */
export const ROUTE_KINDS = ['HTTPRoute', 'GRPCRoute', 'TLSRoute'] as const;
export type RouteKind = (typeof ROUTE_KINDS)[number];

/**
 * An HTTPRoute, a GRPCRoute or a TLSRoute: all attach, resolve their backends and report status through the same
 * code; `kind` says which rules apply. A TLSRoute's rules have backends only (no matches, no filters).
 */
export interface RouteSpec extends Read {
  kind: RouteKind;
  /** metadata.creationTimestamp in ms; +Infinity when absent (files), so dated routes come first. */
  created: number;
  hostnames: string[];
  parentRefs: ParentRefSpec[];
  rules: RuleSpec[];
}

export interface GatewayApiResources {
  classes: GatewayClassSpec[];
  gateways: GatewaySpec[];
  grants: ReferenceGrantSpec[];
  routes: RouteSpec[];
}
