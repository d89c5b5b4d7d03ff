// The bound on an upstream that goes silent: a pooled HTTP/1.1 connection with no byte read or written for this long
// is closed, and the request on it fails as a timeout (504, UT), as Envoy's stream idle timeout (5 minutes by
// default). undici's headersTimeout/bodyTimeout (300 s each) did this before, but they start a timer object per
// request that undici keeps until its own timer tick (0.5–1 s): every request's timer outlived a young-generation
// GC and was promoted (about 60% of the bytes promoted per mirrored request, `npm run bench:gc`), so the old
// generation filled up, and stopped the event loop for a full GC, that much sooner. Node's socket timeout would
// refresh a timer on every read and write; one sweep over the connections, comparing their byte counts, costs
// nothing per request.
import type { Socket } from 'node:net';

/** undici's headersTimeout/bodyTimeout default, and Envoy's stream_idle_timeout default. */
export const UPSTREAM_IDLE_TIMEOUT_MS = 300_000;
/** The error code a request on a connection closed for silence fails with (classified a timeout). */
export const UPSTREAM_IDLE_CODE = 'UPSTREAM_IDLE_TIMEOUT';
/** The sweep's period: the bound holds to within this (or a quarter of the shortest bound, in tests). */
const SWEEP_MS = 1_000;

interface Silence {
  limitMs: number;
  /** bytesRead + bytesWritten at the last sweep that saw them change. */
  bytes: number;
  /** performance.now() of that sweep. */
  since: number;
}

const SILENCE = Symbol('silence');
type Watched = Socket & { [SILENCE]?: Silence };

/** Every pooled connection under the bound: long-lived objects only (a connection, not a request). */
const watched = new Set<Watched>();
let timer: NodeJS.Timeout | undefined;
let sweepMs = SWEEP_MS;

/**
 * Closes `socket` once it has gone `ms` without a byte either way. An idle pooled connection is closed by the pool's
 * own keep-alive timeout first as long as that is not longer than `ms` (pool-options.ts takes the longer of the two).
 */
export function closeWhenSilent(socket: Socket, ms: number): void {
  const s = socket as Watched;
  s[SILENCE] = { limitMs: ms, bytes: 0, since: performance.now() };
  watched.add(s);
  s.once('close', forget);
  const period = Math.min(SWEEP_MS, Math.max(1, Math.floor(ms / 4)));
  if (timer === undefined || period < sweepMs) {
    clearInterval(timer);
    sweepMs = period;
    timer = setInterval(sweep, sweepMs);
    timer.unref();
  }
}

/** The connection left the pool (an upgrade's tunnel, which keeps its own idle bound): the bound no longer applies. */
export function releaseFromSilenceBound(socket: Socket): void {
  watched.delete(socket as Watched);
}

function forget(this: Socket): void {
  watched.delete(this as Watched);
}

function sweep(): void {
  const now = performance.now();
  for (const s of watched) {
    const state = s[SILENCE]!;
    const bytes = s.bytesRead + s.bytesWritten;
    if (bytes !== state.bytes) {
      state.bytes = bytes;
      state.since = now;
    } else if (now - state.since >= state.limitMs) {
      watched.delete(s);
      const err = new Error(`upstream connection silent for ${Math.round(now - state.since)} ms`) as Error & { code: string };
      err.code = UPSTREAM_IDLE_CODE;
      s.destroy(err);
    }
  }
  if (watched.size === 0) {
    clearInterval(timer);
    timer = undefined;
    sweepMs = SWEEP_MS;
  }
}
