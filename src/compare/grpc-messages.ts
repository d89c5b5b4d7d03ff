// gRPC answers compared message by message: the body is a sequence of length-prefixed messages (gRPC over
// HTTP/2, "Length-Prefixed-Message"). With a descriptor set for the method each message is decoded and compared
// field by field as its canonical JSON (https://protobuf.dev/programming-guides/json/); without one, by bytes.
import { createHash } from 'node:crypto';
import { gunzipSync, inflateSync } from 'node:zlib';
import { type DescMessage, fromBinary, type JsonValue, type Message, toJson } from '@bufbuild/protobuf';
import type { GrpcSchema } from './grpc-schema.js';
import { diffJson } from './json-diff.js';
import { clip } from './render.js';
import type { CompiledRules } from './rules.js';
import type { CapturedResponse, FieldDiff } from './types.js';

/** One message as framed: the compressed flag (the call's `grpc-encoding`) and its bytes. */
export interface GrpcFrame {
  compressed: boolean;
  bytes: Buffer;
}

/** Frames of a gRPC body, or undefined when the bytes are not whole frames (cut at the capture bound). */
export function grpcFrames(raw: Uint8Array): GrpcFrame[] | undefined {
  // Captured bytes may arrive as a plain Uint8Array (structured-cloned into the comparison worker).
  const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: GrpcFrame[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 5 > bytes.length) return undefined;
    const len = bytes.readUInt32BE(at + 1);
    if (at + 5 + len > bytes.length) return undefined;
    out.push({ compressed: (bytes[at]! & 1) === 1, bytes: bytes.subarray(at + 5, at + 5 + len) });
    at += 5 + len;
  }
  return out;
}

/** Messages of a gRPC body, or undefined when the bytes are not whole frames (cut at the capture bound). */
export function grpcMessages(raw: Uint8Array): Buffer[] | undefined {
  return grpcFrames(raw)?.map((f) => f.bytes);
}

function header(r: CapturedResponse, name: string): string | undefined {
  const v = r.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function isGrpcAnswer(r: CapturedResponse): boolean {
  const v = header(r, 'content-type');
  return v !== undefined && /^application\/grpc(\+|;|$)/.test(v);
}

function describe(m: Buffer): string {
  return `${m.length} bytes, sha256 ${createHash('sha256').update(m).digest('hex').slice(0, 12)}: ${clip(m.toString('base64'))}`;
}

/** A compressed message inflates to at most this (a bomb is compared by its bytes instead). */
const MAX_INFLATED = 16 * 1024 * 1024;

/** The message's uncompressed bytes, or undefined for an encoding this side cannot undo. */
function plain(frame: GrpcFrame, encoding: string | undefined): Buffer | undefined {
  if (!frame.compressed) return frame.bytes;
  try {
    if (encoding === 'gzip') return gunzipSync(frame.bytes, { maxOutputLength: MAX_INFLATED });
    if (encoding === 'deflate') return inflateSync(frame.bytes, { maxOutputLength: MAX_INFLATED });
  } catch {
    // Corrupt or past the bound: compared as bytes.
  }
  return undefined;
}

/**
 * A message as its canonical JSON, or undefined when it does not decode as `type`. Fields with implicit presence
 * (proto3 scalars, repeated, maps) are always written, so a price that drops to 0 is a changed value rather than
 * a missing field; fields with explicit presence stay absent when unset. Fields the descriptor does not know
 * (a newer version's additions), which the canonical mapping leaves out, are kept as `#<number>` keys holding
 * their wire bytes in base64, so that a candidate adding or changing one still differs.
 */
export function messageJson(type: DescMessage, bytes: Uint8Array, schema: GrpcSchema): JsonValue | undefined {
  let msg: Message;
  try {
    msg = fromBinary(type, bytes);
  } catch {
    return undefined;
  }
  let json: JsonValue;
  try {
    json = toJson(type, msg, { registry: schema.registry, alwaysEmitImplicit: true });
  } catch {
    // An Any whose type no set holds, for one: the message cannot be written as JSON.
    return undefined;
  }
  addUnknown(type, msg, json);
  return json;
}

type Unknown = { no: number; wireType: number; data: Uint8Array }[];

/** Copies unknown fields into the JSON, descending through message fields (well-known types have JSON forms of their own). */
function addUnknown(type: DescMessage, msg: Message, json: JsonValue): void {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return;
  const unknown = (msg as { $unknown?: Unknown }).$unknown;
  if (unknown && unknown.length > 0) {
    const byNumber = new Map<number, Buffer[]>();
    for (const u of unknown) byNumber.set(u.no, [...(byNumber.get(u.no) ?? []), Buffer.from(u.data)]);
    for (const [no, parts] of byNumber) json[`#${no}`] = Buffer.concat(parts).toString('base64');
  }
  if (type.typeName.startsWith('google.protobuf.')) return;
  for (const field of type.fields) {
    const value = (msg as unknown as Record<string, unknown>)[field.localName];
    const sub = json[field.jsonName];
    if (value === undefined || sub === undefined || sub === null) continue;
    if (field.fieldKind === 'message') addUnknown(field.message, value as Message, sub);
    else if (field.fieldKind === 'list' && field.listKind === 'message' && Array.isArray(sub)) {
      const list = value as Message[];
      for (let i = 0; i < list.length; i++) addUnknown(field.message, list[i]!, sub[i]!);
    } else if (field.fieldKind === 'map' && field.mapKind === 'message' && typeof sub === 'object' && !Array.isArray(sub)) {
      for (const [k, m] of Object.entries(value as Record<string, Message>)) if (sub[k] !== undefined) addUnknown(field.message, m, sub[k]!);
    }
  }
}

/**
 * A gRPC body as `{messages: [...]}` of canonical JSON, for a sample, when every message decodes as `type`;
 * undefined otherwise (the sample keeps nothing of bytes nobody can read).
 */
export function grpcBodyJson(
  bytes: Uint8Array,
  headers: Record<string, string | string[] | undefined>,
  type: DescMessage,
  schema: GrpcSchema,
): JsonValue | undefined {
  const frames = grpcFrames(bytes);
  if (!frames) return undefined;
  const v = headers['grpc-encoding'];
  const encoding = Array.isArray(v) ? v[0] : v;
  const messages: JsonValue[] = [];
  for (const f of frames) {
    const p = plain(f, encoding);
    const json = p && messageJson(type, p, schema);
    if (json === undefined) return undefined;
    messages.push(json);
  }
  return { messages };
}

/**
 * For two gRPC answers whose bodies were captured whole: `body.messages` when the number of messages differs;
 * with the method's types from a descriptor set, `body.messages[*].<field>` as JSON fields are named
 * (`body.messages[*].items[*].price`); otherwise `body.messages[*]` when a message's bytes do. Returns false
 * when the bodies are not both gRPC frames (the caller compares them as bytes).
 */
export function diffGrpcBodies(a: CapturedResponse, b: CapturedResponse, path: string, rules: CompiledRules, out: Map<string, FieldDiff>): boolean {
  if (!isGrpcAnswer(a) || !isGrpcAnswer(b) || !a.body.bytes || !b.body.bytes) return false;
  const fa = grpcFrames(a.body.bytes);
  const fb = grpcFrames(b.body.bytes);
  if (!fa || !fb) return false;
  if (fa.length !== fb.length) {
    out.set('body.messages', { field: 'body.messages', kind: 'array_length', left: String(fa.length), right: String(fb.length) });
  }
  const method = rules.grpc?.method(path);
  const field = 'body.messages[*]';
  if (rules.hasIgnoredFields && rules.isIgnoredField(field)) return true;
  for (let i = 0; i < Math.min(fa.length, fb.length); i++) {
    const x = fa[i]!;
    const y = fb[i]!;
    if (x.compressed === y.compressed && Buffer.compare(x.bytes, y.bytes) === 0) continue;
    // Compression is the transport's (grpc-encoding is not compared): messages compare uncompressed.
    const pa = plain(x, header(a, 'grpc-encoding'));
    const pb = plain(y, header(b, 'grpc-encoding'));
    if (pa && pb && Buffer.compare(pa, pb) === 0) continue;
    if (method && pa && pb) {
      const ja = messageJson(method.output, pa, rules.grpc!);
      const jb = messageJson(method.output, pb, rules.grpc!);
      if (ja !== undefined && jb !== undefined) {
        diffJson(ja, jb, field, rules, out);
        continue;
      }
    }
    if (!out.has(field)) out.set(field, { field, kind: 'binary_changed', left: describe(pa ?? x.bytes), right: describe(pb ?? y.bytes) });
  }
  return true;
}
