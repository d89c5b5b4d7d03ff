// Field schemas of the Gateway API kinds Shadowgate reads (gateway.networking.k8s.io), and its constants.
import type { Schema } from '../fields.js';

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
/** The `controllerName` a GatewayClass names to be served by Shadowgate. */
export const CONTROLLER_NAME = 'shadowgate.dev/gateway-controller';
/** A Gateway of this class is Shadowgate's even without a GatewayClass resource (as Istio's built-in `istio`). */
export const BUILTIN_CLASS = 'shadowgate';
export const GATEWAY_API_KINDS: Readonly<Record<string, readonly string[]>> = {
  GatewayClass: ['v1', 'v1beta1'],
  Gateway: ['v1', 'v1beta1'],
  HTTPRoute: ['v1', 'v1beta1'],
  // v1alpha2 is no longer served by the CRD (gateway-api #3361): v1 only.
  GRPCRoute: ['v1'],
  // TLSRoute: v1 is the standard channel's only served version (since v1.5); the experimental channel's CRD still
  // serves the deprecated v1alpha3 (the v1 type) and v1alpha2 (hostnames optional, up to 16 rules).
  TLSRoute: ['v1', 'v1alpha3', 'v1alpha2'],
  ReferenceGrant: ['v1beta1', 'v1'],
};

export const GATEWAY_CLASS: Schema = { name: 'GatewayClassSpec', fields: ['controllerName', 'description'], unsupported: ['parametersRef'] };
export const GATEWAY: Schema = {
  name: 'GatewaySpec',
  fields: ['gatewayClassName', 'listeners', 'infrastructure'],
  unsupported: ['addresses', 'backendTLS', 'allowedListeners'],
};
export const INFRASTRUCTURE: Schema = { name: 'GatewayInfrastructure', fields: ['parametersRef'], unsupported: ['labels', 'annotations'] };
export const PARAMETERS_REF: Schema = { name: 'LocalParametersReference', fields: ['group', 'kind', 'name'] };
export const LISTENER: Schema = { name: 'Listener', fields: ['name', 'hostname', 'port', 'protocol', 'allowedRoutes', 'tls'] };
export const LISTENER_TLS: Schema = { name: 'ListenerTLSConfig', fields: ['mode', 'certificateRefs', 'options'], unsupported: ['frontendValidation'] };
export const SECRET_REF: Schema = { name: 'SecretObjectReference', fields: ['group', 'kind', 'name', 'namespace'] };
/** Implementation-specific `tls.options` keys: certificate files, for Gateways read from files without a cluster. */
export const CERTIFICATE_FILE_OPTION = 'shadowgate.dev/certificate-file';
export const PRIVATE_KEY_FILE_OPTION = 'shadowgate.dev/private-key-file';
export const ALLOWED_ROUTES: Schema = { name: 'AllowedRoutes', fields: ['namespaces', 'kinds'] };
export const ROUTE_NAMESPACES: Schema = { name: 'RouteNamespaces', fields: ['from', 'selector'] };
export const LABEL_SELECTOR: Schema = { name: 'LabelSelector', fields: ['matchLabels', 'matchExpressions'] };
export const SELECTOR_REQUIREMENT: Schema = { name: 'LabelSelectorRequirement', fields: ['key', 'operator', 'values'] };
export const ROUTE_GROUP_KIND: Schema = { name: 'RouteGroupKind', fields: ['group', 'kind'] };
export const REFERENCE_GRANT: Schema = { name: 'ReferenceGrantSpec', fields: ['from', 'to'] };
export const GRANT_FROM: Schema = { name: 'ReferenceGrantFrom', fields: ['group', 'kind', 'namespace'] };
export const GRANT_TO: Schema = { name: 'ReferenceGrantTo', fields: ['group', 'kind', 'name'] };

export const HTTP_ROUTE: Schema = { name: 'HTTPRouteSpec', fields: ['parentRefs', 'hostnames', 'rules'], unsupported: ['useDefaultGateways'] };
export const PARENT_REF: Schema = { name: 'ParentReference', fields: ['group', 'kind', 'namespace', 'name', 'sectionName', 'port'] };
export const RULE: Schema = {
  name: 'HTTPRouteRule',
  fields: ['name', 'matches', 'filters', 'backendRefs', 'timeouts', 'retry'],
  unsupported: ['sessionPersistence'],
};
export const MATCH: Schema = { name: 'HTTPRouteMatch', fields: ['path', 'headers', 'queryParams', 'method'] };
export const PATH_MATCH: Schema = { name: 'HTTPPathMatch', fields: ['type', 'value'] };
export const VALUE_MATCH: Schema = { name: 'HTTPHeaderMatch', fields: ['type', 'name', 'value'] };
export const FILTER: Schema = {
  name: 'HTTPRouteFilter',
  fields: ['type', 'requestHeaderModifier', 'responseHeaderModifier', 'requestRedirect', 'urlRewrite', 'requestMirror', 'extensionRef', 'cors'],
  unsupported: ['externalAuth'],
};
export const CORS: Schema = { name: 'HTTPCORSFilter', fields: ['allowOrigins', 'allowCredentials', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'maxAge'] };
export const EXTENSION_REF: Schema = { name: 'LocalObjectReference', fields: ['group', 'kind', 'name'] };
export const HEADER_FILTER: Schema = { name: 'HTTPHeaderFilter', fields: ['set', 'add', 'remove'] };
export const HEADER: Schema = { name: 'HTTPHeader', fields: ['name', 'value'] };
export const REDIRECT: Schema = { name: 'HTTPRequestRedirectFilter', fields: ['scheme', 'hostname', 'path', 'port', 'statusCode'] };
export const REWRITE: Schema = { name: 'HTTPURLRewriteFilter', fields: ['hostname', 'path'] };
export const PATH_MODIFIER: Schema = { name: 'HTTPPathModifier', fields: ['type', 'replaceFullPath', 'replacePrefixMatch'] };
export const MIRROR: Schema = { name: 'HTTPRequestMirrorFilter', fields: ['backendRef', 'percent', 'fraction'] };
export const FRACTION: Schema = { name: 'Fraction', fields: ['numerator', 'denominator'] };
export const BACKEND_OBJECT_REF: Schema = { name: 'BackendObjectReference', fields: ['group', 'kind', 'name', 'namespace', 'port'] };
export const BACKEND_REF: Schema = { name: 'HTTPBackendRef', fields: ['group', 'kind', 'name', 'namespace', 'port', 'weight', 'filters'] };
export const TIMEOUTS: Schema = { name: 'HTTPRouteTimeouts', fields: ['request', 'backendRequest'] };
export const RETRY: Schema = { name: 'HTTPRouteRetry', fields: ['codes', 'attempts'], unsupported: ['backoff'] };

export const GRPC_ROUTE: Schema = { name: 'GRPCRouteSpec', fields: ['parentRefs', 'hostnames', 'rules'], unsupported: ['useDefaultGateways'] };
export const GRPC_RULE: Schema = { name: 'GRPCRouteRule', fields: ['name', 'matches', 'filters', 'backendRefs'], unsupported: ['sessionPersistence'] };
export const GRPC_MATCH: Schema = { name: 'GRPCRouteMatch', fields: ['method', 'headers'] };
export const GRPC_METHOD_MATCH: Schema = { name: 'GRPCMethodMatch', fields: ['type', 'service', 'method'] };
export const GRPC_HEADER_MATCH: Schema = { name: 'GRPCHeaderMatch', fields: ['type', 'name', 'value'] };
export const GRPC_FILTER: Schema = {
  name: 'GRPCRouteFilter',
  fields: ['type', 'requestHeaderModifier', 'responseHeaderModifier', 'requestMirror', 'extensionRef'],
};
export const GRPC_BACKEND_REF: Schema = { name: 'GRPCBackendRef', fields: ['group', 'kind', 'name', 'namespace', 'port', 'weight', 'filters'] };

export const TLS_ROUTE: Schema = { name: 'TLSRouteSpec', fields: ['parentRefs', 'hostnames', 'rules'], unsupported: ['useDefaultGateways'] };
export const TLS_RULE: Schema = { name: 'TLSRouteRule', fields: ['name', 'backendRefs'] };
export const TLS_BACKEND_REF: Schema = { name: 'BackendRef', fields: ['group', 'kind', 'name', 'namespace', 'port', 'weight'] };
