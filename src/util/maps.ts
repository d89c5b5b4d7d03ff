// The get-or-create step that caches keyed by config objects, labels and series all need.

/** A Map or a WeakMap. */
interface Keyed<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): unknown;
}

/**
 * The value under `key`, made (once) by `make(key, arg)` when there is none. On the data path pass a module-level
 * `make` and what it needs as `arg`: an arrow written at the call is a new closure on every call, found or not (and
 * closures over request state were measured to keep whole requests alive: see proxy/upstream-attempt.ts).
 */
export function getOrCreate<K, V>(map: Keyed<K, V>, key: K, make: (key: K) => V): V;
export function getOrCreate<K, V, A>(map: Keyed<K, V>, key: K, make: (key: K, arg: A) => V, arg: A): V;
export function getOrCreate<K, V, A>(map: Keyed<K, V>, key: K, make: (key: K, arg?: A) => V, arg?: A): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make(key, arg);
    map.set(key, v);
  }
  return v;
}

/** getOrCreate's `make` for a nested level of maps: `getOrCreate(outer, key, newMap<K2, V2>)`. */
export function newMap<K, V>(): Map<K, V> {
  return new Map<K, V>();
}
