// Public surface of upstream/h2/: HTTP/2 cleartext pools per endpoint.
export { H2Pool, type H2PoolOptions } from './h2-pool.js';
