// The get-or-create step that caches keyed by config objects, labels and series all need.

/** A Map or a WeakMap. */
interface Keyed<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): unknown;
}

/** The value under `key`, made (once) by `make` when there is none. */
export function getOrCreate<K, V>(map: Keyed<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}
