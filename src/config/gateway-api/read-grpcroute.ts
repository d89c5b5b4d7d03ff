// Reads a GRPCRoute (gateway.networking.k8s.io/v1) with the CRD's validation rules; a method match becomes the path
// match GEP-1016 gives as its equivalent (a gRPC call's path is `/service/method`), so the route table serves it.
// Spec: https://gateway-api.sigs.k8s.io/reference/spec/#grpcroute (apis/v1/grpcroute_types.go), GEP-1016.
import { checkRegex } from '../common.js';
import type { Fields } from '../fields.js';
import type { RouteMatch, StringMatch } from '../model.js';
import type { RawResource } from '../parse.js';
import type { ResourceContext } from '../problems.js';
import { re2Quote } from './common.js';
import type { FilterSchemas } from './read-filters.js';
import { readRoute, readRuleCommon, readValueMatches } from './read-route.js';
import { GRPC_BACKEND_REF, GRPC_FILTER, GRPC_HEADER_MATCH, GRPC_MATCH, GRPC_METHOD_MATCH, GRPC_ROUTE, GRPC_RULE } from './schemas.js';
import type { MatchSpec, RouteSpec } from './types.js';

const FILTERS: FilterSchemas = {
  kind: 'GRPCRoute',
  filter: GRPC_FILTER,
  backendRef: GRPC_BACKEND_REF,
  types: new Set(['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'ExtensionRef']),
};

/** The CRD's CEL rules for Exact values: a protobuf service name (case-insensitive, a leading "." allowed), a method name. */
const EXACT_SERVICE = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const EXACT_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;
/** One path segment: a service or a method left open matches any name, never across "/". */
const ANY_SEGMENT = '[^/]+';

/**
 * GEP-1016's table, "as if a URI match had been used": Exact service and method `/S/M` exactly, service alone the
 * prefix `/S/`, method alone `/<any>/M`; RegularExpression each side as a whole segment. Exact is case-sensitive.
 * A leading "." (a fully-qualified protobuf name) is not part of the path.
 */
function methodPath(type: string, service: string | undefined, method: string | undefined): StringMatch {
  if (type === 'Exact') {
    const s = service?.replace(/^\./, '');
    if (s !== undefined && method !== undefined) return { kind: 'exact', value: `/${s}/${method}` };
    if (s !== undefined) return { kind: 'prefix', value: `/${s}/` };
    return { kind: 'regex', value: `/${ANY_SEGMENT}/${re2Quote(method ?? '')}` };
  }
  if (service === undefined && method === undefined) return { kind: 'prefix', value: '/' };
  const side = (re: string | undefined) => (re === undefined ? ANY_SEGMENT : `(?:${re})`);
  return { kind: 'regex', value: `/${side(service)}/${side(method)}` };
}

function readMatch(m: Fields, index: number): MatchSpec {
  const match: RouteMatch = { headers: readValueMatches(m, 'headers', true, GRPC_HEADER_MATCH), withoutHeaders: [], queryParams: [], ignoreUriCase: false };
  const facts = { service: 0, method: 0 };
  const mm = m.object('method', GRPC_METHOD_MATCH);
  if (mm) {
    const type = mm.string('type') ?? 'Exact';
    // An empty string is "left empty or omitted": it matches any.
    const service = mm.string('service') || undefined;
    const method = mm.string('method') || undefined;
    let ok = true;
    if (type !== 'Exact' && type !== 'RegularExpression') {
      mm.ctx.error('invalid-value', mm.at('type'), `type must be Exact or RegularExpression, not "${type}"`);
      ok = false;
    }
    // CEL: "One or both of 'service' or 'method' must be specified" (type is defaulted to Exact first).
    if (service === undefined && method === undefined) {
      mm.ctx.error('missing-field', mm.at('service'), "one or both of 'service' or 'method' must be specified");
      ok = false;
    }
    for (const [field, value, exact] of [
      ['service', service, EXACT_SERVICE],
      ['method', method, EXACT_METHOD],
    ] as const) {
      if (value === undefined) continue;
      if (value.length > 1024) {
        mm.ctx.error('too-long', mm.at(field), `${field} is longer than 1024 characters`);
        ok = false;
      } else if (type === 'Exact' && !exact.test(value)) {
        mm.ctx.error('invalid-value', mm.at(field), `${field} "${value}" must only contain valid characters (matching ${exact.source})`);
        ok = false;
      } else if (type === 'RegularExpression' && !checkRegex(mm.ctx, mm.at(field), value)) ok = false;
    }
    if (ok) match.uri = methodPath(type, service, method);
    facts.service = service?.length ?? 0;
    facts.method = method?.length ?? 0;
  }
  return { index, match, pathRank: 0, pathLength: 0, grpc: facts };
}

export function readGRPCRoute(res: RawResource, ctx: ResourceContext): RouteSpec {
  return readRoute(res, ctx, 'GRPCRoute', GRPC_ROUTE, GRPC_RULE, (r, i) => readRuleCommon(r, i, res.namespace, GRPC_MATCH, readMatch, FILTERS).rule);
}
