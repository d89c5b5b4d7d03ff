// Public surface of proxy/h2/: the downstream HTTP/2 (h2c) side of a service port.
export { DEFAULT_H2_LIMITS, type H2Limits } from './limits.js';
export { PREFACE, type Protocol, SNIFF_TIMEOUT_MS, sniffProtocol } from './preface.js';
export { requestHasBody } from './request.js';
export { acceptBoth, H2Server, type RequestHandler } from './server.js';
