// The access log's own writer must produce exactly what JSON.stringify would, for any string a client sends.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type AccessLogEntry, encodeAccessLogLine, formatAccessLogLine, openAccessLog } from '../src/telemetry/index.js';

/** Built in the handler's field order (upstream_service_time_ms last, only when there was an upstream answer). */
function entry(over: Partial<AccessLogEntry> = {}): AccessLogEntry {
  const { upstream_service_time_ms, ...rest } = over;
  return {
    start_time: '2026-11-26T01:02:03.456Z',
    method: 'GET',
    path: '/a?b=1',
    protocol: 'HTTP/1.1',
    response_code: 200,
    response_flags: '-',
    bytes_received: 0,
    bytes_sent: 18,
    duration_ms: 1.234,
    route_name: 'r',
    upstream_cluster: 'outbound|80|v1|svc',
    upstream_subset: 'v1',
    upstream_host: '127.0.0.1:8080',
    authority: 'svc',
    request_id: 'id-1',
    downstream_remote_address: '127.0.0.1:5000',
    user_agent: 'curl/8',
    x_forwarded_for: '-',
    mirrors: [{ cluster: 'outbound|80|v2|svc', outcome: 'in_flight' }],
    ...rest,
    ...(upstream_service_time_ms !== undefined ? { upstream_service_time_ms } : {}),
  };
}

describe('access log line', () => {
  const tricky = [
    'plain',
    '',
    'quote " and backslash \\',
    'only a back\\slash',
    'only a "quote"',
    'control \u0001 \n \t \u001f',
    'unicode é ü 漢字 🚀',
    'lone surrogate \ud800 end',
    'del \u007f and nbsp \u00a0',
    '</script>',
  ];

  it('is byte for byte JSON.stringify of the entry, whatever the strings hold', () => {
    for (const s of tricky) {
      const e = entry({
        path: s,
        user_agent: s,
        authority: s,
        request_id: s,
        x_forwarded_for: s,
        mirrors: [{ cluster: s, outcome: s }],
        upstream_service_time_ms: 0.5,
      });
      assert.equal(formatAccessLogLine(e), JSON.stringify(e), JSON.stringify(s));
    }
  });

  it('writes the UTF-8 bytes of JSON.stringify for any UTF-16 strings and any numbers (property)', () => {
    // Any code unit, lone surrogates included; numbers as the handler makes them (rounded milliseconds) and not.
    const unit = fc.oneof(
      fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u0080', 'é', '\u2028', '\ud800', '\udfff', '\ud83d', '\ude80'),
      fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
    );
    const text = fc.string({ unit, maxLength: 40 });
    const number = fc.oneof(
      fc.nat(),
      fc.double({ min: 0, max: 1e7, noNaN: true }).map((d) => Math.round(d * 1000) / 1000),
      fc.double(),
      fc.constantFrom(0, -0, 1e21, 2 ** 53, 0.1 + 0.2, -5, Number.POSITIVE_INFINITY),
    );
    fc.assert(
      fc.property(text, text, text, number, number, number, fc.option(number), fc.option(text), (a, b, c, n1, n2, n3, n4, g) => {
        const e = entry({
          path: a,
          user_agent: b,
          request_id: c,
          response_code: n1,
          bytes_sent: n2,
          duration_ms: n3,
          mirrors: [
            { cluster: b, outcome: c },
            { cluster: a, outcome: 'sent' },
          ],
          ...(n4 === null ? {} : { upstream_service_time_ms: n4 }),
        });
        if (g !== null) Object.assign(e, { grpc_status: g, grpc_message: a });
        const want = Buffer.from(`${JSON.stringify(e)}\n`);
        // Written after some bytes already in the batch, and those are left as they were.
        const buf = Buffer.alloc(want.length + 4096, 0xee);
        const end = encodeAccessLogLine(e, buf, 7);
        assert.equal(end, 7 + want.length);
        assert.deepEqual(buf.subarray(7, end), want);
        assert.ok(buf.subarray(0, 7).every((x) => x === 0xee));
        assert.equal(formatAccessLogLine(e), JSON.stringify(e));
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses (-1, nothing written) a line that may not fit what is left of the batch', () => {
    const e = entry({ user_agent: 'x'.repeat(2000) });
    const buf = Buffer.alloc(4096, 0xee);
    assert.equal(encodeAccessLogLine(e, buf, 100), -1);
    assert.ok(buf.every((x) => x === 0xee));
    const big = Buffer.alloc(64 * 1024);
    assert.equal(big.toString('utf8', 0, encodeAccessLogLine(e, big, 0)), `${JSON.stringify(e)}\n`);
  });

  it('omits upstream_service_time_ms without an upstream answer, writes no mirrors as [], and non-finite numbers as null', () => {
    const e = entry({ mirrors: [], duration_ms: Number.NaN });
    assert.equal(formatAccessLogLine(e), JSON.stringify(e));
    assert.equal(JSON.parse(formatAccessLogLine(e)).duration_ms, null);
  });

  it('a file access log holds one parseable line per entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-access-'));
    try {
      const file = join(dir, 'access.log');
      const log = openAccessLog(file);
      // Lines of every size: several batches' worth, some lines bigger than a batch (written alone), in order.
      const sizes = [0, 10, 3_000, 70_000, 200];
      const written: AccessLogEntry[] = [];
      for (let i = 0; i < 500; i++) {
        const e = entry({ request_id: `id-${i}`, path: tricky[i % tricky.length]!, user_agent: 'u'.repeat(sizes[i % sizes.length]!) });
        written.push(e);
        log.write(e);
      }
      await log.close();
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      assert.equal(lines.length, 500);
      assert.deepEqual(
        lines.map((l) => JSON.parse(l).request_id),
        Array.from({ length: 500 }, (_, i) => `id-${i}`),
      );
      assert.deepEqual(
        lines,
        written.map((e) => JSON.stringify(e)),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
