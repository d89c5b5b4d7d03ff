// Public surface of comparator/: exchanges off the data path, compared in a worker, stored, judged.
export { BodyCapture } from './capture.js';
export { type ComparatorOptions, Comparator } from './comparator.js';
export { type AnswerRecorder, type AnswerRole, ExchangeBuilder } from './exchange.js';
