// Attaches one route parentRef (HTTPRoute, GRPCRoute, TLSRoute): to Gateway listeners (sectionName, port, allowedRoutes kinds
// and namespaces, hostnames) or, for GAMMA, to a Service or ServiceEntry; says why not with the reasons the spec names.
import { CLUSTER_DOMAIN } from '../hosts.js';
import type { Registry } from './backends.js';
import { intersect } from './hostnames.js';
import { GATEWAY_API_GROUP } from './schemas.js';
import type { Condition } from './status.js';
import type { GatewaySpec, ListenerSpec, NamespaceSelector, ParentRefSpec, RouteKind, RouteSpec } from './types.js';

export interface LiveListener {
  gateway: GatewaySpec;
  spec: ListenerSpec;
  /** Accepted and programmed: routes may attach. */
  live: boolean;
  /** The route kinds it admits (allowedRoutes.kinds, or its protocol's defaults). */
  kinds: ReadonlySet<RouteKind>;
  attached: number;
  conditions: Condition[];
}

/** A route on one Gateway listener. */
export interface Attachment {
  route: RouteSpec;
  listener: LiveListener;
  port: number;
  /** Hostnames the route serves there (intersection with the listener's). */
  hostnames: string[];
  /** The listener's hostname, `*` when it has none. */
  listenerHost: string;
}

/** A route bound to a service's port (GAMMA); every port when `port` is undefined. */
export interface MeshBinding {
  route: RouteSpec;
  host: string;
  port?: number;
}

const isCore = (g: string) => g === '' || g === 'core';

/** The label Kubernetes (1.22+) gives every namespace, its name: the one namespace label known without reading Namespaces. */
const NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * Whether a listener's namespace selector selects `namespace`, judged by the namespace's name label alone: true or
 * false when every requirement is on that label (the suite's GatewayWithAttachedRoutes selects this way), false when
 * one of them fails, undefined when the answer needs another label (Shadowgate reads no Namespace objects).
 */
function selectsNamespace(selector: NamespaceSelector | undefined, namespace: string): boolean | undefined {
  if (!selector) return undefined;
  let known = true;
  for (const [key, value] of Object.entries(selector.matchLabels)) {
    if (key !== NAME_LABEL) known = false;
    else if (value !== namespace) return false;
  }
  for (const e of selector.matchExpressions) {
    if (e.key !== NAME_LABEL) {
      known = false;
      continue;
    }
    const holds = e.operator === 'In' ? e.values.includes(namespace) : e.operator === 'NotIn' ? !e.values.includes(namespace) : e.operator === 'Exists';
    if (!holds) return false;
  }
  return known ? true : undefined;
}

export type Outcome =
  | { ok: true; attachments: Attachment[]; mesh: MeshBinding[] }
  | { ok: false; reason: string; message: string; attachments?: undefined; mesh?: undefined };

/** Attaches one parentRef; undefined when the parent is a Gateway Shadowgate does not handle. */
export function attach(
  route: RouteSpec,
  ref: ParentRefSpec,
  gateways: Map<string, { gw: GatewaySpec; listeners: LiveListener[] }>,
  registry: Registry,
  /** `namespace/name` of the Gateways of other controllers' classes: their status entries are theirs to write. */
  foreign: ReadonlySet<string> = new Set(),
): Outcome | undefined {
  if (ref.group === GATEWAY_API_GROUP && ref.kind === 'Gateway') {
    if (foreign.has(`${ref.namespace}/${ref.name}`)) return undefined;
    const g = gateways.get(`${ref.namespace}/${ref.name}`);
    if (!g) return { ok: false, reason: 'NoMatchingParent', message: `no Gateway ${ref.namespace}/${ref.name} handled by Shadowgate` };
    const candidates = g.listeners.filter(
      (l) => (ref.sectionName === undefined || l.spec.name === ref.sectionName) && (ref.port === undefined || l.spec.port === ref.port),
    );
    if (candidates.length === 0) {
      const which = [ref.sectionName && `sectionName ${ref.sectionName}`, ref.port && `port ${ref.port}`].filter(Boolean).join(' and ');
      return { ok: false, reason: 'NoMatchingParent', message: `Gateway ${ref.namespace}/${ref.name} has no listener with ${which}` };
    }
    const allowed = candidates.filter(
      (l) =>
        l.live &&
        l.kinds.has(route.kind) &&
        (l.spec.from === 'All' ||
          (l.spec.from === 'Same' && route.namespace === g.gw.namespace) ||
          (l.spec.from === 'Selector' && selectsNamespace(l.spec.selector, route.namespace) === true)),
    );
    if (allowed.length === 0) {
      const selector = candidates.some((l) => l.spec.from === 'Selector' && selectsNamespace(l.spec.selector, route.namespace) === undefined)
        ? ` (this namespace selector needs namespace labels other than ${NAME_LABEL}, which Shadowgate does not read)`
        : '';
      return { ok: false, reason: 'NotAllowedByListeners', message: `no listener of Gateway ${ref.namespace}/${ref.name} allows this route${selector}` };
    }
    const attachments: Attachment[] = [];
    for (const l of allowed) {
      const hostnames = intersect(l.spec.hostname, route.hostnames);
      if (hostnames.length > 0) attachments.push({ route, listener: l, port: l.spec.port, hostnames, listenerHost: l.spec.hostname ?? '*' });
    }
    return attachments.length > 0
      ? { ok: true, attachments, mesh: [] }
      : { ok: false, reason: 'NoMatchingListenerHostname', message: `no hostname of this route matches a listener of Gateway ${ref.namespace}/${ref.name}` };
  }
  // GAMMA defines no TLSRoute bound to a Service: a TLSRoute attaches to TLS listeners only (TLSRouteSpec).
  if (route.kind === 'TLSRoute') {
    return { ok: false, reason: 'UnsupportedValue', message: `a TLSRoute attaches to a Gateway's TLS listeners, not to a ${ref.kind}` };
  }
  // GAMMA (GEP-1426): a route bound to a Service routes that service's traffic. Only producer routes (the
  // route in the Service's namespace): consumer routes need the caller's namespace, which there is no mesh to tell.
  let hosts: readonly string[] | undefined;
  if (isCore(ref.group) && ref.kind === 'Service')
    hosts = registry.ports(`${ref.name}.${ref.namespace}.${CLUSTER_DOMAIN}`) ? [`${ref.name}.${ref.namespace}.${CLUSTER_DOMAIN}`] : undefined;
  else if (ref.group === 'networking.istio.io' && ref.kind === 'ServiceEntry') hosts = registry.entryHosts(ref.namespace, ref.name);
  else
    return {
      ok: false,
      reason: 'UnsupportedValue',
      message: `parentRef kind ${ref.group ? `${ref.group}/` : ''}${ref.kind} is not supported (Gateway, Service or ServiceEntry)`,
    };
  if (ref.namespace !== route.namespace) {
    return { ok: false, reason: 'UnsupportedValue', message: 'consumer routes (a route in another namespace than its Service) are not supported' };
  }
  if (!hosts || hosts.length === 0)
    return { ok: false, reason: 'NoMatchingParent', message: `no ServiceEntry declares ${ref.kind} ${ref.namespace}/${ref.name}` };
  if (ref.port !== undefined && !hosts.some((h) => registry.ports(h)?.includes(ref.port!))) {
    return { ok: false, reason: 'NoMatchingParent', message: `${ref.kind} ${ref.namespace}/${ref.name} has no port ${ref.port}` };
  }
  // GAMMA: a Service parentRef's sectionName names one of its ports.
  let port = ref.port;
  if (ref.sectionName !== undefined) {
    const named = hosts.map((h) => registry.portNamed(h, ref.sectionName!)).find((p) => p !== undefined);
    if (named === undefined || (port !== undefined && named !== port)) {
      return {
        ok: false,
        reason: 'NoMatchingParent',
        message: `${ref.kind} ${ref.namespace}/${ref.name} has no port named ${ref.sectionName}${port !== undefined ? ` with number ${port}` : ''}`,
      };
    }
    port = named;
  }
  const mesh = hosts.map((host): MeshBinding => (port === undefined ? { route, host } : { route, host, port }));
  if (route.hostnames.length > 0)
    route.ctx.report('info', 'hostnames-ignored', ['spec', 'hostnames'], 'hostnames do not apply to routes bound to a Service (GAMMA)');
  return { ok: true, attachments: [], mesh };
}
