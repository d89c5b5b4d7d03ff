// Istio `headers.request|response` operations (set/add/remove) applied the way Envoy applies them.

import type { HeaderOps } from '../config/model.js';
import type { HeaderMap } from './facts.js';

interface CompiledHeaderOps {
  /** No operation at all: the headers pass unchanged (the common case, and the hot path). */
  readonly empty: boolean;
  readonly remove: readonly string[];
  readonly set: ReadonlyArray<readonly [string, string]>;
  readonly add: ReadonlyArray<readonly [string, string]>;
}

/** Pseudo-headers and Host cannot be changed this way; Istio drops them (authority goes to a host rewrite). */
function isInternal(name: string): boolean {
  return name.startsWith(':') || name === 'host';
}

function entries(rec: Record<string, string>): Array<readonly [string, string]> {
  const out: Array<readonly [string, string]> = [];
  for (const [k, v] of Object.entries(rec)) {
    const name = k.toLowerCase();
    // Envoy skips a header whose value is empty (keep_empty_value defaults to false).
    if (!isInternal(name) && v !== '') out.push([name, v]);
  }
  // Istio sorts the header options by name; keeps results independent of YAML key order.
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function compile(ops: HeaderOps): CompiledHeaderOps {
  const remove = ops.remove.map((n) => n.toLowerCase()).filter((n) => !isInternal(n));
  const set = entries(ops.set);
  const add = entries(ops.add);
  return { empty: remove.length === 0 && set.length === 0 && add.length === 0, remove, set, add };
}

// The snapshot is immutable, so each HeaderOps object is prepared once, on first use.
const cache = new WeakMap<HeaderOps, CompiledHeaderOps>();

/**
 * Returns a new header object and leaves the input untouched — except when there is nothing to do: then the
 * input itself is returned (callers pass a copy they own; most routes have no header operations). Order follows Envoy's
 * HeaderParser::evaluateHeaders, which Istio feeds `set` as OVERWRITE_IF_EXISTS_OR_ADD and `add`
 * as APPEND_IF_EXISTS_OR_ADD:
 * 1. `remove` deletes every value of each name;
 * 2. `set` replaces all values with one;
 * 3. `add` appends one more value (so `set` + `add` of one name leaves two values).
 * Envoy would also expand `%FORMATTER%` commands in values; we send values verbatim.
 */
export function applyHeaderOps(headers: HeaderMap, ops: HeaderOps): Record<string, string | string[]> {
  let c = cache.get(ops);
  if (c === undefined) {
    c = compile(ops);
    cache.set(ops, c);
  }
  if (c.empty) return headers as Record<string, string | string[]>;
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const name = k.toLowerCase();
    const prev = out[name];
    const value = typeof v === 'string' ? v : v.slice();
    out[name] = prev === undefined ? value : ([] as string[]).concat(prev, value);
  }
  for (const name of c.remove) delete out[name];
  for (const [name, value] of c.set) out[name] = value;
  for (const [name, value] of c.add) {
    const prev = out[name];
    out[name] = prev === undefined ? value : typeof prev === 'string' ? [prev, value] : [...prev, value];
  }
  return out;
}
