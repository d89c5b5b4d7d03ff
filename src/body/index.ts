// Public surface of body/: request bodies read once and fanned out to the primary and the shadows, bounded.

export { ChunkList } from './chunk-list.js';
export { BodyQueue, type BodySink, type BodyTeeOptions, RequestBodyTee } from './tee.js';
