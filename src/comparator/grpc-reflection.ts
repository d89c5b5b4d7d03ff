// gRPC server reflection (grpc/grpc `reflection/v1/reflection.proto`): asks a server for the file descriptors that
// define a service, and the files they import, so its messages decode without a descriptor set on disk.
import http2 from 'node:http2';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { type FileDescriptorProto, FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';

/** v1 first; servers older than it (grpc-go before 1.57, grpc-java's old service) speak v1alpha only. */
const PATHS = ['/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo'];
/** Answers bigger than this are not descriptors anybody writes by hand: refused. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;
/** Rounds of asking for imports the server left out. */
const MAX_ROUNDS = 8;

/** ServerReflectionRequest: `file_containing_symbol` (4) or `file_by_filename` (3). */
function request(field: 3 | 4, value: string): Uint8Array {
  const msg = new BinaryWriter().tag(field, WireType.LengthDelimited).string(value).finish();
  const frame = new Uint8Array(5 + msg.length);
  new DataView(frame.buffer).setUint32(1, msg.length);
  frame.set(msg, 5);
  return frame;
}

/** The files of a ServerReflectionResponse (`file_descriptor_response` 4, its repeated bytes 1), or its error (7). */
function readAnswer(msg: Uint8Array): { files: Uint8Array[] } | { error: string } {
  const r = new BinaryReader(msg);
  const files: Uint8Array[] = [];
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 4 && wt === WireType.LengthDelimited) {
      const inner = new BinaryReader(r.bytes());
      while (inner.pos < inner.len) {
        const [n, w] = inner.tag();
        if (n === 1 && w === WireType.LengthDelimited) files.push(inner.bytes());
        else inner.skip(w, n);
      }
    } else if (no === 7 && wt === WireType.LengthDelimited) {
      const inner = new BinaryReader(r.bytes());
      let code = 0;
      let text = '';
      while (inner.pos < inner.len) {
        const [n, w] = inner.tag();
        if (n === 1 && w === WireType.Varint) code = inner.int32();
        else if (n === 2 && w === WireType.LengthDelimited) text = inner.string();
        else inner.skip(w, n);
      }
      return { error: `reflection error ${code}${text ? `: ${text}` : ''}` };
    } else r.skip(wt, no);
  }
  return { files };
}

/** One call: the request, then the answer's messages and its grpc-status. */
function call(session: http2.ClientHttp2Session, authority: string, path: string, body: Uint8Array): Promise<{ status: string; messages: Uint8Array[] }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let status = '';
    stream.on('response', (h) => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
      else if (h[':status'] !== 200) status = h[':status'] === 404 ? '12' : '2';
    });
    stream.on('trailers', (t) => {
      if (t['grpc-status'] !== undefined) status = String(t['grpc-status']);
    });
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_ANSWER_BYTES) stream.close(http2.constants.NGHTTP2_CANCEL);
      else chunks.push(c);
    });
    stream.on('error', reject);
    stream.on('close', () => {
      if (size > MAX_ANSWER_BYTES) return reject(new Error(`a reflection answer over ${MAX_ANSWER_BYTES} bytes`));
      const all = Buffer.concat(chunks);
      const messages: Uint8Array[] = [];
      for (let at = 0; at + 5 <= all.length; ) {
        const len = all.readUInt32BE(at + 1);
        messages.push(all.subarray(at + 5, at + 5 + len));
        at += 5 + len;
      }
      resolve({ status: status || (stream.rstCode ? '14' : '2'), messages });
    });
    stream.end(body);
  });
}

/**
 * The FileDescriptorSet (bytes) of `service` and every file it imports, asked of the server at `origin` (h2c)
 * with `authority` as `:authority`. Throws with a reason when the server has no reflection, does not know the
 * service, or does not answer within `timeoutMs`.
 */
export async function reflectService(origin: string, authority: string, service: string, timeoutMs: number): Promise<Uint8Array> {
  const session = http2.connect(origin);
  session.on('error', () => {});
  const timer = setTimeout(() => session.destroy(new Error(`no reflection answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve());
      session.once('error', reject);
      session.once('close', () => reject(new Error(`no reflection answer within ${timeoutMs} ms`)));
    });
    const files = new Map<string, FileDescriptorProto>();
    let path = PATHS[0]!;
    const ask = async (field: 3 | 4, value: string) => {
      let r = await call(session, authority, path, request(field, value));
      if (r.status === '12' && path === PATHS[0]) {
        path = PATHS[1]!;
        r = await call(session, authority, path, request(field, value));
      }
      if (r.status !== '0') throw new Error(r.status === '12' ? 'the server has no reflection service' : `reflection answered grpc-status ${r.status}`);
      for (const m of r.messages) {
        const a = readAnswer(m);
        if ('error' in a) throw new Error(a.error);
        for (const b of a.files) {
          const f = fromBinary(FileDescriptorProtoSchema, b);
          if (!files.has(f.name)) files.set(f.name, f);
        }
      }
    };
    await ask(4, service);
    // Servers send a file with the imports the client has not seen yet; ask for any that is still missing.
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const missing = [...files.values()].flatMap((f) => f.dependency).filter((d) => !files.has(d) && !d.startsWith('google/protobuf/'));
      if (missing.length === 0) break;
      for (const name of new Set(missing)) await ask(3, name);
    }
    return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [...files.values()] }));
  } finally {
    clearTimeout(timer);
    session.destroy();
  }
}
