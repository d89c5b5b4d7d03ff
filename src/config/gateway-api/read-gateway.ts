// Reads GatewayClass, Gateway and ReferenceGrant with the CRDs' validation rules, as field-path problems.
import { Fields } from '../fields.js';
import type { RawResource } from '../parse.js';
import type { ResourceContext } from '../problems.js';
import { generation, HOSTNAME, SECTION_NAME } from './common.js';
import {
  ALLOWED_ROUTES,
  CERTIFICATE_FILE_OPTION,
  GATEWAY,
  GATEWAY_API_GROUP,
  GATEWAY_CLASS,
  GRANT_FROM,
  GRANT_TO,
  INFRASTRUCTURE,
  LABEL_SELECTOR,
  LISTENER,
  LISTENER_TLS,
  PARAMETERS_REF,
  PRIVATE_KEY_FILE_OPTION,
  REFERENCE_GRANT,
  ROUTE_GROUP_KIND,
  ROUTE_NAMESPACES,
  SECRET_REF,
  SELECTOR_REQUIREMENT,
} from './schemas.js';
import type { GatewayClassSpec, GatewaySpec, ListenerSpec, ListenerTlsSpec, NamespaceSelector, ReferenceGrantSpec } from './types.js';

function spec(res: RawResource, ctx: ResourceContext, schema: typeof GATEWAY): Fields {
  return new Fields(ctx, (res.object.spec as Record<string, unknown>) ?? {}, ['spec'], schema);
}

function base(res: RawResource, ctx: ResourceContext) {
  return { ref: `${res.kind} ${res.namespace}/${res.name}`, namespace: res.namespace, name: res.name, generation: generation(res), ctx };
}

export function readGatewayClass(res: RawResource, ctx: ResourceContext): GatewayClassSpec {
  const s = spec(res, ctx, GATEWAY_CLASS);
  const controllerName = s.string('controllerName') ?? '';
  if (!controllerName) ctx.error('missing-field', s.at('controllerName'), 'a GatewayClass needs spec.controllerName');
  return { ...base(res, ctx), controllerName };
}

/**
 * The CRD's ProtocolType pattern: a name of letters, digits and "-" (HTTP, HTTPS, TLS, TCP, UDP, or any other such
 * name) or a domain-prefixed one. A valid name Shadowgate does not serve is the listener's `UnsupportedProtocol`, not a
 * broken Gateway (conformance: GatewayListenerUnsupportedProtocol, whose listener says `protocol: INVALID`).
 */
const PROTOCOL = /^(?:[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?|[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+)$/;

export function readGateway(res: RawResource, ctx: ResourceContext): GatewaySpec {
  const s = spec(res, ctx, GATEWAY);
  const className = s.string('gatewayClassName') ?? '';
  if (!className) ctx.error('missing-field', s.at('gatewayClassName'), 'a Gateway needs spec.gatewayClassName');
  const listeners: ListenerSpec[] = [];
  const names = new Set<string>();
  const items = s.objects('listeners', LISTENER);
  if (items.length === 0) ctx.error('missing-field', s.at('listeners'), 'a Gateway needs at least one listener');
  if (items.length > 64) ctx.error('too-many', s.at('listeners'), `at most 64 listeners, not ${items.length}`);
  items.forEach((l, index) => {
    const name = l.string('name') ?? '';
    if (!SECTION_NAME.test(name)) ctx.error('invalid-name', l.at('name'), `listener name "${name}" must be a DNS label (lower-case letters, digits, "-")`);
    else if (names.has(name)) ctx.error('duplicate-listener', l.at('name'), `listener name "${name}" is used twice`);
    names.add(name);
    const port = l.int('port', 1, 65535);
    if (port === undefined && !l.has('port')) ctx.error('missing-field', l.at('port'), 'a listener needs a port');
    const protocol = l.string('protocol') ?? '';
    if (!protocol) ctx.error('missing-field', l.at('protocol'), 'a listener needs a protocol');
    else if (!PROTOCOL.test(protocol) || protocol.length > 255) {
      ctx.error('invalid-protocol', l.at('protocol'), `"${protocol}" is not a Gateway API protocol name (letters, digits and "-", or a domain-prefixed name)`);
    }
    const hostname = l.string('hostname');
    if (hostname !== undefined && !HOSTNAME.test(hostname)) ctx.error('invalid-hostname', l.at('hostname'), `"${hostname}" is not a valid hostname`);
    const listener: ListenerSpec = { index, name, port: port ?? 0, protocol, from: 'Same' };
    if (hostname !== undefined && (protocol === 'HTTP' || protocol === 'HTTPS' || protocol === 'TLS')) listener.hostname = hostname;
    const allowed = l.object('allowedRoutes', ALLOWED_ROUTES);
    const namespaces = allowed?.object('namespaces', ROUTE_NAMESPACES);
    const from = namespaces?.string('from');
    if (from !== undefined) {
      if (from === 'Same' || from === 'All' || from === 'Selector') listener.from = from;
      else ctx.error('invalid-value', [...(allowed?.at('namespaces') ?? []), 'from'], `from must be All, Same or Selector, not "${from}"`);
    }
    const selector = namespaces?.object('selector', LABEL_SELECTOR);
    if (selector && listener.from === 'Selector') listener.selector = readSelector(selector);
    if (allowed?.has('kinds')) {
      listener.kinds = allowed.objects('kinds', ROUTE_GROUP_KIND).map((k) => ({ group: k.string('group') ?? GATEWAY_API_GROUP, kind: k.string('kind') ?? '' }));
    }
    const tls = l.object('tls', LISTENER_TLS);
    if (tls) {
      const mode = tls.string('mode') ?? 'Terminate';
      if (mode !== 'Terminate' && mode !== 'Passthrough') ctx.error('invalid-enum', tls.at('mode'), `mode must be Terminate or Passthrough, not "${mode}"`);
      // The CRD's CEL rules on listeners: "tls mode must be Terminate for protocol HTTPS" (passthrough is TLSRoute's,
      // on a TLS listener) and "tls mode must be set for protocol TLS".
      else if (protocol === 'HTTPS' && mode === 'Passthrough') {
        ctx.error('invalid-value', tls.at('mode'), 'tls mode must be Terminate for protocol HTTPS (passthrough is a TLS listener with TLSRoutes)');
      }
      if (protocol === 'TLS' && !tls.string('mode'))
        ctx.error('missing-field', tls.at('mode'), 'tls mode must be set for protocol TLS (Passthrough or Terminate)');
      const spec: ListenerTlsSpec = {
        mode: mode === 'Passthrough' ? 'Passthrough' : 'Terminate',
        certificateRefs: tls.objects('certificateRefs', SECRET_REF).map((r) => {
          if (!r.has('name')) ctx.error('missing-field', r.at('name'), 'a certificateRef needs a name');
          return {
            group: r.string('group') ?? '',
            kind: r.string('kind') ?? 'Secret',
            name: r.string('name') ?? '',
            namespace: r.string('namespace') ?? res.namespace,
          };
        }),
        path: [...tls.path],
      };
      const options = tls.stringMap('options');
      if (options[CERTIFICATE_FILE_OPTION]) spec.certificateFile = options[CERTIFICATE_FILE_OPTION];
      if (options[PRIVATE_KEY_FILE_OPTION]) spec.privateKeyFile = options[PRIVATE_KEY_FILE_OPTION];
      if (spec.mode === 'Terminate' && spec.certificateRefs.length === 0 && !spec.certificateFile) {
        ctx.error('missing-field', tls.at('certificateRefs'), `a Terminate listener needs certificateRefs (or the ${CERTIFICATE_FILE_OPTION} option)`);
      }
      if (Boolean(spec.certificateFile) !== Boolean(spec.privateKeyFile)) {
        ctx.error('missing-field', tls.at('options'), `${CERTIFICATE_FILE_OPTION} and ${PRIVATE_KEY_FILE_OPTION} go together`);
      }
      if (protocol === 'HTTPS' || protocol === 'TLS') listener.tls = spec;
      else ctx.error('invalid-value', l.at('tls'), `tls is for HTTPS and TLS listeners, not ${protocol}`);
    } else if (protocol === 'HTTPS') ctx.error('missing-field', l.at('tls'), 'an HTTPS listener needs tls (mode Terminate and certificateRefs)');
    else if (protocol === 'TLS') ctx.error('missing-field', l.at('tls'), 'tls mode must be set for protocol TLS (Passthrough or Terminate)');
    listeners.push(listener);
  });
  const gateway: GatewaySpec = { ...base(res, ctx), className, listeners };
  // Shadowgate has no parameters kind: any parametersRef "refers to an unsupported kind", and the spec says such a
  // Gateway SHOULD be rejected (Accepted False InvalidParameters; the suite's GatewayInvalidParametersRef).
  const parametersRef = s.object('infrastructure', INFRASTRUCTURE)?.object('parametersRef', PARAMETERS_REF);
  if (parametersRef) {
    const what = `${parametersRef.string('group') ?? ''}/${parametersRef.string('kind') ?? ''} ${parametersRef.string('name') ?? ''}`;
    gateway.invalidParameters = `infrastructure.parametersRef ${what}: Shadowgate takes no parameters, so this Gateway is not served`;
    ctx.reference('warning', 'invalid-parameters', parametersRef.path, gateway.invalidParameters);
  }
  return gateway;
}

const OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

/** A LabelSelector, with the rules Kubernetes checks (operators; values only with In and NotIn, and then some). */
function readSelector(f: Fields): NamespaceSelector {
  const matchExpressions = f.objects('matchExpressions', SELECTOR_REQUIREMENT).map((e) => {
    const key = e.string('key') ?? '';
    const operator = e.string('operator') ?? '';
    const values = e.strings('values');
    if (!key) e.ctx.error('missing-field', e.at('key'), 'a selector requirement needs a key');
    if (!OPERATORS.has(operator)) e.ctx.error('invalid-value', e.at('operator'), `operator must be In, NotIn, Exists or DoesNotExist, not "${operator}"`);
    else if ((operator === 'In' || operator === 'NotIn') !== values.length > 0) {
      e.ctx.error('invalid-value', e.at('values'), `values must be ${values.length > 0 ? 'empty' : 'set'} with operator ${operator}`);
    }
    return { key, operator, values };
  });
  return { matchLabels: f.stringMap('matchLabels'), matchExpressions };
}

export function readReferenceGrant(res: RawResource, ctx: ResourceContext): ReferenceGrantSpec {
  const s = spec(res, ctx, REFERENCE_GRANT);
  const from = s.objects('from', GRANT_FROM).map((f) => {
    for (const k of ['kind', 'namespace']) if (!f.has(k)) ctx.error('missing-field', f.at(k), `from.${k} is required`);
    return { group: f.string('group') ?? '', kind: f.string('kind') ?? '', namespace: f.string('namespace') ?? '' };
  });
  const to = s.objects('to', GRANT_TO).map((t) => {
    if (!t.has('kind')) ctx.error('missing-field', t.at('kind'), 'to.kind is required');
    const out: ReferenceGrantSpec['to'][number] = { group: t.string('group') ?? '', kind: t.string('kind') ?? '' };
    const name = t.string('name');
    if (name) out.name = name;
    return out;
  });
  if (from.length === 0) ctx.error('missing-field', s.at('from'), 'a ReferenceGrant needs at least one from entry');
  if (to.length === 0) ctx.error('missing-field', s.at('to'), 'a ReferenceGrant needs at least one to entry');
  return { ...base(res, ctx), from, to };
}
