// Public surface of sources/: where resources come from.
export { readSources, type ReadResult } from './files.js';
export { DEFAULT_SETTLE_MS, type WatchOptions, watchSources } from './watch.js';
export { ConfigLoader, DEFAULT_LOAD_BUDGET, type LoadBudget, type LoadInput, type LoadOutcome, loadConfig } from './loader/index.js';
