// Test harness: waits on the event or the counter that signals a condition, never on a duration (issue 20). Every
// wait has a deadline, but only as a safety net against a hang: it assumes no speed of the machine, and when it
// passes the error says what was awaited and the last value seen.
// The metric wait, untilMetric, is in exposition.ts with the rest of the Prometheus text handling.
import type { EventEmitter } from 'node:events';

/**
 * The safety net of every wait (ms): far beyond any honest wait on a loaded 2-core machine, and below the tests' own
 * timeouts so that a hang fails with this harness' message (what was awaited, the last value) rather than theirs.
 * SHADOWGATE_TEST_WAIT_MS overrides it.
 */
export const WAIT_MS = Number(process.env.SHADOWGATE_TEST_WAIT_MS) || 30_000;

/** An emitter and one of its events: a wait re-checks its condition whenever it fires. */
export type Signal = readonly [EventEmitter, string];

export interface WaitOptions {
  /** What is awaited, for the failure message. */
  what?: string;
  timeoutMs?: number;
  /**
   * Events after which the condition may have changed: it is re-checked when one fires (and once at the start).
   * Without any, it is re-checked on every turn of the event loop (setImmediate), still never on a timer.
   */
  on?: Signal | readonly Signal[];
}

const describe = (v: unknown): string => {
  try {
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 300 ? `${s.slice(0, 300)}…` : s;
  } catch {
    return String(v);
  }
};

/**
 * Resolves with the arguments of the first `event` on `emitter` that `filter` accepts (all of them by default).
 * Call it before doing what makes the event fire: an event emitted earlier is not seen.
 */
export function waitForEvent<A extends unknown[] = unknown[]>(
  emitter: EventEmitter,
  event: string,
  opts: { what?: string; timeoutMs?: number; filter?: (...args: A) => boolean } = {},
): Promise<A> {
  const timeoutMs = opts.timeoutMs ?? WAIT_MS;
  const what = opts.what ?? `the '${event}' event`;
  return new Promise<A>((resolve, reject) => {
    let seen = 0;
    let last: unknown[] | undefined;
    const listener = (...args: unknown[]) => {
      seen++;
      last = args;
      let ok: boolean;
      try {
        ok = opts.filter ? opts.filter(...(args as A)) : true;
      } catch (err) {
        done();
        reject(err);
        return;
      }
      if (!ok) return;
      done();
      resolve(args as A);
    };
    const timer = setTimeout(() => {
      done();
      const lastSeen = last === undefined ? 'none' : `the last was ${describe(last.length === 1 ? last[0] : last)}`;
      reject(new Error(`waited ${timeoutMs} ms for ${what}: ${seen} '${event}' event(s) seen, none accepted (${lastSeen})`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      emitter.off(event, listener);
    };
    emitter.on(event, listener);
  });
}

/**
 * Resolves with the first value of `probe` that `done` accepts. The probe is read at the start and again after
 * each `opts.on` event (or each turn of the event loop without one); an async probe is never read twice at once.
 */
export function waitFor<T>(probe: () => T | Promise<T>, done: (value: T) => boolean, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? WAIT_MS;
  const what = opts.what ?? 'a condition';
  const signals: readonly Signal[] = opts.on === undefined ? [] : Array.isArray(opts.on[0]) ? (opts.on as readonly Signal[]) : [opts.on as Signal];
  return new Promise<T>((resolve, reject) => {
    let finished = false;
    let reading = false;
    let again = false;
    let last: { value: T } | undefined;
    let immediate: NodeJS.Immediate | undefined;
    const finish = () => {
      finished = true;
      clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
      for (const [emitter, event] of signals) emitter.off(event, check);
    };
    const timer = setTimeout(() => {
      if (finished) return;
      finish();
      reject(new Error(`waited ${timeoutMs} ms for ${what}; the last value seen: ${last === undefined ? 'none yet' : describe(last.value)}`));
    }, timeoutMs);
    async function check(): Promise<void> {
      if (finished) return;
      // An event during a read re-reads once the read is over: the change it signals may have come after it.
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          again = false;
          const value = await probe();
          if (finished) return;
          last = { value };
          if (done(value)) {
            finish();
            resolve(value);
            return;
          }
        } while (again);
      } catch (err) {
        if (finished) return;
        finish();
        reject(err);
        return;
      } finally {
        reading = false;
      }
      if (signals.length === 0 && !finished) immediate = setImmediate(check);
    }
    for (const [emitter, event] of signals) emitter.on(event, check);
    void check();
  });
}

/** Resolves once `count()` reaches `n` (a request log's length, a counter); returns the count then. */
export function waitForCount(count: () => number | Promise<number>, n: number, opts: WaitOptions = {}): Promise<number> {
  return waitFor(count, (c) => c >= n, { ...opts, what: `${opts.what ?? 'a count'} to reach ${n}` });
}

/** `promise`, or a clear error if it has not settled within the safety net (for a product's own idle()/done promises). */
export function within<T>(promise: Promise<T>, what: string, timeoutMs = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`waited ${timeoutMs} ms for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
