// compare/: pure comparison of mirrored answers (decode, diff, fold per endpoint) and the Diffy-style verdict.
export { aggregateResults, isErrorAnswer, latencySummary } from './aggregate.js';
export { analyze, analyzeEndpoint, isRealDifference, percent } from './analyze.js';
export { compareResponses } from './compare-responses.js';
export { type DecodedBody, type DecodeOptions, decodeBody } from './decode.js';
export { endpointKey, foldSegment, pathOnly } from './endpoint.js';
export { compareExchange } from './exchange.js';
export { canonical, diffJson } from './json-diff.js';
export { clip, keyPath, MAX_RENDERING, REDACTED, renderJson } from './render.js';
export { ALWAYS_REDACTED_HEADERS, type CompiledRules, compileRules, DEFAULT_IGNORED_HEADERS, matchesEndpoint } from './rules.js';
export * from './types.js';
