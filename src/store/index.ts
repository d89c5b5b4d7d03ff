// The store's public surface: CompareStore and what its callers need to name.
export { CompareStore, type StoredExchange } from './compare-store.js';
export { StoreError, type StoreErrorCode } from './errors.js';
export type { CompareStoreOptions } from './options.js';
export { ALWAYS_REDACTED_HEADERS, REDACTED, type RedactionRules } from './redaction.js';
export type { Synchronous } from './schema.js';
