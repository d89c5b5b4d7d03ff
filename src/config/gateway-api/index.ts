// Public surface of the Gateway API front end: read the kinds, then compile routes and status for a snapshot.
import type { RawResource } from '../parse.js';
import type { ResourceContext } from '../problems.js';
import { readGateway, readGatewayClass, readReferenceGrant } from './read-gateway.js';
import { readGRPCRoute } from './read-grpcroute.js';
import { readHTTPRoute } from './read-httproute.js';
import { readTLSRoute } from './read-tlsroute.js';
import { GATEWAY_API_GROUP, GATEWAY_API_KINDS } from './schemas.js';
import type { GatewayApiResources } from './types.js';

export type { Registry } from './backends.js';
export { compileGatewayApi, type GatewayApiResult } from './compile.js';
export { BUILTIN_CLASS, CONTROLLER_NAME, GATEWAY_API_GROUP } from './schemas.js';
export { type CertificateCheck, type GatewayStatusAddress, SUPPORTED_FEATURES, withAddresses, withCertificateChecks } from './status.js';
export type { GatewayApiResources } from './types.js';

export function emptyGatewayApi(): GatewayApiResources {
  return { classes: [], gateways: [], grants: [], routes: [] };
}

/**
 * Reads one resource of the Gateway API group into `into`. Returns false when the kind or version is not
 * one Shadowgate reads (reported on `ctx`).
 */
export function readGatewayApi(res: RawResource, version: string, ctx: ResourceContext, into: GatewayApiResources): boolean {
  const versions = GATEWAY_API_KINDS[res.kind];
  if (!versions) {
    ctx.warn('not-supported', ['kind'], `${res.kind} (${GATEWAY_API_GROUP}) is not supported yet and is ignored`);
    return false;
  }
  if (!versions.includes(version)) {
    ctx.error(
      'unknown-version',
      ['apiVersion'],
      `${res.kind} is served as ${versions.map((v) => `${GATEWAY_API_GROUP}/${v}`).join(' or ')}, not ${res.apiVersion}`,
    );
    return false;
  }
  switch (res.kind) {
    case 'GatewayClass': {
      const c = readGatewayClass(res, ctx);
      if (!ctx.failed) into.classes.push(c);
      break;
    }
    case 'Gateway': {
      const g = readGateway(res, ctx);
      if (!ctx.failed) into.gateways.push(g);
      break;
    }
    case 'ReferenceGrant': {
      const g = readReferenceGrant(res, ctx);
      if (!ctx.failed) into.grants.push(g);
      break;
    }
    case 'HTTPRoute':
    case 'GRPCRoute':
    case 'TLSRoute': {
      const r = res.kind === 'HTTPRoute' ? readHTTPRoute(res, ctx) : res.kind === 'GRPCRoute' ? readGRPCRoute(res, ctx) : readTLSRoute(res, ctx, version);
      if (!ctx.failed) into.routes.push(r);
      break;
    }
  }
  return true;
}
