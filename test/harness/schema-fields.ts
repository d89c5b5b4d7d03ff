// Test harness: fields a generated schema validator (kubernetes-models) never read, i.e. fields the schema does
// not have. Kubernetes refuses those with strict field validation; the models' own validate() lets them through.

/**
 * Properties the models' generated validators never read even where the schema has them: the generator
 * strips `description` and `x-kubernetes-*` keys from the schemas, including properties of those names
 * (a CRD's column `description`, its schema's `x-kubernetes-preserve-unknown-fields`).
 */
const UNREAD_BY_GENERATED_VALIDATORS = /^(description|x-kubernetes-.*)$/;

/**
 * Runs `validate` on `root` seen through proxies that record which properties the schema validator reads.
 * A generated validator reads every property its schema names, and enumerates the keys of map-typed
 * objects (labels, annotations, ConfigMap data); a key of a schema-typed object it never read is a field
 * the schema does not have.
 */
export function unknownFields(root: object, validate: (tracked: object) => void): string[] {
  const read = new Map<object, Set<PropertyKey>>();
  const enumerated = new WeakSet<object>();
  const proxies = new WeakMap<object, object>();
  const wrap = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    let proxy = proxies.get(value);
    if (!proxy) {
      const keys = new Set<PropertyKey>();
      read.set(value, keys);
      proxy = new Proxy(value, {
        get(t, k, r) {
          keys.add(k);
          return wrap(Reflect.get(t, k, r));
        },
        has(t, k) {
          keys.add(k);
          return Reflect.has(t, k);
        },
        getOwnPropertyDescriptor(t, k) {
          keys.add(k);
          return Reflect.getOwnPropertyDescriptor(t, k);
        },
        ownKeys(t) {
          enumerated.add(t);
          return Reflect.ownKeys(t);
        },
      });
      proxies.set(value, proxy);
    }
    return proxy;
  };
  validate(wrap(root) as object);
  const unknown: string[] = [];
  const walk = (value: unknown, path: string) => {
    if (value === null || typeof value !== 'object') return;
    const keys = read.get(value);
    if (!keys) return; // never reached by the validator: under an unknown field, or an opaque (any-typed) value
    if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) walk(item, `${path}[${i}]`);
      return;
    }
    const typed = !enumerated.has(value) && keys.size > 0;
    for (const [k, v] of Object.entries(value)) {
      if (typed && !keys.has(k) && !UNREAD_BY_GENERATED_VALIDATORS.test(k)) unknown.push(path ? `${path}.${k}` : k);
      else walk(v, path ? `${path}.${k}` : k);
    }
  };
  walk(root, '');
  return unknown;
}
