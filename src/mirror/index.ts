// Public surface of mirror/: fire-and-forget shadows with bounds.
export { ByteBudget } from './byte-budget.js';
export { type AnswerSink, type ShadowHandle, type ShadowRequest, ShadowWriter, shadowHost } from './shadow-writer.js';
