// The one owner of redaction: credential headers, secret body fields at any depth, and how a whole message is
// redacted before anything is stored or served. The store and the worker use this, never a copy.
import type { CompiledRules } from './rules.js';

export const REDACTED = '[redacted]';

/** Credentials: their values never leave the comparer, whatever the configuration says. */
export const ALWAYS_REDACTED_HEADERS: readonly string[] = Object.freeze([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'x-auth-token',
]);

/** Body fields (and query parameters) that hold secrets, at any depth, any case; `_` optional (`apiKey`). */
export const SECRET_FIELDS: readonly string[] = Object.freeze([
  'password',
  'passwd',
  'secret',
  'token',
  'access_token',
  'refresh_token',
  'api_key',
  'client_secret',
]);

const SECRET_NAMES = SECRET_FIELDS.map((f) => f.replaceAll('_', '[_-]?')).join('|');
/** A folded path with a secret key anywhere in it (tested with a leading dot, as rules.ts tests paths). */
export const SECRET_FIELD_SOURCE = String.raw`(?:\.|\[")(?:${SECRET_NAMES})(?="\]|$|[.[])`;
const SECRET_NAME = new RegExp(`^(?:${SECRET_NAMES})$`, 'i');
/** `password=…`, `"token": "…"` in text that is neither JSON nor a form: the value up to a separator. */
const SECRET_IN_TEXT = new RegExp(String.raw`(["']?\b(?:${SECRET_NAMES})["']?\s*[:=]\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s&,;"'<>]+)`, 'gi');

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

type HeaderValues = Record<string, string | string[] | undefined>;

/** Headers with credential (and configured) values replaced. */
export function redactHeaders(headers: HeaderValues | undefined, rules: CompiledRules): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!headers) return out;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const name = k.toLowerCase();
    out[name] = rules.isRedactedHeader(name) ? REDACTED : v;
  }
  return out;
}

/** A parsed JSON value with every redacted path (secrets at any depth, configured paths) replaced. */
export function redactJson(value: unknown, path: string, rules: CompiledRules): unknown {
  if (rules.isRedactedField(path)) return REDACTED;
  if (Array.isArray(value)) return value.map((x) => redactJson(x, `${path}[*]`, rules));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(value)) out[k] = redactJson(x, keyPathOf(path, k), rules);
    return out;
  }
  return value;
}

function keyPathOf(path: string, key: string): string {
  return /^[^.[\]"]+$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** `a=1&password=x` → `a=1&password=[redacted]` (form bodies and query strings). */
export function redactForm(text: string, path: string, rules: CompiledRules): string {
  if (text === '') return text;
  return text
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      let name: string;
      try {
        name = decodeURIComponent(pair.slice(0, eq).replaceAll('+', ' '));
      } catch {
        name = pair.slice(0, eq);
      }
      return isSecretName(name) || rules.isRedactedField(keyPathOf(path, name)) ? `${pair.slice(0, eq)}=${encodeURIComponent(REDACTED)}` : pair;
    })
    .join('&');
}

/** Free text: `key: value` and `key=value` pairs with a secret key have their values replaced. */
export function redactText(text: string): string {
  return text.replace(SECRET_IN_TEXT, (_m, key: string) => `${key}${REDACTED}`);
}
