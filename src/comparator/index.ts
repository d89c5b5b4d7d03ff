// Public surface of comparator/: exchanges off the data path, compared in a worker, stored, judged, served.
export { type ApiRequest, type ApiResponse, handleCompareApi } from './api.js';
export { BodyCapture } from './capture.js';
export { Comparator, type ComparatorOptions, type ExchangeSource } from './comparator.js';
export { type AnswerRecorder, type AnswerRole, ExchangeBuilder, type RequestBodySink } from './exchange.js';
export { DEFAULT_RUN_METRICS, type RunMetricsOptions, STORE_FAMILIES } from './metrics-export.js';
export { type Answer, answer as answerQuery, type Query } from './queries.js';
export { overall, parseRunId } from './reports.js';
export { runIdentities, runRouteKey } from './runs.js';
