// Public surface of sources/: where resources come from.
export { readSources, type ReadResult } from './files.js';
export { watchSources } from './watch.js';
