// Public surface of sources/: where resources come from.
export { type ReadResult, readSources } from './files.js';
export { readyOnly } from './kubernetes/serving-only.js';
// Light helpers of the Kubernetes source, importable without loading its client (the source itself is imported lazily).
export { isClusterSource } from './kubernetes/translate.js';
export { ConfigLoader, DEFAULT_LOAD_BUDGET, type LoadBudget, type LoadInput, type LoadOutcome, loadConfig } from './loader/index.js';
export { DEFAULT_SETTLE_MS, type WatchOptions, watchSources } from './watch.js';
