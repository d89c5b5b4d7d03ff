// gRPC answers compared message by message: the body is a sequence of length-prefixed messages (gRPC over
// HTTP/2, "Length-Prefixed-Message"); without a descriptor set the messages compare by their bytes.
import { createHash } from 'node:crypto';
import { clip } from './render.js';
import type { CapturedResponse, FieldDiff } from './types.js';

/** Messages of a gRPC body, or undefined when the bytes are not whole frames (cut at the capture bound). */
export function grpcMessages(raw: Uint8Array): Buffer[] | undefined {
  // Captured bytes may arrive as a plain Uint8Array (structured-cloned into the comparison worker).
  const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 5 > bytes.length) return undefined;
    const len = bytes.readUInt32BE(at + 1);
    if (at + 5 + len > bytes.length) return undefined;
    out.push(bytes.subarray(at + 5, at + 5 + len));
    at += 5 + len;
  }
  return out;
}

function isGrpcAnswer(r: CapturedResponse): boolean {
  const ct = r.headers['content-type'];
  const v = Array.isArray(ct) ? ct[0] : ct;
  return v !== undefined && /^application\/grpc(\+|;|$)/.test(v);
}

function describe(m: Buffer): string {
  return `${m.length} bytes, sha256 ${createHash('sha256').update(m).digest('hex').slice(0, 12)}: ${clip(m.toString('base64'))}`;
}

/**
 * For two gRPC answers whose bodies were captured whole: `body.messages` when the number of messages differs,
 * `body.messages[*]` when a message's bytes do. Returns false when the bodies are not both gRPC frames (the
 * caller compares them as bytes).
 */
export function diffGrpcBodies(a: CapturedResponse, b: CapturedResponse, out: Map<string, FieldDiff>): boolean {
  if (!isGrpcAnswer(a) || !isGrpcAnswer(b) || !a.body.bytes || !b.body.bytes) return false;
  const ma = grpcMessages(a.body.bytes);
  const mb = grpcMessages(b.body.bytes);
  if (!ma || !mb) return false;
  if (ma.length !== mb.length) {
    out.set('body.messages', { field: 'body.messages', kind: 'array_length', left: String(ma.length), right: String(mb.length) });
  }
  for (let i = 0; i < Math.min(ma.length, mb.length); i++) {
    if (Buffer.compare(ma[i]!, mb[i]!) === 0) continue;
    out.set('body.messages[*]', { field: 'body.messages[*]', kind: 'binary_changed', left: describe(ma[i]!), right: describe(mb[i]!) });
    break;
  }
  return true;
}
