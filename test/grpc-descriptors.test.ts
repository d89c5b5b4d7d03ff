// gRPC messages decoded with descriptor sets (ShadowgateConfig compare.grpc.descriptorSets): field by field as
// their canonical JSON, the verdict naming the protobuf field; bad sets refused at load with file and field.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { type CapturedResponse, compareResponses, compileRules, type FieldDiff } from '../src/compare/index.js';
import { DEFAULT_COMPARE_SETTINGS } from '../src/config/index.js';
import { loadConfig } from '../src/sources/index.js';
import { freePort, startGateway } from './harness/gateway.js';
import { mirrorServiceYaml } from './harness/service-yaml.js';
import { catalogClient, encode, ItemType, SHOP_FILE, shopDescriptorSet, startCatalog } from './harness/shop-proto.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'shadowgate-grpc-descriptors-'));
  dirs.push(d);
  return d;
}

function frame(message: Buffer, compressed = false): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

function answer(body: Buffer, headers: Record<string, string> = {}): CapturedResponse {
  return {
    status: 200,
    headers: { 'content-type': 'application/grpc', 'grpc-status': '0', ...headers },
    body: { size: body.length, sha256: createHash('sha256').update(body).digest('hex'), truncated: false, bytes: body },
    latencyMs: 1,
  };
}

const rules = compileRules({
  ...DEFAULT_COMPARE_SETTINGS,
  grpc: { descriptorSets: [{ file: 'shop.binpb', sha256: '', data: Buffer.from(shopDescriptorSet()).toString('base64') }], reflection: false },
});
const byBytes = compileRules(DEFAULT_COMPARE_SETTINGS);

const ITEM = {
  id: 'item-1',
  price: 1999n,
  kind: 1,
  blob: new Uint8Array([1, 2, 3]),
  updatedAt: { seconds: 1_700_000_000n, nanos: 0 },
  tags: [{ name: 'new' }],
};

function diff(a: Buffer, b: Buffer, path = '/shop.Catalog/GetItem', r = rules, ha: Record<string, string> = {}, hb = ha): Record<string, FieldDiff> {
  return Object.fromEntries(compareResponses(answer(a, ha), answer(b, hb), r, path).map((d) => [d.field, d]));
}

describe('gRPC messages decoded with a descriptor set', () => {
  it('a changed field is named as JSON fields are (body.messages[*].price), int64 as a string', () => {
    const d = diff(frame(encode(ItemType, ITEM)), frame(encode(ItemType, { ...ITEM, price: 2499n })));
    assert.deepEqual(Object.keys(d), ['body.messages[*].price']);
    assert.equal(d['body.messages[*].price']!.kind, 'value_changed');
    assert.equal(d['body.messages[*].price']!.left, '"1999"');
    assert.equal(d['body.messages[*].price']!.right, '"2499"');
  });

  it('enums by name, bytes as base64, nested repeated messages by folded path', () => {
    const d = diff(frame(encode(ItemType, ITEM)), frame(encode(ItemType, { ...ITEM, kind: 2, blob: new Uint8Array([9]), tags: [{ name: 'old' }] })));
    assert.equal(d['body.messages[*].kind']!.left, '"BOOK"');
    assert.equal(d['body.messages[*].kind']!.right, '"MUSIC"');
    assert.equal(d['body.messages[*].blob']!.left, '"AQID"');
    assert.equal(d['body.messages[*].blob']!.right, '"CQ=="');
    assert.equal(d['body.messages[*].tags[*].name']!.kind, 'value_changed');
  });

  it('a price dropping to its default is a changed value, not a missing field; an optional field unset is missing', () => {
    const d = diff(frame(encode(ItemType, { ...ITEM, note: 'x' })), frame(encode(ItemType, { ...ITEM, price: 0n })));
    assert.equal(d['body.messages[*].price']!.kind, 'value_changed');
    assert.equal(d['body.messages[*].price']!.right, '"0"');
    assert.equal(d['body.messages[*].note']!.kind, 'field_missing');
  });

  it('a Timestamp is an RFC 3339 time: seconds apart is within the tolerance, an hour is a time change', () => {
    const later = (s: bigint) => frame(encode(ItemType, { ...ITEM, updatedAt: { seconds: 1_700_000_000n + s, nanos: 0 } }));
    const near = diff(frame(encode(ItemType, ITEM)), later(2n));
    assert.equal(near['body.messages[*].updatedAt']!.kind, 'time_within_tolerance');
    assert.equal(near['body.messages[*].updatedAt']!.left, '"2023-11-14T22:13:20Z"');
    assert.equal(diff(frame(encode(ItemType, ITEM)), later(3600n))['body.messages[*].updatedAt']!.kind, 'time_changed');
  });

  it('the same message encoded in another field order is equal (by bytes it would differ)', () => {
    const { price, ...rest } = ITEM;
    const reordered = Buffer.concat([encode(ItemType, { price }), encode(ItemType, rest)]);
    const ordered = encode(ItemType, ITEM);
    assert.notDeepEqual(reordered, ordered);
    assert.deepEqual(diff(frame(ordered), frame(reordered)), {});
    assert.deepEqual(Object.keys(diff(frame(ordered), frame(reordered), '/shop.Catalog/GetItem', byBytes)), ['body.messages[*]']);
  });

  it('fields the descriptor does not know are kept as #<number>, so a newer field still differs', () => {
    // Field 15, varint 7: what a v2 that added `int32 stock = 15;` would write.
    const extra = Buffer.concat([encode(ItemType, ITEM), Buffer.from([15 << 3, 7])]);
    const d = diff(frame(encode(ItemType, ITEM)), frame(extra));
    assert.deepEqual(Object.keys(d), ['body.messages[*].#15']);
    assert.equal(d['body.messages[*].#15']!.kind, 'field_extra');
  });

  it('compressed messages (grpc-encoding: gzip) are inflated and decoded', () => {
    const a = frame(gzipSync(encode(ItemType, ITEM)), true);
    const b = frame(encode(ItemType, { ...ITEM, price: 5n }));
    const d = diff(a, b, '/shop.Catalog/GetItem', rules, { 'grpc-encoding': 'gzip' }, {});
    assert.deepEqual(Object.keys(d), ['body.messages[*].price']);
    // Without a descriptor set too, a message compressed on one side only is the same message.
    const same = diff(a, frame(encode(ItemType, ITEM)), '/shop.Catalog/GetItem', byBytes, { 'grpc-encoding': 'gzip' }, {});
    assert.deepEqual(same, {});
  });

  it('server-streamed messages are decoded one by one; a method no set describes compares by bytes', () => {
    const two = (p: bigint) => Buffer.concat([frame(encode(ItemType, ITEM)), frame(encode(ItemType, { ...ITEM, price: p }))]);
    assert.deepEqual(Object.keys(diff(two(1999n), two(1n), '/shop.Catalog/ListItems')), ['body.messages[*].price']);
    assert.deepEqual(Object.keys(diff(two(1999n), two(1n), '/other.Service/Get')), ['body.messages[*]']);
  });

  it('a message that does not decode as its type is compared by bytes', () => {
    const d = diff(frame(encode(ItemType, ITEM)), frame(Buffer.from([0xff, 0xff, 0xff])));
    assert.equal(d['body.messages[*]']!.kind, 'binary_changed');
  });

  it('ignoreFields and redactFields apply to decoded fields', () => {
    const r = compileRules({ ...DEFAULT_COMPARE_SETTINGS, ignoreFields: ['body.messages[*].price'], redactFields: ['**.blob'], grpc: rules.rules.grpc });
    const d = diff(frame(encode(ItemType, ITEM)), frame(encode(ItemType, { ...ITEM, price: 1n, blob: new Uint8Array([7]) })), '/shop.Catalog/GetItem', r);
    assert.deepEqual(Object.keys(d), ['body.messages[*].blob']);
    assert.doesNotMatch(String(d['body.messages[*].blob']!.left), /AQID/);
  });
});

function settingsYaml(sets: string[]): string {
  return `apiVersion: shadowgate.dev/v1alpha1
kind: ShadowgateConfig
metadata: {name: shadowgate}
spec:
  compare:
    grpc:
      descriptorSets: ${JSON.stringify(sets)}
`;
}

async function load(dir: string): Promise<{ code: string; path?: string; file?: string; message: string; line?: number }[]> {
  const out = await loadConfig({ files: [join(dir, 'config.yaml')] });
  assert.equal(out.type, 'loaded');
  return out.type === 'loaded' ? out.problems.filter((p) => p.severity === 'error') : [];
}

describe('compare.grpc.descriptorSets in the config', () => {
  it('a set relative to the config file loads; without --include_imports the well-known types are supplied', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'shop.binpb'), shopDescriptorSet({ includeImports: false }));
    writeFileSync(join(dir, 'config.yaml'), settingsYaml(['shop.binpb']));
    assert.deepEqual(await load(dir), []);
    const out = await loadConfig({ files: [join(dir, 'config.yaml')] });
    assert.ok(out.type === 'loaded' && out.snapshot);
    assert.equal(out.snapshot.settings.compare.grpc.descriptorSets[0]!.file, join(dir, 'shop.binpb'));
  });

  it('a missing file, a file that is not a descriptor set and a set missing an import are errors naming the file and the field', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'garbage.binpb'), Buffer.from('this is not protobuf at all \xff\xff'));
    const lonely = create(FileDescriptorSetSchema, { file: [{ ...SHOP_FILE, dependency: ['google/protobuf/timestamp.proto', 'shop/money.proto'] }] });
    writeFileSync(join(dir, 'lonely.binpb'), toBinary(FileDescriptorSetSchema, lonely));
    writeFileSync(join(dir, 'config.yaml'), settingsYaml(['missing.binpb', 'garbage.binpb', 'lonely.binpb']));
    const errors = await load(dir);
    assert.deepEqual(
      errors.map((e) => [e.code, e.path, e.file]),
      [0, 1, 2].map((i) => ['invalid-descriptor-set', `spec.compare.grpc.descriptorSets[${i}]`, join(dir, 'config.yaml')]),
    );
    assert.match(errors[0]!.message, /missing\.binpb: cannot read: ENOENT/);
    assert.match(errors[1]!.message, /garbage\.binpb: not a FileDescriptorSet/);
    assert.match(errors[2]!.message, /lonely\.binpb: shop\/catalog\.proto imports shop\/money\.proto, which the descriptor set does not hold/);
    assert.equal(errors[0]!.line, 7);
  });
});

describe('gRPC comparison with a descriptor set, through the gateway', () => {
  function config(port: number, v1: number, v2: number, grpcYaml: string): string {
    return mirrorServiceYaml({
      host: 'shop',
      port,
      portName: 'grpc',
      primary: v1,
      candidate: v2,
      routeName: 'catalog',
      mirrors: ['v2', 'v1'],
      // Fields are judged here, not latency (a loaded machine makes either version's p99 anything).
      compare: `    grpc: ${grpcYaml}
    thresholds: {minSample: 30, maxRealDiffRate: 0.2, maxErrorRateIncrease: 0.2, minP99LatencyIncreaseMs: 3600000}
`,
    });
  }

  interface Sample {
    request: { body: string };
    primary: { body: string };
    candidate: { body: string };
  }
  const item = (id: string) => ({ ...ITEM, id });
  /** v1's answer; v2 answers the same item in another field order unless `price` says otherwise. */
  const v1Answer = (id: string) => encode(ItemType, item(id));
  const v2Answer = (price?: bigint) => (id: string) => {
    const { price: p, ...rest } = item(id);
    return Buffer.concat([encode(ItemType, { price: price ?? p }), encode(ItemType, rest)]);
  };

  async function judge(
    v2: (id: string) => Buffer,
    between?: (tg: Awaited<ReturnType<typeof startGateway>>, descriptorSet: string) => Promise<void>,
    by: 'descriptorSet' | 'grpc-go' | 'grpc-go v1alpha only' | '@grpc/reflection' | 'reflection of a server without it' = 'descriptorSet',
  ) {
    const primary = await startCatalog(v1Answer, by === 'descriptorSet' || by === 'reflection of a server without it' ? {} : { reflection: by });
    const candidate = await startCatalog(v2);
    const port = await freePort();
    const descriptorSet = join(tempDir(), 'shop.binpb');
    writeFileSync(descriptorSet, shopDescriptorSet());
    const grpcYaml = by === 'descriptorSet' ? `{descriptorSets: [${descriptorSet}]}` : '{reflection: true}';
    const tg = await startGateway({ 'shop.yaml': config(port, primary.port, candidate.port, grpcYaml) }, { store: join(tempDir(), 'compare.db') });
    const client = catalogClient(port, 'shop');
    try {
      for (let i = 0; i < 40; i++) {
        const got = await client.getItem(`item-${i}`);
        assert.deepEqual(got, v1Answer(`item-${i}`), 'the client only ever sees the primary');
        if (i === 19 && between) await between(tg, descriptorSet);
      }
      await candidate.waitForCalls(40);
      const api = async <T>(path: string): Promise<T> => (await (await fetch(`http://${tg.gw.adminAddress}/api/${path}`)).json()) as T;
      let eps: { endpoints: { id: string; endpoint: string; compared: number }[] } = { endpoints: [] };
      while ((eps.endpoints[0]?.compared ?? 0) < 40) {
        eps = await api('endpoints');
        if ((eps.endpoints[0]?.compared ?? 0) < 40) await new Promise((r) => setTimeout(r, 50));
      }
      const ep = eps.endpoints[0]!;
      const fields = (await api<{ fields: { field: string; verdict: string }[] }>(`fields?endpoint=${ep.id}`)).fields;
      const verdict = await api<{ result: string; reasons: string[] }>('verdict');
      const samples = (await api<{ samples: Sample[] }>(`samples?endpoint=${ep.id}&limit=1`)).samples;
      return { verdict, endpoint: ep.endpoint, failing: fields.filter((f) => f.verdict === 'FAIL').map((f) => f.field), fields, samples };
    } finally {
      client.close();
      await tg.close();
      await primary.close();
      await candidate.close();
    }
  }

  it('a price regression in a unary answer FAILs the verdict, naming body.messages[*].price', async () => {
    const r = await judge(v2Answer(2499n));
    assert.equal(r.endpoint, 'POST /shop.Catalog/GetItem');
    assert.equal(r.verdict.result, 'FAIL');
    assert.deepEqual(r.failing, ['body.messages[*].price']);
    assert.ok(
      r.verdict.reasons.some((s) => s.includes('body.messages[*].price')),
      JSON.stringify(r.verdict.reasons),
    );
    // Samples show the messages as their JSON (request and answers), not as bytes.
    const sample = r.samples[0]!;
    assert.match(sample.request.body, /^\{"messages":\[\{"id":"item-\d+"\}\]\}$/);
    assert.equal(JSON.parse(sample.primary.body).messages[0].price, '1999');
    assert.equal(JSON.parse(sample.candidate.body).messages[0].price, '2499');
    assert.equal(JSON.parse(sample.candidate.body).messages[0].kind, 'BOOK');
  });

  it('a candidate answering the same items, encoded differently, PASSes', async () => {
    const r = await judge(v2Answer());
    assert.deepEqual(r.fields, []);
    assert.equal(r.verdict.result, 'PASS', JSON.stringify(r.verdict.reasons));
  });

  it('a reload with a broken descriptor set is refused: the last good set keeps decoding', async () => {
    const r = await judge(v2Answer(2499n), async (tg, descriptorSet) => {
      writeFileSync(descriptorSet, 'garbage');
      const reload = await tg.gw.reload();
      assert.equal(reload.result, 'rejected');
      assert.equal(reload.problems[0]!.code, 'invalid-descriptor-set');
      assert.match(reload.problems[0]!.message, /shop\.binpb: not a FileDescriptorSet/);
    });
    assert.deepEqual(r.failing, ['body.messages[*].price']);
  });

  for (const server of ['grpc-go', 'grpc-go v1alpha only', '@grpc/reflection'] as const) {
    it(`with server reflection (compare.grpc.reflection) a primary serving it as ${server} does supplies the descriptors`, async () => {
      const r = await judge(v2Answer(2499n), undefined, server);
      assert.equal(r.verdict.result, 'FAIL');
      assert.deepEqual(r.failing, ['body.messages[*].price']);
    });
  }

  it('a primary without reflection leaves the messages to compare by bytes', async () => {
    const r = await judge(v2Answer(2499n), undefined, 'reflection of a server without it');
    assert.equal(r.verdict.result, 'FAIL');
    assert.deepEqual(r.failing, ['body.messages[*]']);
  });
});
