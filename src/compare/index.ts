// compare/: pure comparison of mirrored answers (decode, diff, fold per endpoint), redaction, samples, and the verdict.
export { aggregateResults, isErrorAnswer, latencySummary } from './aggregate.js';
export { analyze, analyzeEndpoint, fieldSentence, isRealDifference, percent } from './analyze.js';
export { newcombe, wilson, zFor } from './certainty.js';
export { compareResponses } from './compare-responses.js';
export { type DecodedBody, type DecodeOptions, decodeBody } from './decode.js';
export { endpointKey, foldSegment, pathOnly } from './endpoint.js';
export { compareExchange } from './exchange.js';
export { isGrpcAnswer } from './grpc-messages.js';
export { checkDescriptorSet, compileGrpcSchema, type GrpcSchema } from './grpc-schema.js';
export { canonical, diffJson } from './json-diff.js';
export { ALWAYS_REDACTED_HEADERS, isSecretName, REDACTED, redactForm, redactHeaders, redactJson, redactText, SECRET_FIELDS } from './redaction.js';
export { clip, keyPath, MAX_RENDERING, renderJson } from './render.js';
export * from './report.js';
export { type CompiledRules, compileRules, DEFAULT_IGNORED_HEADERS, matchesEndpoint } from './rules.js';
export { buildSample, MAX_SAMPLE_BODY_CHARS } from './sample.js';
export { classifyChange, idShape, isUncounted, timeOf } from './time-like.js';
export * from './types.js';
