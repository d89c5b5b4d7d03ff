// compare/: decoding, typed JSON/header/body differences at folded fields, rules, redaction, endpoint keys, the verdict.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { runCompareCorpus } from '../bench/compare-corpus.js';
import {
  aggregateResults,
  analyze,
  type CapturedResponse,
  type CompareSettings,
  type ComparisonResult,
  compareExchange,
  compareResponses,
  compileRules,
  DEFAULT_THRESHOLDS,
  type DiffKind,
  decodeBody,
  type EndpointStats,
  type Exchange,
  endpointKey,
  type FieldDiff,
  MAX_RENDERING,
  matchesEndpoint,
  REDACTED,
} from '../src/compare/index.js';
import { DEFAULT_COMPARE_SETTINGS } from '../src/config/index.js';

interface Answer {
  status?: number;
  headers?: Record<string, string | string[]>;
  json?: unknown;
  text?: string;
  bytes?: Uint8Array;
  encode?: (b: Uint8Array) => Uint8Array;
  encoding?: string;
  truncated?: boolean;
  latencyMs?: number;
  error?: string;
}

function resp(a: Answer = {}): CapturedResponse {
  const headers: Record<string, string | string[]> = { ...(a.headers ?? {}) };
  let bytes: Uint8Array = a.bytes ?? new Uint8Array(0);
  if (a.json !== undefined) {
    bytes = Buffer.from(JSON.stringify(a.json));
    headers['content-type'] ??= 'application/json';
  } else if (a.text !== undefined) {
    bytes = Buffer.from(a.text);
    headers['content-type'] ??= 'text/plain';
  }
  if (a.encode) bytes = a.encode(bytes);
  if (a.encoding) headers['content-encoding'] = a.encoding;
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const r: CapturedResponse = {
    status: a.status ?? (a.error ? 0 : 200),
    headers,
    body: a.truncated ? { size: bytes.length, sha256, truncated: true } : { size: bytes.length, sha256, truncated: false, bytes },
    latencyMs: a.latencyMs ?? 10,
  };
  if (a.error) r.error = a.error;
  return r;
}

const RULES = compileRules(DEFAULT_COMPARE_SETTINGS);
const rulesWith = (r: Partial<CompareSettings>) => compileRules({ ...DEFAULT_COMPARE_SETTINGS, ...r });

function diff(a: Answer, b: Answer, rules = RULES): FieldDiff[] {
  return compareResponses(resp(a), resp(b), rules);
}
function byField(diffs: FieldDiff[]): Record<string, DiffKind> {
  return Object.fromEntries(diffs.map((d) => [d.field, d.kind]));
}

const seenKinds = new Set<DiffKind>();
function expectDiffs(a: Answer, b: Answer, expected: Record<string, DiffKind>, rules = RULES): FieldDiff[] {
  const d = diff(a, b, rules);
  assert.deepEqual(byField(d), expected);
  for (const x of d) seenKinds.add(x.kind);
  return d;
}

describe('compareResponses: every kind of difference', () => {
  it('status_changed, and the bodies still compared', () => {
    expectDiffs({ json: { a: 1 } }, { status: 201, json: { a: 2 } }, { status: 'status_changed', 'body.a': 'value_changed' });
  });

  it('no_answer: one side failed → exactly one diff at status; both failed → none', () => {
    const d = expectDiffs({ json: { a: 1 } }, { error: 'timeout' }, { status: 'no_answer' });
    assert.equal(d[0]!.left, '200');
    assert.equal(d[0]!.right, 'timeout');
    expectDiffs({ status: 0 }, { json: { a: 1 }, headers: { 'x-a': '1' } }, { status: 'no_answer' });
    // An error with a status (reset mid-body) is not a complete answer either.
    expectDiffs({ json: { a: 1 } }, { status: 200, error: 'upstream_reset', json: { a: 1 } }, { status: 'no_answer' });
    assert.deepEqual(diff({ error: 'timeout' }, { error: 'connect_error' }), []);
  });

  it('header_changed / header_missing / header_extra at header.<name>', () => {
    expectDiffs(
      { json: {}, headers: { 'cache-control': 'max-age=60', 'x-frame-options': 'DENY' } },
      { json: {}, headers: { 'cache-control': 'no-store', 'x-new': '1' } },
      { 'header.cache-control': 'header_changed', 'header.x-frame-options': 'header_missing', 'header.x-new': 'header_extra' },
    );
  });

  it('JSON: value_changed, type_changed, field_missing, field_extra', () => {
    expectDiffs(
      { json: { a: 1, b: 'x', c: true, d: null, gone: 1 } },
      { json: { a: 2, b: 2, c: true, d: {}, added: 1 } },
      { 'body.a': 'value_changed', 'body.b': 'type_changed', 'body.d': 'type_changed', 'body.gone': 'field_missing', 'body.added': 'field_extra' },
    );
  });

  it('array_length at the array, elements not compared (an insertion would shift them all)', () => {
    expectDiffs({ json: { items: [{ p: 1 }, { p: 2 }] } }, { json: { items: [{ p: 9 }] } }, { 'body.items': 'array_length' });
  });

  it('array_order once at the array for a permutation; index-aligned otherwise', () => {
    const d = expectDiffs({ json: { r: [1, 2, 3, 4] } }, { json: { r: [4, 3, 2, 1] } }, { 'body.r': 'array_order' });
    assert.equal(d.length, 1);
    expectDiffs({ json: { r: [{ k: 1 }, { k: 2 }] } }, { json: { r: [{ k: 2 }, { k: 3 }] } }, { 'body.r[*].k': 'value_changed' });
    // A repeated element is a multiset, not a set: [1,1,2] is not a permutation of [1,2,2].
    expectDiffs({ json: [1, 1, 2] }, { json: [1, 2, 2] }, { 'body[*]': 'value_changed' });
  });

  it('text_changed, with renderings around the first difference', () => {
    const long = 'a'.repeat(500);
    const d = expectDiffs({ text: `${long}X${long}` }, { text: `${long}Y${long}` }, { body: 'text_changed' });
    assert.match(d[0]!.left!, /^…a+X/);
    assert.match(d[0]!.right!, /^…a+Y/);
    assert.ok(d[0]!.left!.length <= MAX_RENDERING);
  });

  it('binary_changed by hash; equal bytes are equal', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 0xff]);
    const png2 = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 3, 0xff]);
    const h = { 'content-type': 'image/png' };
    expectDiffs({ bytes: png, headers: h }, { bytes: png2, headers: h }, { body: 'binary_changed' });
    expectDiffs({ bytes: png, headers: h }, { bytes: png, headers: h }, {});
  });

  it('size_or_hash_changed when either body is beyond the capture bound', () => {
    expectDiffs({ text: 'x'.repeat(100), truncated: true }, { text: 'x'.repeat(100), truncated: true }, {});
    expectDiffs({ text: 'x'.repeat(100), truncated: true }, { text: 'y'.repeat(100), truncated: true }, { body: 'size_or_hash_changed' });
    expectDiffs({ text: 'small' }, { text: 'x'.repeat(100), truncated: true }, { body: 'size_or_hash_changed' });
  });

  it('JSON vs non-JSON is type_changed at body', () => {
    expectDiffs({ json: { a: 1 } }, { text: 'Internal error', headers: { 'content-type': 'application/json' } }, { body: 'type_changed' });
    expectDiffs({ json: { a: 1 } }, { status: 204, headers: { 'content-type': 'application/json' } }, { status: 'status_changed', body: 'type_changed' });
  });

  it('covers every DiffKind', () => {
    const all: DiffKind[] = [
      'status_changed',
      'header_changed',
      'header_missing',
      'header_extra',
      'value_changed',
      'type_changed',
      'field_missing',
      'field_extra',
      'array_length',
      'array_order',
      'text_changed',
      'binary_changed',
      'size_or_hash_changed',
      'no_answer',
    ];
    assert.deepEqual(
      all.filter((k) => !seenKinds.has(k)),
      [],
    );
  });
});

describe('compareResponses: folding and counting', () => {
  it('folds array indices to [*] at every depth', () => {
    expectDiffs(
      {
        json: {
          m: [
            [1, 2],
            [3, 4],
          ],
        },
      },
      {
        json: {
          m: [
            [1, 2],
            [3, 5],
          ],
        },
      },
      { 'body.m[*][*]': 'value_changed' },
    );
    expectDiffs({ json: [{ a: { b: [{ c: 1 }] } }] }, { json: [{ a: { b: [{ c: 2 }] } }] }, { 'body[*].a.b[*].c': 'value_changed' });
  });

  it('a field differing in many elements counts once per comparison', () => {
    const items = Array.from({ length: 50 }, (_, i) => ({ id: i, price: i }));
    const changed = items.map((x) => ({ ...x, price: x.price + 1 }));
    const d = diff({ json: { items } }, { json: { items: changed } });
    assert.deepEqual(
      d.map((x) => x.field),
      ['body.items[*].price'],
    );
    assert.equal(d[0]!.left, '0');
    assert.equal(d[0]!.right, '1');
  });

  it('equal JSON in another form: key order, spacing, 1.0 vs 1, content-type parameters', () => {
    const ct = { 'content-type': 'application/json;charset=UTF-8' };
    expectDiffs(
      { text: '{"a":1.0,"b":[1,2]}', headers: ct },
      { text: '{ "b": [1, 2], "a": 1 }', headers: { 'content-type': 'application/json; charset=utf-8' } },
      {},
    );
  });

  it('odd keys are bracketed so the path stays unambiguous', () => {
    expectDiffs({ json: { 'a.b': 1 } }, { json: { 'a.b': 2 } }, { 'body["a.b"]': 'value_changed' });
  });
});

describe('rules: ignore', () => {
  it('default ignore set: hop-by-hop, clocks, ids, validators, tracing, mesh, content-length/-encoding', () => {
    const a = {
      date: 'Wed, 01 May 2024 10:00:00 GMT',
      server: 'a',
      etag: '"1"',
      'x-request-id': '1',
      'content-length': '10',
      'x-envoy-upstream-service-time': '3',
      'x-amzn-trace-id': 'a',
      'proxy-status': 'a',
      traceparent: 'a',
      connection: 'keep-alive',
    };
    const b = {
      date: 'x',
      server: 'b',
      etag: '"2"',
      'x-request-id': '2',
      'x-envoy-decorator-operation': 'b',
      traceparent: 'b',
      'transfer-encoding': 'chunked',
    };
    expectDiffs({ json: {}, headers: a }, { json: {}, headers: b }, {});
  });

  it('rules.ignoreHeaders, exact and glob, any case', () => {
    const rules = rulesWith({ ignoreHeaders: ['X-Cache-Key', 'x-debug-*'] });
    expectDiffs({ json: {}, headers: { 'x-cache-key': '1', 'x-debug-a': '1' } }, { json: {}, headers: { 'x-cache-key': '2', 'x-debug-b': '2' } }, {}, rules);
  });

  it('set-cookie compares names and attributes, not values', () => {
    expectDiffs(
      { json: {}, headers: { 'set-cookie': ['sid=a; Path=/; Secure', 'l=en'] } },
      { json: {}, headers: { 'set-cookie': ['l=fr', 'sid=b; secure; path=/'] } },
      {},
    );
    const d = expectDiffs(
      { json: {}, headers: { 'set-cookie': 'sid=a; Secure; HttpOnly' } },
      { json: {}, headers: { 'set-cookie': 'sid=b; HttpOnly' } },
      {
        'header.set-cookie': 'header_changed',
      },
    );
    assert.equal(d[0]!.left, REDACTED);
  });

  it('ignoreFields: exact path, subtree, * one segment, ** any depth', () => {
    const a = { meta: { at: 1, by: 'x' }, items: [{ id: 1, p: 1 }], deep: { x: { updatedAt: 1 }, updatedAt: 1 }, keep: 1 };
    const b = { meta: { at: 2, by: 'y' }, items: [{ id: 2, p: 1 }], deep: { x: { updatedAt: 2 }, updatedAt: 2 }, keep: 2 };
    expectDiffs(
      { json: a },
      { json: b },
      {
        'body.meta.at': 'value_changed',
        'body.meta.by': 'value_changed',
        'body.items[*].id': 'value_changed',
        'body.deep.x.updatedAt': 'value_changed',
        'body.deep.updatedAt': 'value_changed',
        'body.keep': 'value_changed',
      },
    );
    expectDiffs(
      { json: a },
      { json: b },
      { 'body.keep': 'value_changed' },
      rulesWith({ ignoreFields: ['body.meta', 'body.items[*].id', 'body.**.updatedAt'] }),
    );
    // `*` is one segment, a key or an array level.
    expectDiffs(
      { json: a },
      { json: b },
      { 'body.meta.by': 'value_changed', 'body.deep.x.updatedAt': 'value_changed', 'body.deep.updatedAt': 'value_changed', 'body.keep': 'value_changed' },
      rulesWith({ ignoreFields: ['body.*.at', 'body.items.*.id'] }),
    );
    // Fields that only an ignored path adds or removes are ignored too.
    expectDiffs({ json: { a: 1, t: 1 } }, { json: { a: 1 } }, {}, rulesWith({ ignoreFields: ['body.t'] }));
    // Non-body fields can be ignored the same way.
    expectDiffs(
      { json: {}, headers: { 'x-a': '1' } },
      { status: 201, json: {}, headers: { 'x-a': '2' } },
      {},
      rulesWith({ ignoreFields: ['status', 'header.x-a'] }),
    );
  });

  it('ignored fields do not break the permutation test', () => {
    const rules = rulesWith({ ignoreFields: ['body[*].rid'] });
    expectDiffs(
      {
        json: [
          { rid: 1, v: 'a' },
          { rid: 2, v: 'b' },
        ],
      },
      {
        json: [
          { rid: 8, v: 'b' },
          { rid: 9, v: 'a' },
        ],
      },
      { body: 'array_order' },
      rules,
    );
  });

  it('unorderedArrays: a permutation is equal there, and elsewhere still array_order', () => {
    const rules = rulesWith({ unorderedArrays: ['body.tags', 'body.groups[*].members'] });
    expectDiffs({ json: { tags: ['a', 'b'], order: [1, 2] } }, { json: { tags: ['b', 'a'], order: [2, 1] } }, { 'body.order': 'array_order' }, rules);
    expectDiffs({ json: { groups: [{ members: [1, 2] }, { members: [3] }] } }, { json: { groups: [{ members: [2, 1] }, { members: [3] }] } }, {}, rules);
    expectDiffs({ json: { tags: ['a', 'b'] } }, { json: { tags: ['b', 'c'] } }, { 'body.tags[*]': 'value_changed' }, rules);
  });

  it('ignoreEndpoints: METHOD /path, route METHOD /path, * globs; compareExchange skips them', () => {
    const rules = rulesWith({ ignoreEndpoints: ['GET /health', '* /internal/*', 'shop POST /users/{id}/avatar', '/debug'] });
    assert.equal(matchesEndpoint(rules, 'any GET /health'), true);
    assert.equal(matchesEndpoint(rules, 'any POST /health'), false);
    assert.equal(matchesEndpoint(rules, 'r DELETE /internal/a/b'), true);
    assert.equal(matchesEndpoint(rules, 'r GET /internal'), false);
    assert.equal(matchesEndpoint(rules, 'shop POST /users/{id}/avatar'), true);
    assert.equal(matchesEndpoint(rules, 'blog POST /users/{id}/avatar'), false);
    assert.equal(matchesEndpoint(rules, 'r PUT /debug'), true);
    assert.equal(matchesEndpoint(RULES, 'r GET /health'), false);
    const ex = exchange({ path: '/health?verbose=1', primary: resp({ json: { up: 1 } }), candidate: resp({ json: { up: 2 } }) });
    assert.equal(compareExchange(ex, rules), undefined);
    // A literal path (unfolded) matches too.
    const byLiteral = rulesWith({ ignoreEndpoints: ['GET /users/42'] });
    assert.equal(compareExchange(exchange({ path: '/users/42', primary: resp({ json: {} }), candidate: resp({ json: {} }) }), byLiteral), undefined);
  });
});

describe('redaction', () => {
  it('credential headers are always redacted, rules.redactHeaders too', () => {
    const rules = rulesWith({ redactHeaders: ['x-secret'] });
    const d = diff(
      { json: {}, headers: { authorization: 'Bearer a', cookie: 'a=1', 'proxy-authorization': 'x', 'x-secret': 's1' } },
      { json: {}, headers: { authorization: 'Bearer b', cookie: 'a=2', 'x-secret': 's2', 'set-cookie': 'z=1' } },
      rules,
    );
    // proxy-authorization is hop-by-hop (proxy-*): never compared at all.
    assert.deepEqual(byField(d), {
      'header.authorization': 'header_changed',
      'header.cookie': 'header_changed',
      'header.x-secret': 'header_changed',
      'header.set-cookie': 'header_extra',
    });
    for (const x of d) {
      if (x.left !== undefined) assert.equal(x.left, REDACTED, x.field);
      if (x.right !== undefined) assert.equal(x.right, REDACTED, x.field);
    }
  });

  it('redactFields hides the value at the field and inside renderings of its ancestors', () => {
    const rules = rulesWith({ redactFields: ['body.user.password', 'body.**.token'] });
    const d = diff(
      { json: { user: { password: 'hunter2', n: 1 }, items: [{ token: 't1' }] } },
      { json: { user: { password: 'hunter3', n: 1 }, items: [{ token: 't2' }] } },
      rules,
    );
    assert.deepEqual(byField(d), { 'body.user.password': 'value_changed', 'body.items[*].token': 'value_changed' });
    for (const x of d) assert.deepEqual([x.left, x.right], [REDACTED, REDACTED]);
    const up = diff({ json: { user: { password: 'hunter2', n: 1 } } }, { json: { user: 'gone' } }, rules);
    assert.equal(up[0]!.kind, 'type_changed');
    assert.equal(up[0]!.left, '{"password":"[redacted]","n":1}');
    assert.ok(!JSON.stringify(up).includes('hunter2'));
  });

  it('renderings are bounded', () => {
    const big = { s: 'x'.repeat(10_000), arr: Array.from({ length: 10_000 }, (_, i) => i) };
    const d = diff({ json: { v: big } }, { json: { v: 1 } });
    assert.ok(d[0]!.left!.length <= MAX_RENDERING);
    const h = diff({ json: {}, headers: { 'x-big': 'y'.repeat(1000) } }, { json: {} });
    assert.ok(h[0]!.left!.length <= MAX_RENDERING);
  });
});

describe('decodeBody', () => {
  const json = Buffer.from(JSON.stringify({ a: [1, 2] }));
  const body = (bytes: Uint8Array, truncated = false) => ({ size: bytes.length, sha256: '', truncated, ...(truncated ? {} : { bytes }) });
  const ct = { 'content-type': 'application/json' };

  it('gzip, br, deflate (zlib and raw), stacked encodings', () => {
    assert.deepEqual(decodeBody(body(gzipSync(json)), { ...ct, 'content-encoding': 'gzip' }), { kind: 'json', value: { a: [1, 2] } });
    assert.deepEqual(decodeBody(body(brotliCompressSync(json)), { ...ct, 'content-encoding': 'br' }), { kind: 'json', value: { a: [1, 2] } });
    assert.deepEqual(decodeBody(body(deflateSync(json)), { ...ct, 'content-encoding': 'deflate' }), { kind: 'json', value: { a: [1, 2] } });
    assert.deepEqual(decodeBody(body(deflateRawSync(json)), { ...ct, 'content-encoding': 'deflate' }), { kind: 'json', value: { a: [1, 2] } });
    assert.deepEqual(decodeBody(body(brotliCompressSync(gzipSync(json))), { ...ct, 'content-encoding': 'gzip, br' }), { kind: 'json', value: { a: [1, 2] } });
  });

  it('undecodable or unknown encodings are binary', () => {
    assert.deepEqual(decodeBody(body(json), { ...ct, 'content-encoding': 'gzip' }), { kind: 'binary' });
    assert.deepEqual(decodeBody(body(json), { ...ct, 'content-encoding': 'compress' }), { kind: 'binary' });
    assert.deepEqual(decodeBody(body(gzipSync(Buffer.alloc(1 << 20))), { 'content-encoding': 'gzip' }, { maxDecodedBytes: 1024 }), { kind: 'binary' });
  });

  it('JSON by content-type (+json too) or by sniffing; invalid declared JSON is text', () => {
    assert.equal(decodeBody(body(json), { 'content-type': 'application/problem+json' }).kind, 'json');
    assert.equal(decodeBody(body(json), {}).kind, 'json');
    assert.equal(decodeBody(body(json), { 'content-type': 'text/plain' }).kind, 'json');
    assert.deepEqual(decodeBody(body(Buffer.from('{oops')), ct), { kind: 'text', text: '{oops' });
    assert.deepEqual(decodeBody(body(Buffer.from('[1,')), {}), { kind: 'text', text: '[1,' });
  });

  it('text by type, xml or valid UTF-8 (charset honoured); binary otherwise', () => {
    assert.deepEqual(decodeBody(body(Buffer.from('<a/>')), { 'content-type': 'application/xml' }), { kind: 'text', text: '<a/>' });
    assert.deepEqual(decodeBody(body(Buffer.from('café', 'latin1')), { 'content-type': 'text/plain; charset=iso-8859-1' }), { kind: 'text', text: 'café' });
    assert.deepEqual(decodeBody(body(Buffer.from('héllo')), {}), { kind: 'text', text: 'héllo' });
    assert.deepEqual(decodeBody(body(Buffer.from([0xff, 0xfe, 0x00])), {}), { kind: 'binary' });
    assert.deepEqual(decodeBody(body(Buffer.from('abc')), { 'content-type': 'image/png' }), { kind: 'binary' });
  });

  it('truncated bodies decode to truncated; an empty body is empty text', () => {
    assert.deepEqual(decodeBody(body(json, true), ct), { kind: 'truncated' });
    assert.deepEqual(decodeBody({ size: 0, sha256: '', truncated: false }, {}), { kind: 'text', text: '' });
  });

  it('compareResponses sees through compression: gzip vs identity is equal', () => {
    expectDiffs({ json: { a: 1 }, encode: gzipSync, encoding: 'gzip' }, { json: { a: 1 } }, {});
    expectDiffs(
      { json: { a: 1 }, encode: brotliCompressSync, encoding: 'br' },
      { json: { a: 2 }, encode: deflateSync, encoding: 'deflate' },
      { 'body.a': 'value_changed' },
    );
  });
});

describe('endpointKey', () => {
  it('drops the query and folds ids, uuids, hex and tokens', () => {
    assert.equal(endpointKey('get', '/users/12345/orders?page=2'), 'GET /users/{id}/orders');
    assert.equal(endpointKey('GET', '/o/3f2504e0-4f89-11d3-9a0c-0305e82c3301'), 'GET /o/{uuid}');
    assert.equal(endpointKey('GET', '/blob/9f86d081884c7d659a2feaa0c55ad015'), 'GET /blob/{hex}');
    assert.equal(endpointKey('GET', '/share/aZ3kP9qL2mX8vB7nC1dE5f'), 'GET /share/{token}');
    assert.equal(endpointKey('GET', '/reset/eyJhbGciOiJIUzI1NiJ9_x-Y'), 'GET /reset/{token}');
  });

  it('keeps words, short hex, versions and file names', () => {
    assert.equal(endpointKey('GET', '/api/v2/items/deadbeef'), 'GET /api/v2/items/deadbeef');
    assert.equal(endpointKey('GET', '/docs/getting-started-with-shadowgate'), 'GET /docs/getting-started-with-shadowgate');
    assert.equal(endpointKey('GET', '/files/annual-report-2024.pdf'), 'GET /files/annual-report-2024.pdf');
    assert.equal(endpointKey('GET', '/'), 'GET /');
    assert.equal(endpointKey('GET', ''), 'GET /');
    assert.equal(endpointKey('GET', 'http://h:8080/a/7?x=1'), 'GET /a/{id}');
  });
});

function exchange(over: Partial<Exchange> & { primary: CapturedResponse }): Exchange {
  return { at: 1, requestId: 'r1', route: 'shop', method: 'GET', path: '/items/7', host: 'shop', primarySubset: 'v1', candidateSubset: 'v2', ...over };
}

describe('compareExchange', () => {
  it('candidate vs primary, secondary vs primary, endpoint folded', () => {
    const r = compareExchange(
      exchange({
        primary: resp({ json: { at: 1, p: 1 }, latencyMs: 5 }),
        candidate: resp({ json: { at: 2, p: 2 }, latencyMs: 7 }),
        secondary: resp({ json: { at: 3, p: 1 }, latencyMs: 6 }),
      }),
      RULES,
    );
    assert.ok(r);
    assert.equal(r.endpoint, 'GET /items/{id}');
    assert.deepEqual(r.primary, { status: 200, latencyMs: 5 });
    assert.deepEqual(r.candidate, { status: 200, latencyMs: 7 });
    assert.deepEqual(byField(r.candidateDiffs), { 'body.at': 'value_changed', 'body.p': 'value_changed' });
    assert.deepEqual(byField(r.secondaryDiffs!), { 'body.at': 'value_changed' });
  });

  it('no candidate → undefined; no secondary → no secondaryDiffs', () => {
    assert.equal(compareExchange(exchange({ primary: resp({ json: {} }) }), RULES), undefined);
    const r = compareExchange(exchange({ primary: resp({ json: {} }), candidate: resp({ error: 'timeout' }) }), RULES);
    assert.equal(r?.secondaryDiffs, undefined);
    assert.deepEqual(r?.candidate, { status: 0, latencyMs: 10, error: 'timeout' });
  });
});

// ---------------------------------------------------------------------------------------------
// The verdict.

/** n exchanges on one endpoint; `make(i)` gives the answers of exchange i. */
function run(n: number, make: (i: number) => { primary: CapturedResponse; candidate: CapturedResponse; secondary?: CapturedResponse }): EndpointStats[] {
  const results: ComparisonResult[] = [];
  for (let i = 0; i < n; i++) {
    const r = compareExchange(exchange({ requestId: `r${i}`, ...make(i) }), RULES);
    if (r) results.push(r);
  }
  return aggregateResults(results);
}

describe('analyze', () => {
  const T = DEFAULT_THRESHOLDS;
  const base = {
    items: [
      { sku: 'a', price: 1 },
      { sku: 'b', price: 2 },
    ],
    total: 3,
  };
  const changed = {
    items: [
      { sku: 'a', price: 1 },
      { sku: 'b', price: 2.5 },
    ],
    total: 3,
  };

  it('(a) one field differing in ~10% of 500 exchanges, no noise → FAIL naming that field', () => {
    const stats = run(500, (i) => ({
      primary: resp({ json: base }),
      candidate: resp({ json: i % 10 === 0 ? changed : base }),
      secondary: resp({ json: base }),
    }));
    const v = analyze(stats, T);
    assert.equal(v.result, 'FAIL');
    assert.equal(v.compared, 500);
    const ep = v.endpoints[0]!;
    assert.equal(ep.result, 'FAIL');
    assert.equal(ep.noiseBaseline, true);
    assert.deepEqual(
      ep.fields.map((f) => [f.field, f.candidateRate, f.noiseRate, f.real]),
      [['body.items[*].price', 0.1, 0, true]],
    );
    assert.deepEqual(ep.fields[0]!.kinds, { value_changed: 50 });
    assert.equal(ep.realDiffRate, 0.1);
    assert.ok(
      v.reasons.some((r) => r === 'GET /items/{id}: body.items[*].price differs in 10.0% of requests (value changed, e.g. 2 vs 2.5; noise 0.0%)'),
      v.reasons.join('\n'),
    );
    // The interval of the excess over the noise (Newcombe) lies clearly above the 1% allowed.
    const i = ep.fields[0]!.interval;
    assert.ok(i.low > 0.07 && i.low < 0.1 && i.high > 0.1 && i.high < 0.13, JSON.stringify(i));
  });

  it('(b) timestamps and random ids differing in 100% of candidate and secondary answers → PASS', () => {
    const a = (i: number, who: number) =>
      resp({ json: { ...base, generatedAt: `2024-05-01T10:00:0${who}Z`, traceId: `${i}-${who}-${(i * 7919 + who) % 1000}` } });
    const v = analyze(
      run(500, (i) => ({ primary: a(i, 0), candidate: a(i, 1), secondary: a(i, 2) })),
      T,
    );
    assert.equal(v.result, 'PASS', v.reasons.join('\n'));
    const ep = v.endpoints[0]!;
    // The timestamps are a second apart: time-like, within the tolerance, never counted.
    assert.deepEqual(
      ep.fields.map((f) => [f.field, f.candidateRate, f.noiseRate, f.real, f.timeLike]),
      [
        ['body.traceId', 1, 1, false, 0],
        ['body.generatedAt', 0, 0, false, 500],
      ],
    );
    assert.equal(ep.realDiffRate, 0);
    assert.ok(
      ep.reasons.some((r) => r === 'body.generatedAt: time-like, within tolerance in 100.0% (not counted)'),
      ep.reasons.join('\n'),
    );
  });

  it('(c) 10 identical exchanges → INCONCLUSIVE with the interval; 10 of 10 changed is already a certain FAIL', () => {
    const same = analyze(
      run(10, () => ({ primary: resp({ json: base }), candidate: resp({ json: base }) })),
      T,
    );
    assert.equal(same.result, 'INCONCLUSIVE');
    assert.match(same.reasons[0]!, /1 of 1 endpoint\(s\) not decided yet: GET \/items\/\{id\} \(10 compared\)/);
    assert.match(
      same.endpoints[0]!.reasons[0]!,
      /^10 compared: the real-difference rate is between 0\.0% and 21\.3% \(95% confidence\), not yet certainly below 1\.0%/,
    );
    const changedAll = analyze(
      run(10, () => ({ primary: resp({ json: base }), candidate: resp({ json: changed }) })),
      T,
    );
    assert.equal(changedAll.result, 'FAIL');
    assert.match(changedAll.reasons[0]!, /body\.items\[\*\]\.price differs in 100\.0% of requests \(value changed, e\.g\. 2 vs 2\.5; no noise baseline\)/);
  });

  it('(c2) 30 of 30 changed answers on a small endpoint FAIL the whole verdict, whatever a big identical endpoint says', () => {
    const small = run(30, () => ({
      primary: resp({ json: { id: 1, total: 42 } }),
      candidate: resp({ json: { id: 1, total: 43 } }),
      secondary: resp({ json: { id: 1, total: 42 } }),
    })).map((s) => ({ ...s, endpoint: 'GET /orders/{id}' }));
    const big = run(300, () => ({ primary: resp({ json: base }), candidate: resp({ json: base }), secondary: resp({ json: base }) }));
    const v = analyze([...small, ...big], T);
    assert.equal(v.result, 'FAIL');
    assert.deepEqual(
      v.endpoints.map((e) => [e.endpoint, e.result]),
      [
        ['GET /orders/{id}', 'FAIL'],
        ['GET /items/{id}', 'PASS'],
      ],
    );
    assert.match(v.reasons[0]!, /^GET \/orders\/\{id\}: body\.total differs in 100\.0% of requests \(value changed, e\.g\. 42 vs 43; noise 0\.0%\)$/);
  });

  it('(d) candidate 500s in 5% of requests → FAIL on errors', () => {
    const v = analyze(
      run(500, (i) => ({
        primary: resp({ json: base }),
        candidate: i % 20 === 0 ? resp({ status: 500, json: base }) : resp({ json: base }),
        secondary: resp({ json: base }),
      })),
      T,
    );
    assert.equal(v.result, 'FAIL');
    const ep = v.endpoints[0]!;
    assert.equal(ep.candidateErrorRate, 0.05);
    assert.equal(ep.primaryErrorRate, 0);
    assert.ok(ep.reasons.includes('candidate error rate 5.0% vs primary 0.0% (5xx or no answer; allowed increase 1.0%)'), ep.reasons.join('\n'));
    assert.ok(ep.reasons.includes('status differs in 5.0% of requests (status changed, e.g. 200 vs 500; noise 0.0%)'), ep.reasons.join('\n'));
  });

  it('(e) candidate p99 300 ms slower → FAIL on latency; a small gap does not', () => {
    const stats = run(500, (i) => ({
      primary: resp({ json: base, latencyMs: 100 + (i % 10) }),
      candidate: resp({ json: base, latencyMs: i % 50 === 0 ? 409 : 100 + (i % 10) }),
      secondary: resp({ json: base }),
    }));
    const v = analyze(stats, T);
    assert.equal(v.result, 'FAIL');
    const ep = v.endpoints[0]!;
    assert.equal(ep.primaryP99, 109);
    assert.equal(ep.candidateP99, 409);
    assert.deepEqual(ep.reasons, ['candidate p99 latency 409 ms vs primary 109 ms: 300 ms slower (+275.2%)']);
    assert.equal(ep.fields.length, 0);
    // +30 ms is above 20% but below the 50 ms floor.
    const small = run(400, () => ({ primary: resp({ json: base, latencyMs: 40 }), candidate: resp({ json: base, latencyMs: 70 }) }));
    assert.equal(analyze(small, T).result, 'PASS');
  });

  it('(f) no secondary → fields reported, noiseBaseline false', () => {
    const v = analyze(
      run(200, (i) => ({ primary: resp({ json: base }), candidate: resp({ json: { ...base, at: i } }) })),
      T,
    );
    const ep = v.endpoints[0]!;
    assert.equal(ep.noiseBaseline, false);
    assert.deepEqual(
      ep.fields.map((f) => [f.field, f.candidateRate, f.noiseRate, f.real]),
      [['body.at', 1, 0, true]],
    );
    assert.equal(v.result, 'FAIL');
    assert.ok(ep.reasons.includes('body.at differs in 100.0% of requests (extra, e.g. (absent) vs 0; no noise baseline)'), ep.reasons.join('\n'));
    assert.ok(v.reasons.some((r) => /no noise baseline/.test(r)));
  });

  it("Diffy's relative test: noise at 50% and candidate at 55% is noise; 20% vs 60% is real", () => {
    const stats = (c: number, n: number): EndpointStats[] => [
      {
        endpoint: 'e',
        compared: 1000,
        withSecondary: 1000,
        primaryErrors: 0,
        candidateErrors: 0,
        primaryLatency: { count: 1000, p50: 10, p99: 20 },
        candidateLatency: { count: 1000, p50: 10, p99: 20 },
        fields: [{ field: 'body.x', candidateDiffs: c, secondaryDiffs: n, kinds: { value_changed: c } }],
      },
    ];
    assert.equal(analyze(stats(550, 500), T).result, 'PASS');
    assert.equal(analyze(stats(600, 200), T).result, 'FAIL');
    // Real (above the 0.03% absolute threshold) but certainly under maxRealDiffRate: PASS.
    const small = analyze(stats(3, 0), T);
    assert.equal(small.result, 'PASS', small.reasons.join('\n'));
    assert.equal(small.endpoints[0]!.fields[0]!.real, true);
    assert.equal(small.endpoints[0]!.fields[0]!.result, 'PASS');
    // 0.8% seen, but 1% is inside its interval: not yet certain either way.
    const near = analyze(stats(8, 0), T);
    assert.equal(near.result, 'INCONCLUSIVE');
    assert.match(near.endpoints[0]!.reasons[0]!, /body\.x differs in 0\.8% of requests .*not yet certainly above or below 1\.0%|between/);
  });

  it('overall: FAIL wins; undecided endpoints are INCONCLUSIVE; empty is INCONCLUSIVE', () => {
    assert.equal(analyze([], T).result, 'INCONCLUSIVE');
    const many = [0, 1, 2].flatMap((k) =>
      run(60, () => ({ primary: resp({ json: base }), candidate: resp({ json: base }) })).map((s) => ({ ...s, endpoint: `e${k}` })),
    );
    const v = analyze(many, T);
    assert.equal(v.compared, 180);
    assert.equal(v.result, 'INCONCLUSIVE');
    assert.match(v.reasons[0]!, /^3 of 3 endpoint\(s\) not decided yet: e0 \(60 compared\)/);
  });
});

describe('labelled corpus', () => {
  it('precision and recall of real-difference detection are at least 0.9, and verdicts match their labels', () => {
    const r = runCompareCorpus();
    assert.ok(r.cases >= 40, `${r.cases} cases`);
    assert.ok(r.precision >= 0.9, `precision ${r.precision}\n${r.mismatches.join('\n')}`);
    assert.ok(r.recall >= 0.9, `recall ${r.recall}\n${r.mismatches.join('\n')}`);
    assert.ok(r.verdictsMatched >= 0.9 * r.verdictsExpected, r.mismatches.join('\n'));
  });
});

describe('copies Shadowgate gave up on', () => {
  it("are not compared (too many in flight, body too large, buffer full, primary aborted); timeouts and resets are the candidate's errors", () => {
    const primary = resp({ json: { a: 1 } });
    for (const reason of ['too_many_in_flight', 'body_too_large', 'buffer_full', 'primary_aborted']) {
      assert.equal(compareExchange(exchange({ primary, candidate: resp({ error: `abandoned:${reason}` }) }), RULES), undefined, reason);
    }
    const own = compareExchange(exchange({ primary, candidate: resp({ json: { a: 1 } }), secondary: resp({ error: 'abandoned:too_many_in_flight' }) }), RULES);
    assert.equal(own?.secondary, undefined);
    for (const error of ['abandoned:timeout', 'abandoned:connect_error', 'abandoned:upstream_reset']) {
      const r = compareExchange(exchange({ primary, candidate: resp({ error }) }), RULES);
      assert.deepEqual(
        r?.candidateDiffs.map((d) => d.kind),
        ['no_answer'],
        error,
      );
    }
  });
});
