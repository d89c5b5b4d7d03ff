// Reads one protobuf-JSON object the way Istio does: lowerCamelCase or snake_case keys, typed fields,
// unknown fields rejected, fields Istio has but Shadowgate does not act on yet reported by name.
import { parseDurationNs } from './duration.js';
import type { PathSeg, ResourceContext } from './problems.js';

export interface Schema {
  /** Message name for messages, e.g. `HTTPRoute`. */
  name: string;
  /** Canonical lowerCamelCase field names Shadowgate acts on. */
  fields: readonly string[];
  /** Istio fields Shadowgate does not act on yet: loaded with a "not supported yet" warning. */
  unsupported?: readonly string[];
  /** Istio fields that are accepted and deliberately ignored (no effect outside a mesh), with why. */
  ignored?: Readonly<Record<string, string>>;
}

const snakeToCamel = (k: string) => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

/** A checked view over one object: every key resolved to its canonical name once, at construction. */
export class Fields {
  private readonly keys = new Map<string, string>();

  constructor(
    readonly ctx: ResourceContext,
    readonly value: Record<string, unknown>,
    readonly path: readonly PathSeg[],
    schema: Schema,
  ) {
    for (const key of Object.keys(value)) {
      const canonical = snakeToCamel(key);
      const earlier = this.keys.get(canonical);
      if (earlier !== undefined) {
        ctx.error('duplicate-field', [...path, key], `"${key}" and "${earlier}" are the same field; set only one`);
        continue;
      }
      this.keys.set(canonical, key);
      if (schema.fields.includes(canonical)) continue;
      if (schema.unsupported?.includes(canonical)) {
        ctx.warn('not-supported', [...path, key], `${schema.name}.${canonical} is not supported yet and is ignored`);
      } else if (schema.ignored && canonical in schema.ignored) {
        ctx.report('info', 'ignored-field', [...path, key], `${schema.name}.${canonical} is ignored: ${schema.ignored[canonical]}`);
      } else {
        this.keys.delete(canonical);
        ctx.error('unknown-field', [...path, key], `unknown field "${key}" in ${schema.name}`);
      }
    }
  }

  has(name: string): boolean {
    return this.keys.has(name) && this.value[this.keys.get(name)!] !== null;
  }

  /** The path of a field as the user spelled it. */
  at(name: string): PathSeg[] {
    return [...this.path, this.keys.get(name) ?? name];
  }

  raw(name: string): unknown {
    const key = this.keys.get(name);
    return key === undefined ? undefined : (this.value[key] ?? undefined);
  }

  private typed<T>(name: string, want: string, ok: (v: unknown) => v is T): T | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (ok(v)) return v;
    this.ctx.error('wrong-type', this.at(name), `must be ${want}, not ${typeName(v)}`);
    return undefined;
  }

  string(name: string): string | undefined {
    return this.typed(name, 'a string', (v): v is string => typeof v === 'string');
  }

  bool(name: string): boolean | undefined {
    return this.typed(name, 'true or false', (v): v is boolean => typeof v === 'boolean');
  }

  /** Numbers also arrive as strings in protobuf JSON (int64, and people quote them). */
  number(name: string): number | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n === 'number' && Number.isFinite(n)) return n;
    this.ctx.error('wrong-type', this.at(name), `must be a number, not ${typeName(v)}`);
    return undefined;
  }

  int(name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const n = this.number(name);
    if (n === undefined) return undefined;
    if (!Number.isInteger(n) || n < min || n > max) {
      this.ctx.error('out-of-range', this.at(name), `must be a whole number from ${min} to ${max}, not ${n}`);
      return undefined;
    }
    return n;
  }

  /**
   * Istio's ValidateDuration: at least 1ms, and whole milliseconds ("only durations to ms precision are supported").
   * `zero` allows "0s" where Istio reads it as "disabled" (TCPSettings.idleTimeout).
   */
  durationMs(name: string, opts: { zero?: boolean } = {}): number | undefined {
    const s = this.string(name);
    if (s === undefined) return undefined;
    const ns = parseDurationNs(s);
    if (ns === undefined) {
      this.ctx.error('bad-duration', this.at(name), `"${s}" is not a duration (write e.g. "500ms", "2s", "1m")`);
      return undefined;
    }
    if (ns === 0 && opts.zero) return 0;
    if (ns < 1e6) {
      this.ctx.error('bad-duration', this.at(name), `duration must be at least 1ms, not "${s}"`);
      return undefined;
    }
    if (ns % 1e6 !== 0) {
      this.ctx.error('bad-duration', this.at(name), `"${s}" is finer than a millisecond: Istio takes durations in whole milliseconds`);
      return undefined;
    }
    return ns / 1e6;
  }

  object(name: string, schema: Schema): Fields | undefined {
    const v = this.typed(name, 'an object', isPlainObject);
    return v === undefined ? undefined : new Fields(this.ctx, v, this.at(name), schema);
  }

  /** A list of objects, each read with `schema`. Non-objects are reported and skipped. */
  objects(name: string, schema: Schema): Fields[] {
    const list = this.typed(name, 'a list', Array.isArray);
    if (!list) return [];
    const out: Fields[] = [];
    list.forEach((item, i) => {
      const p = [...this.at(name), i];
      if (isPlainObject(item)) out.push(new Fields(this.ctx, item, p, schema));
      else this.ctx.error('wrong-type', p, `must be an object, not ${typeName(item)}`);
    });
    return out;
  }

  strings(name: string): string[] {
    const list = this.typed(name, 'a list', Array.isArray);
    if (!list) return [];
    const out: string[] = [];
    list.forEach((item, i) => {
      if (typeof item === 'string') out.push(item);
      else this.ctx.error('wrong-type', [...this.at(name), i], `must be a string, not ${typeName(item)}`);
    });
    return out;
  }

  /** map<string,string>; numbers and booleans are accepted as their text (YAML turns `v: 1` into a number). */
  stringMap(name: string): Record<string, string> {
    const obj = this.typed(name, 'an object', isPlainObject);
    const out: Record<string, string> = {};
    if (!obj) return out;
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v === 'string') out[k] = v;
      else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
      else this.ctx.error('wrong-type', [...this.at(name), k], `must be a string, not ${typeName(v)}`);
    }
    return out;
  }

  /** map<string, Message> */
  objectMap(name: string, schema: Schema): Array<[string, Fields]> {
    const obj = this.typed(name, 'an object', isPlainObject);
    if (!obj) return [];
    const out: Array<[string, Fields]> = [];
    for (const [k, v] of Object.entries(obj)) {
      const p = [...this.at(name), k];
      if (isPlainObject(v)) out.push([k, new Fields(this.ctx, v, p, schema)]);
      else this.ctx.error('wrong-type', p, `must be an object, not ${typeName(v)}`);
    }
    return out;
  }
}
