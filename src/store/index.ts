// The store's public surface: CompareStore and what its callers need to name.
export { CompareStore } from './compare-store.js';
export { StoreError, type StoreErrorCode } from './errors.js';
export { bucketValue } from './histogram.js';
export type { CompareStoreOptions } from './options.js';
export type { SeriesPoint, StoredEndpoint, StoredExchange } from './reads.js';
export { DEFAULT_ROUTE, type RunRow } from './runs.js';
export type { Synchronous } from './schema.js';
export { endpointId, OTHER_ENDPOINT, OTHER_FIELD, type WriteReport } from './writes.js';
