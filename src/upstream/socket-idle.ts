// The bound on an upstream that goes silent: a connection with no byte read or written for this long is closed, and
// the request on it fails as a timeout (504, UT). Envoy's stream idle timeout is 5 minutes by default; undici's
// headersTimeout/bodyTimeout (300 s each) did this before, but they start a timer object per request that undici
// keeps until its own timer tick (0.5–1 s): every request's timer outlived a young-generation GC and was promoted,
// about two thirds of the bytes promoted per mirrored request (`npm run bench:gc`), and the old generation filled up
// and stopped the event loop for a full GC that much sooner. The socket's own idle timer is one per connection,
// refreshed on each read and write.
import type { Socket } from 'node:net';

/** undici's headersTimeout/bodyTimeout default, and Envoy's stream_idle_timeout default. */
export const UPSTREAM_IDLE_TIMEOUT_MS = 300_000;
/** The error code a request on a connection closed for silence fails with (classified a timeout). */
export const UPSTREAM_IDLE_CODE = 'UPSTREAM_IDLE_TIMEOUT';

/**
 * Closes `socket` after `ms` without a byte either way. An idle pooled connection is closed by the pool's own
 * keep-alive timeout first as long as that is not longer than `ms` (pool-options.ts takes the longer of the two).
 */
export function closeWhenSilent(socket: Socket, ms: number): void {
  socket.setTimeout(ms);
  socket.on('timeout', onSilent);
}

function onSilent(this: Socket): void {
  const err = new Error(`upstream connection silent for ${this.timeout} ms`) as Error & { code: string };
  err.code = UPSTREAM_IDLE_CODE;
  this.destroy(err);
}

/** The connection left the pool (an upgrade's tunnel, which keeps its own idle bound): the silence bound no longer applies. */
export function releaseFromSilenceBound(socket: Socket): void {
  socket.setTimeout(0);
  socket.removeListener('timeout', onSilent);
}
