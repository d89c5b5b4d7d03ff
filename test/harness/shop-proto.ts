// Test harness: a small gRPC API (shop.Catalog) as the FileDescriptorSet `protoc --descriptor_set_out` writes for
// it (built here field by field, fully-qualified type names and json_name as protoc fills them: no protoc needed),
// and real @grpc/grpc-js servers and clients speaking it.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, createFileRegistry, type DescMessage, fromBinary, type MessageInitShape, toBinary } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import {
  type FieldDescriptorProto_Label,
  type FieldDescriptorProto_Type,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  file_google_protobuf_timestamp,
} from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';

/** What the set describes, as its .proto says it (@grpc/proto-loader reads this text for Node's reflection service). */
export const SHOP_PROTO = `syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";
enum Kind { KIND_UNSPECIFIED = 0; BOOK = 1; MUSIC = 2; }
message GetItemRequest { string id = 1; }
message Item { string id = 1; int64 price = 2; Kind kind = 3; bytes blob = 4;
               google.protobuf.Timestamp updated_at = 5; repeated Tag tags = 6; optional string note = 7; }
message Tag { string name = 1; }
service Catalog { rpc GetItem(GetItemRequest) returns (Item); rpc ListItems(GetItemRequest) returns (stream Item); }
`;
const OPTIONAL = 1 as FieldDescriptorProto_Label;
const REPEATED = 3 as FieldDescriptorProto_Label;
const T = { int64: 3, string: 9, message: 11, bytes: 12, enum: 14 } as Record<string, FieldDescriptorProto_Type>;

function field(
  name: string,
  number: number,
  type: keyof typeof T,
  extra: { typeName?: string; label?: FieldDescriptorProto_Label; proto3Optional?: number } = {},
) {
  const jsonName = name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  const f: Record<string, unknown> = { name, number, label: extra.label ?? OPTIONAL, type: T[type], jsonName };
  if (extra.typeName) f.typeName = extra.typeName;
  if (extra.proto3Optional !== undefined) {
    f.proto3Optional = true;
    f.oneofIndex = extra.proto3Optional;
  }
  return f;
}

export const SHOP_FILE: FileDescriptorProto = create(FileDescriptorProtoSchema, {
  name: 'shop/catalog.proto',
  package: 'shop',
  dependency: ['google/protobuf/timestamp.proto'],
  syntax: 'proto3',
  enumType: [
    {
      name: 'Kind',
      value: [
        { name: 'KIND_UNSPECIFIED', number: 0 },
        { name: 'BOOK', number: 1 },
        { name: 'MUSIC', number: 2 },
      ],
    },
  ],
  messageType: [
    { name: 'GetItemRequest', field: [field('id', 1, 'string')] },
    {
      name: 'Item',
      field: [
        field('id', 1, 'string'),
        field('price', 2, 'int64'),
        field('kind', 3, 'enum', { typeName: '.shop.Kind' }),
        field('blob', 4, 'bytes'),
        field('updated_at', 5, 'message', { typeName: '.google.protobuf.Timestamp' }),
        field('tags', 6, 'message', { typeName: '.shop.Tag', label: REPEATED }),
        field('note', 7, 'string', { proto3Optional: 0 }),
      ],
      oneofDecl: [{ name: '_note' }],
    },
    { name: 'Tag', field: [field('name', 1, 'string')] },
  ],
  service: [
    {
      name: 'Catalog',
      method: [
        { name: 'GetItem', inputType: '.shop.GetItemRequest', outputType: '.shop.Item' },
        { name: 'ListItems', inputType: '.shop.GetItemRequest', outputType: '.shop.Item', serverStreaming: true },
      ],
    },
  ],
} as MessageInitShape<typeof FileDescriptorProtoSchema>);

/** The set's bytes: with the imported timestamp.proto (`--include_imports`) or without it. */
export function shopDescriptorSet(opts: { includeImports?: boolean } = {}): Uint8Array {
  const file = opts.includeImports === false ? [SHOP_FILE] : [file_google_protobuf_timestamp.proto, SHOP_FILE];
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file }));
}

const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: [file_google_protobuf_timestamp.proto, SHOP_FILE] }));
export const ItemType = registry.getMessage('shop.Item')!;
export const GetItemRequestType = registry.getMessage('shop.GetItemRequest')!;

export type ItemInit = MessageInitShape<typeof ItemType>;

export function encode(type: DescMessage, init: Record<string, unknown>): Buffer {
  return Buffer.from(toBinary(type, create(type, init)));
}

const raw = (b: Buffer) => b;

const CATALOG = {
  GetItem: {
    path: '/shop.Catalog/GetItem',
    requestStream: false,
    responseStream: false,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  },
  ListItems: {
    path: '/shop.Catalog/ListItems',
    requestStream: false,
    responseStream: true,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  },
} satisfies grpc.ServiceDefinition;

export interface CatalogServer {
  port: number;
  /** GetItem calls answered so far. */
  calls: number;
  waitForCalls(n: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * grpc.reflection.v1 as grpc-go serves it: each request (`file_containing_symbol` or `file_by_filename`) answered
 * with the file that defines it and the files it imports, as FileDescriptorProto bytes.
 */
const reflection = (version: 'v1' | 'v1alpha') => ({
  ServerReflectionInfo: {
    path: `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`,
    requestStream: true,
    responseStream: true,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  },
});

function reflectionAnswer(request: Buffer): Buffer {
  const r = new BinaryReader(request);
  let symbol = '';
  let file = '';
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 4) symbol = r.string();
    else if (no === 3) file = r.string();
    else r.skip(wt, no);
  }
  const w = new BinaryWriter();
  if (symbol.startsWith('shop.') || file === SHOP_FILE.name) {
    const files = new BinaryWriter();
    for (const f of [SHOP_FILE, file_google_protobuf_timestamp.proto]) files.tag(1, WireType.LengthDelimited).bytes(toBinary(FileDescriptorProtoSchema, f));
    w.tag(4, WireType.LengthDelimited).bytes(files.finish());
  } else {
    // NOT_FOUND, as grpc-go says for a symbol it does not have.
    w.tag(7, WireType.LengthDelimited).bytes(new BinaryWriter().tag(1, WireType.Varint).int32(5).tag(2, WireType.LengthDelimited).string('not found').finish());
  }
  return Buffer.from(w.finish());
}

/** A shop.Catalog whose GetItem answers `answer(id)` (already encoded: a test controls the exact bytes). */
/**
 * `reflection`: `grpc-go` answers as grpc-go does (protoc's descriptors); `@grpc/reflection` is Node's own
 * reflection service over @grpc/proto-loader's reading of SHOP_PROTO (protobuf.js descriptors).
 */
export async function startCatalog(
  answer: (id: string) => Buffer,
  opts: { reflection?: 'grpc-go' | 'grpc-go v1alpha only' | '@grpc/reflection' } = {},
): Promise<CatalogServer> {
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const server = new grpc.Server();
  const state: CatalogServer = {
    port: 0,
    calls: 0,
    waitForCalls(n) {
      return state.calls >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }));
    },
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
  server.addService(CATALOG, {
    GetItem: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const { id } = fromBinary(GetItemRequestType, call.request) as unknown as { id: string };
      cb(null, answer(id));
      state.calls++;
      for (const w of waiters.splice(0)) {
        if (state.calls >= w.n) w.resolve();
        else waiters.push(w);
      }
    },
    ListItems: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const { id } = fromBinary(GetItemRequestType, call.request) as unknown as { id: string };
      call.write(answer(id));
      call.end();
    },
  });
  if (opts.reflection === '@grpc/reflection') {
    const dir = mkdtempSync(join(tmpdir(), 'shadowgate-shop-proto-'));
    writeFileSync(join(dir, 'catalog.proto'), SHOP_PROTO);
    new ReflectionService(protoLoader.loadSync(join(dir, 'catalog.proto'), { includeDirs: [dir] })).addToServer(server);
    rmSync(dir, { recursive: true, force: true });
  } else if (opts.reflection !== undefined) {
    server.addService(reflection(opts.reflection === 'grpc-go' ? 'v1' : 'v1alpha') satisfies grpc.ServiceDefinition, {
      ServerReflectionInfo: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (req: Buffer) => call.write(reflectionAnswer(req)));
        call.on('end', () => call.end());
      },
    });
  }
  state.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return state;
}

/** A client for shop.Catalog through the gateway (`authority` picks the service, as a sidecar's client would). */
export function catalogClient(port: number, authority: string): { getItem(id: string): Promise<Buffer>; close(): void } {
  const Client = grpc.makeGenericClientConstructor(CATALOG, 'Catalog');
  const c = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority });
  return {
    getItem: (id) =>
      new Promise((resolve, reject) =>
        (c as unknown as Record<string, (req: Buffer, cb: (e: Error | null, r: Buffer) => void) => void>).GetItem!(
          encode(GetItemRequestType, { id }),
          (e, r) => (e ? reject(e) : resolve(r)),
        ),
      ),
    close: () => c.close(),
  };
}
