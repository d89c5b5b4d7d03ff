// gRPC message types from descriptor sets (`protoc --descriptor_set_out`): which request and answer type each
// `/package.Service/Method` has, so the comparison decodes messages instead of comparing their bytes.
import { createFileRegistry, type DescMessage, type FileRegistry, fromBinary } from '@bufbuild/protobuf';
import {
  type DescriptorProto,
  type EnumDescriptorProto,
  type FileDescriptorProto,
  type FileDescriptorSet,
  FileDescriptorSetSchema,
  file_google_protobuf_any,
  file_google_protobuf_api,
  file_google_protobuf_descriptor,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_source_context,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_type,
  file_google_protobuf_wrappers,
} from '@bufbuild/protobuf/wkt';
import type { GrpcDescriptorSet } from './types.js';

/**
 * The well-known types, for sets written without `--include_imports`: protoc leaves imported files out then,
 * and these are the imports nearly every API has. Any other missing import is an error that says so.
 */
const WELL_KNOWN = new Map(
  [
    file_google_protobuf_any,
    file_google_protobuf_api,
    file_google_protobuf_descriptor,
    file_google_protobuf_duration,
    file_google_protobuf_empty,
    file_google_protobuf_field_mask,
    file_google_protobuf_source_context,
    file_google_protobuf_struct,
    file_google_protobuf_timestamp,
    file_google_protobuf_type,
    file_google_protobuf_wrappers,
  ].map((f) => [f.proto.name, f.proto] as const),
);

export interface GrpcMethodTypes {
  /** `package.Service/Method`. */
  name: string;
  input: DescMessage;
  output: DescMessage;
}

/** The methods of one or more descriptor sets, by request path (`/package.Service/Method`). */
export interface GrpcSchema {
  readonly registry: FileRegistry;
  method(path: string): GrpcMethodTypes | undefined;
  readonly methodCount: number;
}

/** Decodes one FileDescriptorSet; throws an Error whose message says what is wrong with it. */
export function decodeDescriptorSet(bytes: Uint8Array): FileDescriptorSet {
  let set: FileDescriptorSet;
  try {
    set = fromBinary(FileDescriptorSetSchema, bytes);
  } catch (err) {
    throw new Error(`not a FileDescriptorSet (protoc --descriptor_set_out writes one): ${(err as Error).message}`);
  }
  if (set.file.length === 0) throw new Error('a FileDescriptorSet with no file in it');
  for (const f of set.file) {
    if (!f.name) throw new Error('a FileDescriptorSet whose files have no name: not what protoc --descriptor_set_out writes');
  }
  return set;
}

/**
 * One schema from several sets. A file in more than one set is taken once (the first); a set whose file imports
 * one that no set holds (and is not a well-known type) is refused by name.
 */
export function buildGrpcSchema(sets: readonly FileDescriptorSet[]): GrpcSchema {
  const files = new Map<string, FileDescriptorProto>();
  for (const set of sets) for (const f of set.file) if (!files.has(f.name)) files.set(f.name, f);
  qualify([...files.values()]);
  // A well-known file brought in may import another (api.proto imports type.proto): until none is missing.
  const pending = [...files.values()];
  for (let f = pending.pop(); f !== undefined; f = pending.pop()) {
    for (const dep of f.dependency) {
      if (files.has(dep)) continue;
      const wkt = WELL_KNOWN.get(dep);
      if (!wkt) throw new Error(`${f.name} imports ${dep}, which the descriptor set does not hold (write it with protoc --include_imports)`);
      files.set(dep, wkt);
      pending.push(wkt);
    }
  }
  let registry: FileRegistry;
  try {
    registry = createFileRegistry({ $typeName: 'google.protobuf.FileDescriptorSet', file: dependenciesFirst(files) });
  } catch (err) {
    throw new Error(`an inconsistent descriptor set: ${(err as Error).message}`);
  }
  const methods = new Map<string, GrpcMethodTypes>();
  for (const file of registry.files) {
    for (const service of file.services) {
      for (const m of service.methods) {
        const name = `${service.typeName}/${m.name}`;
        methods.set(`/${name}`, { name, input: m.input, output: m.output });
      }
    }
  }
  return { registry, method: (path) => methods.get(path), methodCount: methods.size };
}

/**
 * Sets written by protobuf.js (`pbjs`, `@grpc/proto-loader`, and so Node's `@grpc/reflection`) name field types
 * relative to their scope, list no imports and leave json_name empty, which protoc never does (descriptor.proto
 * allows relative names: "C++-like scoping rules"). Resolves such names as those rules say, adds the imports
 * they imply and fills json_name as protoc does, in place, so both kinds build; a name that resolves to nothing
 * is left for the registry to refuse by name.
 */
function qualify(files: FileDescriptorProto[]): void {
  const owner = new Map<string, string>();
  const walk = (scope: string, file: string, messages: DescriptorProto[], enums: EnumDescriptorProto[]) => {
    for (const e of enums) owner.set(`${scope}.${e.name}`, file);
    for (const m of messages) {
      owner.set(`${scope}.${m.name}`, file);
      walk(`${scope}.${m.name}`, file, m.nestedType, m.enumType);
    }
  };
  for (const f of files) walk(f.package ? `.${f.package}` : '', f.name, f.messageType, f.enumType);
  const resolve = (name: string, scope: string): string => {
    if (name === '' || name.startsWith('.')) return name;
    for (let s = scope; ; s = s.slice(0, Math.max(0, s.lastIndexOf('.')))) {
      if (owner.has(`${s}.${name}`)) return `${s}.${name}`;
      if (s === '') return name;
    }
  };
  for (const f of files) {
    const deps = new Set(f.dependency);
    const use = (full: string) => {
      const file = owner.get(full);
      if (file !== undefined && file !== f.name && !deps.has(file)) {
        deps.add(file);
        f.dependency.push(file);
      }
    };
    const fix = (scope: string, messages: DescriptorProto[]) => {
      for (const m of messages) {
        const inner = `${scope}.${m.name}`;
        for (const field of m.field) {
          field.typeName = resolve(field.typeName, inner);
          use(field.typeName);
          // protobuf.js writes an empty json_name, which would name every field "": protoc's rule instead.
          if (field.jsonName === '') field.jsonName = jsonNameOf(field.name);
        }
        fix(inner, m.nestedType);
      }
    };
    const pkg = f.package ? `.${f.package}` : '';
    fix(pkg, f.messageType);
    for (const svc of f.service) {
      for (const m of svc.method) {
        m.inputType = resolve(m.inputType, pkg);
        m.outputType = resolve(m.outputType, pkg);
        use(m.inputType);
        use(m.outputType);
      }
    }
  }
}

/** protoc's json_name: underscores dropped, the letter after each upper-cased (`updated_at` → `updatedAt`). */
function jsonNameOf(name: string): string {
  return name.replace(/_+([a-z0-9]?)/g, (_m, c: string) => c.toUpperCase());
}

/** protoc writes a file's imports before it, and the registry is built in that order: sets merged keep to it. */
function dependenciesFirst(files: Map<string, FileDescriptorProto>): FileDescriptorProto[] {
  const out: FileDescriptorProto[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (f: FileDescriptorProto) => {
    const s = state.get(f.name);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`an import cycle through ${f.name}`);
    state.set(f.name, 'visiting');
    for (const dep of f.dependency) visit(files.get(dep)!);
    state.set(f.name, 'done');
    out.push(f);
  };
  for (const f of files.values()) visit(f);
  return out;
}

/** The schema of a snapshot's `compare.grpc.descriptorSets` (checked when the config was loaded), or undefined without any. */
export function compileGrpcSchema(sets: readonly GrpcDescriptorSet[] | undefined): GrpcSchema | undefined {
  if (!sets || sets.length === 0) return undefined;
  return buildGrpcSchema(sets.map((s) => decodeDescriptorSet(Buffer.from(s.data, 'base64'))));
}

/** What the config loader asks of a file: it decodes as a FileDescriptorSet, and its imports are all there. */
export function checkDescriptorSet(bytes: Uint8Array): { methods: number } {
  return { methods: buildGrpcSchema([decodeDescriptorSet(bytes)]).methodCount };
}
