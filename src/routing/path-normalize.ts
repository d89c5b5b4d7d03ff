// Request-target → the path routing matches and upstreams receive, normalised as Istio's Envoy does.
//
// Envoy's HTTP connection manager (`ConnectionManagerUtility::maybeNormalizePath`) runs, in order: strip a
// `#fragment` (Istio turns `http_reject_path_with_fragment` off, so it is stripped, not refused); unescape
// `%2F`/`%5C` (only with `path_with_escaped_slashes_action: UNESCAPE_AND_FORWARD`); RFC 3986 normalisation
// (`normalize_path`, Chromium's `CanonicalizePath`: dot segments including `%2e`, `\` as `/`, unreserved
// `%xx` decoded, unsafe bytes escaped, `%00` refused); then `merge_slashes`. The query is never touched.
// Istio's `meshConfig.pathNormalization` picks the steps:
// https://istio.io/latest/docs/reference/config/istio.mesh.v1alpha1/#MeshConfig-ProxyPathNormalization-NormalizationType

/** Istio's `ProxyPathNormalization` modes. */
export type PathNormalization = 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';

export const PATH_NORMALIZATIONS: readonly PathNormalization[] = ['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'];

// Chromium's kPathCharLookup classes (url_canon_path.cc), for bytes below 0x80; every byte >= 0x80 escapes.
const PASS = 0;
const SPECIAL = 1;
const ESCAPE = 3; // ESCAPE_BIT | SPECIAL
const UNESCAPE = 4;
const INVALID = 9; // INVALID_BIT | SPECIAL

const CLASS = new Uint8Array(0x100).fill(ESCAPE);
CLASS[0] = INVALID;
for (const c of "!$&'()*+,/:;=@[]") CLASS[c.charCodeAt(0)] = PASS;
for (const c of '-_~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz') CLASS[c.charCodeAt(0)] = UNESCAPE;
CLASS[0x2e] = SPECIAL; // '.'
// Everything else below 0x80 stays ESCAPE: controls, space, " # % < > ? \ ^ ` { | } and DEL ('%' and '\'
// are handled before the class is read).

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const PERCENT = 0x25;
const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** The byte a valid `%xx` at `i` of `s` stands for, or -1. */
function escapedAt(s: string, i: number, end: number): number {
  if (i + 3 > end) return -1;
  const hi = hexValue(s.charCodeAt(i + 1));
  const lo = hexValue(s.charCodeAt(i + 2));
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
}

/** 1 for `.`, 3 for `%2e`/`%2E`, else 0 (Chromium's IsDot). */
function dotAt(s: string, i: number, end: number): number {
  const c = s.charCodeAt(i);
  if (c === DOT) return 1;
  if (c === PERCENT && i + 3 <= end && s.charCodeAt(i + 1) === 0x32 && (s.charCodeAt(i + 2) | 0x20) === 0x65) return 3;
  return 0;
}

function isSlash(c: number): boolean {
  return c === SLASH || c === BACKSLASH;
}

/** A growable byte buffer the canonicaliser writes to (its output is always ASCII). */
class Out {
  bytes: Uint8Array;
  length = 0;
  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
  }
  push(b: number): void {
    if (this.length === this.bytes.length) {
      const next = new Uint8Array(this.bytes.length * 2 + 8);
      next.set(this.bytes);
      this.bytes = next;
    }
    this.bytes[this.length++] = b;
  }
  escaped(b: number): void {
    this.push(PERCENT);
    this.push(HEX.charCodeAt(b >> 4));
    this.push(HEX.charCodeAt(b & 15));
  }
  toString(): string {
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.length).toString('latin1');
  }
}

/** Chromium's BackUpToPreviousSlash: drop the last segment, keeping the slash before it (never above the root). */
function backUp(out: Out): void {
  let i = out.length - 1;
  if (i === 0) return;
  i--;
  while (out.bytes[i] !== SLASH && i > 0) i--;
  out.length = i + 1;
}

/**
 * Chromium's CheckForNestedEscapes: an invalid `%` followed by characters that were just unescaped must not
 * turn into a valid escape (`%%30%30` would read as `%00` when canonicalised again), so its `%` becomes `%25`.
 */
function guardNestedEscape(s: string, next: number, end: number, percentAt: number, out: Out): void {
  const length = out.length;
  const lastUnescaped = out.bytes[length - 1]!;
  const appendNext = percentAt === length - 2;
  if (appendNext) {
    if (next === end || s.charCodeAt(next) >= 0x80) return;
    out.push(s.charCodeAt(next));
  }
  // The output now ends in `%` and two characters: do they read as an escape?
  if (hexValue(out.bytes[percentAt + 1]!) >= 0 && hexValue(out.bytes[percentAt + 2]!) >= 0) {
    if (!appendNext) out.push(out.bytes[percentAt + 1]!);
    out.bytes[percentAt + 1] = 0x32; // '2'
    out.bytes[percentAt + 2] = 0x35; // '5'
    out.push(lastUnescaped);
  } else if (appendNext) {
    out.length = length;
  }
}

/** Pushes one input character, escaped as its UTF-8 bytes when it is not a byte (strings from tests, not sockets). */
function escapeChar(c: number, out: Out): void {
  if (c <= 0xff) {
    out.escaped(c);
    return;
  }
  for (const b of Buffer.from(String.fromCharCode(c), 'utf8')) out.escaped(b);
}

/**
 * RFC 3986 path normalisation as Envoy's `normalize_path` (Chromium's CanonicalizePath), over `path`
 * (which starts with `/` and has no query). Undefined when the path holds a NUL, raw or `%00` (Envoy: 400).
 */
export function canonicalizePath(path: string): string | undefined {
  const end = path.length;
  const out = new Out(end + 16);
  let ok = true;
  let invalidPercentAt = Number.MIN_SAFE_INTEGER;
  if (!isSlash(path.charCodeAt(0))) out.push(SLASH);
  for (let i = 0; i < end; i++) {
    const c = path.charCodeAt(i);
    const cls = c < 0x100 ? CLASS[c]! : ESCAPE;
    if ((cls & SPECIAL) === 0) {
      out.push(c);
      continue;
    }
    const dotLen = dotAt(path, i, end);
    if (dotLen > 0) {
      if (out.length > 0 && out.bytes[out.length - 1] === SLASH) {
        // A dot right after a slash: `.` or `..` as a whole segment is a directory reference.
        const after = i + dotLen;
        let consumed = 0;
        let kind: 'name' | 'current' | 'up' = 'name';
        if (after === end) {
          kind = 'current';
        } else if (isSlash(path.charCodeAt(after))) {
          kind = 'current';
          consumed = 1;
        } else {
          const second = dotAt(path, after, end);
          if (second > 0) {
            const afterSecond = after + second;
            if (afterSecond === end) {
              kind = 'up';
              consumed = second;
            } else if (isSlash(path.charCodeAt(afterSecond))) {
              kind = 'up';
              consumed = second + 1;
            }
          }
        }
        if (kind === 'name') {
          out.push(DOT);
          i += dotLen - 1;
        } else {
          if (kind === 'up') backUp(out);
          i += dotLen + consumed - 1;
        }
      } else {
        out.push(DOT);
        i += dotLen - 1;
      }
    } else if (c === BACKSLASH) {
      out.push(SLASH);
    } else if (c === PERCENT) {
      const value = escapedAt(path, i, end);
      if (value < 0) {
        // Not an escape: kept as it is (browsers' permissive behaviour, which Chromium follows).
        invalidPercentAt = out.length;
        out.push(PERCENT);
        continue;
      }
      i += 2;
      const vcls = value < 0x80 ? CLASS[value]! : ESCAPE;
      if (vcls === UNESCAPE) {
        out.push(value);
        if (invalidPercentAt >= out.length - 3) guardNestedEscape(path, i + 1, end, invalidPercentAt, out);
      } else {
        // Kept escaped, with the sender's hex case (a server may be sensitive to it).
        out.push(PERCENT);
        out.push(path.charCodeAt(i - 1));
        out.push(path.charCodeAt(i));
        if (vcls === INVALID) ok = false;
      }
    } else if (cls === INVALID) {
      out.escaped(c);
      ok = false;
    } else {
      escapeChar(c, out);
    }
  }
  return ok ? out.toString() : undefined;
}

const SLASH_RUN = /\/{2,}/g;

/** Envoy's `merge_slashes`: runs of `/` become one. */
export function mergeSlashes(path: string): string {
  return path.includes('//') ? path.replace(SLASH_RUN, '/') : path;
}

const ESCAPED_SLASHES = /%2f|%5c/gi;

/** Envoy's `UNESCAPE_AND_FORWARD`: `%2F` → `/` and `%5C` → `\` (which normalisation then turns into `/`). */
export function unescapeSlashes(path: string): string {
  return path.includes('%') ? path.replace(ESCAPED_SLASHES, (m) => (m[2] === 'f' || m[2] === 'F' ? '/' : '\\')) : path;
}

/**
 * True when normalising cannot change the path part of `target` (up to `?`): no `%`, `\`, byte to escape,
 * `.` right after a slash, nor (when merging) `//`. Most requests take this exit: one scan, no allocation.
 */
function alreadyNormal(target: string, merge: boolean): boolean {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 0x3f) return true; // '?': the query is never touched
    if (c >= 0x80) return false;
    if ((CLASS[c]! & SPECIAL) === 0) {
      if (c === SLASH && merge && i > 0 && target.charCodeAt(i - 1) === SLASH) return false;
      continue;
    }
    if (c !== DOT || (i > 0 && target.charCodeAt(i - 1) === SLASH)) return false;
  }
  return true;
}

/**
 * The origin-form target (`/path?query`, maybe `#fragment`) as routing should see it under `mode`; undefined
 * when it must be refused with 400. The query is kept byte for byte; a fragment is dropped.
 */
export function normalizeTarget(target: string, mode: PathNormalization): string | undefined {
  const hash = target.indexOf('#');
  const noFragment = hash === -1 ? target : target.slice(0, hash);
  if (mode === 'NONE') return noFragment;
  const merge = mode !== 'BASE';
  if (alreadyNormal(noFragment, merge)) return noFragment;
  const q = noFragment.indexOf('?');
  let path = q === -1 ? noFragment : noFragment.slice(0, q);
  const query = q === -1 ? '' : noFragment.slice(q);
  if (mode === 'DECODE_AND_MERGE_SLASHES') path = unescapeSlashes(path);
  const canonical = canonicalizePath(path);
  if (canonical === undefined) return undefined;
  path = merge ? mergeSlashes(canonical) : canonical;
  return query === '' ? path : path + query;
}
