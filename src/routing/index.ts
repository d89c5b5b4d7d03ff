// Public surface of routing: request → virtual host → route → destination, mirrors and rewrites.

export {
  CompiledRoute,
  compiledRoute,
  type RouteMatchResult,
  rewriteAuthority,
  rewritePath,
} from './compiled-route.js';
export type { HeaderMap, RequestFacts } from './facts.js';
export { applyHeaderOps } from './header-ops.js';
export { selectMirrors } from './mirrors.js';
export {
  canonicalizePath,
  mergeSlashes,
  normalizeTarget,
  PATH_NORMALIZATIONS,
  type PathNormalization,
  unescapeSlashes,
} from './path-normalize.js';
export { RouteTable } from './route-table.js';
export { compileStringMatch, type StringTest } from './string-match.js';
export { CompiledVirtualHost } from './virtual-host.js';
export { pickDestination } from './weighted.js';
