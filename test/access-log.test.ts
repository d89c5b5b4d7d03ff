// The access log's own writer must produce exactly what JSON.stringify would, for any string a client sends.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type AccessLogEntry, formatAccessLogLine, openAccessLog } from '../src/telemetry/index.js';

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
      for (let i = 0; i < 500; i++) log.write(entry({ request_id: `id-${i}`, path: tricky[i % tricky.length]! }));
      await log.close();
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      assert.equal(lines.length, 500);
      assert.deepEqual(
        lines.map((l) => JSON.parse(l).request_id),
        Array.from({ length: 500 }, (_, i) => `id-${i}`),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
