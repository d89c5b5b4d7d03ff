// When each downstream connection last had no request in flight, for the idle sweep (listeners.ts). Node's own
// timers are idle timers, reset by any byte: a client that sends only blank lines would hold a connection for
// ever, before its first request and between two. A deadline from the end of the last request is not reset.
import type { Socket } from 'node:net';

const IDLE_SINCE = Symbol('idle since');
const SERVED = Symbol('served a request');

type Tracked = Socket & { [IDLE_SINCE]?: number; [SERVED]?: boolean };

/** A connection accepted: idle from now, no request served yet. */
export function connectionOpened(socket: Socket, now: number): void {
  (socket as Tracked)[IDLE_SINCE] = now;
}

/** A request started on it (0: not idle). */
export function requestStarted(socket: Socket): void {
  const s = socket as Tracked;
  s[IDLE_SINCE] = 0;
  s[SERVED] = true;
}

/** Its request is done (answered or abandoned): idle from now. */
export function requestEnded(socket: Socket, now: number): void {
  (socket as Tracked)[IDLE_SINCE] = now;
}

/** How long it has had no request in flight (0 while one is), and whether it ever had one. */
export function idleState(socket: Socket, now: number): { idleMs: number; served: boolean } {
  const s = socket as Tracked;
  const since = s[IDLE_SINCE] ?? 0;
  return { idleMs: since === 0 ? 0 : now - since, served: s[SERVED] === true };
}
