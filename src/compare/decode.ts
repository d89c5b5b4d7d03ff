// Turns a captured body into something comparable: decompressed, then JSON, text or opaque bytes.
import { TextDecoder } from 'node:util';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import type { CapturedBody } from './types.js';

export type DecodedBody = { kind: 'json'; value: unknown } | { kind: 'text'; text: string } | { kind: 'binary' } | { kind: 'truncated' };

export interface DecodeOptions {
  /** Refuse to inflate beyond this (a compression bomb is treated as binary). Default 16 MiB. */
  maxDecodedBytes?: number;
}

const DEFAULT_MAX_DECODED = 16 * 1024 * 1024;
/** Fatal: invalid UTF-8 is how an undeclared body shows it is binary. */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
const decoders = new Map<string, TextDecoder>([['utf-8', new TextDecoder('utf-8')]]);

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string {
  const v = headers[name];
  return v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v;
}

export function decodeBody(body: CapturedBody, headers: Headers, opts: DecodeOptions = {}): DecodedBody {
  if (body.truncated) return { kind: 'truncated' };
  if (body.bytes === undefined) return body.size === 0 ? { kind: 'text', text: '' } : { kind: 'truncated' };
  const bytes = decompress(body.bytes, header(headers, 'content-encoding'), opts.maxDecodedBytes ?? DEFAULT_MAX_DECODED);
  if (bytes === undefined) return { kind: 'binary' };

  const contentType = header(headers, 'content-type').toLowerCase();
  const semi = contentType.indexOf(';');
  const mime = (semi < 0 ? contentType : contentType.slice(0, semi)).trim();
  const charset = /;\s*charset="?([^";\s]+)/.exec(contentType)?.[1];

  if (mime === 'application/json' || mime.endsWith('+json') || mime === 'text/json') {
    const text = decodeText(bytes, charset);
    // Declared JSON that does not parse is compared as the text it is.
    return parseJson(text) ?? { kind: 'text', text };
  }
  if (isTextType(mime)) {
    const text = decodeText(bytes, charset);
    return sniffJson(text) ?? { kind: 'text', text };
  }
  if (isBinaryType(mime)) return { kind: 'binary' };
  let text: string;
  try {
    text = STRICT_UTF8.decode(bytes);
  } catch {
    return { kind: 'binary' };
  }
  if (text.includes('\u0000')) return { kind: 'binary' };
  return sniffJson(text) ?? { kind: 'text', text };
}

function isTextType(mime: string): boolean {
  return (
    mime.startsWith('text/') ||
    mime === 'application/xml' ||
    mime.endsWith('+xml') ||
    mime === 'application/javascript' ||
    mime === 'application/x-www-form-urlencoded' ||
    mime === 'application/graphql' ||
    mime === 'application/x-ndjson'
  );
}

/** Declared binary: not tried as text, even when its bytes happen to be valid UTF-8 (protobuf often is). */
function isBinaryType(mime: string): boolean {
  return (
    mime.startsWith('image/') ||
    mime.startsWith('audio/') ||
    mime.startsWith('video/') ||
    mime.startsWith('font/') ||
    mime === 'application/octet-stream' ||
    mime === 'application/pdf' ||
    mime === 'application/zip' ||
    mime.includes('protobuf') ||
    mime.startsWith('application/grpc')
  );
}

function decodeText(bytes: Uint8Array, charset: string | undefined): string {
  const label = charset === undefined || charset === 'utf8' ? 'utf-8' : charset;
  let d = decoders.get(label);
  if (d === undefined) {
    try {
      d = new TextDecoder(label);
    } catch {
      d = decoders.get('utf-8')!;
    }
    // Few distinct charsets exist; keep one decoder per label instead of one per body.
    if (decoders.size < 32) decoders.set(label, d);
  }
  return d.decode(bytes);
}

function parseJson(text: string): { kind: 'json'; value: unknown } | undefined {
  try {
    return { kind: 'json', value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/** Undeclared JSON: only text whose first non-blank character opens an object or array is tried. */
function sniffJson(text: string): { kind: 'json'; value: unknown } | undefined {
  const m = /^\s*([[{])/.exec(text.length > 64 ? text.slice(0, 64) : text);
  return m ? parseJson(text) : undefined;
}

/** Undoes content-encoding (last applied first); undefined when an encoding is unknown or the bytes are not valid. */
function decompress(bytes: Uint8Array, encoding: string, max: number): Uint8Array | undefined {
  if (encoding === '') return bytes;
  const codings = encoding
    .toLowerCase()
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'identity');
  let out: Uint8Array = bytes;
  try {
    for (let i = codings.length - 1; i >= 0; i--) {
      const c = codings[i];
      const opts = { maxOutputLength: max };
      if (c === 'gzip' || c === 'x-gzip') out = gunzipSync(out, opts);
      else if (c === 'br') out = brotliDecompressSync(out, opts);
      else if (c === 'deflate') {
        // RFC 9110 says zlib-wrapped; some servers send raw deflate anyway.
        try {
          out = inflateSync(out, opts);
        } catch {
          out = inflateRawSync(out, opts);
        }
      } else return undefined;
    }
  } catch {
    return undefined;
  }
  return out;
}
