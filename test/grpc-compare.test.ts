// gRPC answers compared and judged: status and trailers as headers, messages one by one (by bytes without a
// descriptor set); a regression in the candidate FAILs the verdict and names the field.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort, startGateway } from './harness/gateway.js';
import { echoClient, grpc, startGrpcServer, unary } from './harness/grpc.js';
import { mirrorServiceYaml } from './harness/service-yaml.js';
import { waitFor } from './harness/wait.js';

function config(port: number, v1: number, v2: number): string {
  return mirrorServiceYaml({
    host: 'echo',
    port,
    portName: 'grpc-echo',
    primary: v1,
    candidate: v2,
    routeName: 'echo',
    mirrors: ['v2', 'v1'],
    compare: `    ignoreHeaders: [x-served-by]
    thresholds: {minSample: 30}
`,
  });
}

interface FieldJson {
  field: string;
  verdict: string;
}

async function judge(regress: (v2: Awaited<ReturnType<typeof startGrpcServer>>) => void): Promise<{ result: string; endpoint: string; failing: string[] }> {
  const v1 = await startGrpcServer('v1');
  const v2 = await startGrpcServer('v2');
  v2.says = 'v1';
  regress(v2);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'shadowgate-grpc-compare-'));
  const tg = await startGateway({ 'echo.yaml': config(port, v1.port, v2.port) }, { store: join(dir, 'compare.db') });
  const client = echoClient(port, 'echo');
  try {
    for (let i = 0; i < 40; i++) {
      const u = await unary(client, `item-${i}`);
      assert.equal(u.value, `v1:item-${i}`, 'the client only ever sees the primary');
    }
    // Every copy answered (the shadows' own counter), then the comparison worker had its batch.
    await v2.waitForCalls(40);
    const api = async <T>(path: string): Promise<T> => (await (await fetch(`http://${tg.gw.adminAddress}/api/${path}`)).json()) as T;
    // The comparison worker's count, asked again after each answer (the API round trip paces it).
    const eps = await waitFor(
      () => api<{ endpoints: { id: string; endpoint: string; compared: number }[] }>('endpoints'),
      (e) => (e.endpoints[0]?.compared ?? 0) >= 40,
      { what: '40 compared exchanges' },
    );
    const ep = eps.endpoints[0]!;
    const fields = (await api<{ fields: FieldJson[] }>(`fields?endpoint=${ep.id}`)).fields;
    const verdict = await api<{ result: string; reasons: string[] }>('verdict');
    return { result: verdict.result, endpoint: ep.endpoint, failing: fields.filter((f) => f.verdict === 'FAIL').map((f) => f.field) };
  } finally {
    client.close();
    await tg.close();
    await v1.close();
    await v2.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('gRPC comparison', () => {
  it('a candidate answering the same messages and status passes; endpoints are service/method', async () => {
    const r = await judge(() => {});
    assert.equal(r.endpoint, 'POST /test.Echo/Unary');
    assert.deepEqual(r.failing, []);
    // 40 calls are too few for the comparison's confidence to say PASS; nothing is held against v2.
    assert.notEqual(r.result, 'FAIL');
  });

  it('a changed unary message FAILs the verdict, naming body.messages[*]', async () => {
    const r = await judge((v2) => {
      v2.says = 'v2';
    });
    assert.equal(r.result, 'FAIL');
    assert.deepEqual(r.failing, ['body.messages[*]']);
  });

  it('a changed gRPC status FAILs the verdict, naming the grpc-status trailer', async () => {
    const r = await judge((v2) => {
      v2.behaviour = { kind: 'fail', code: grpc.status.NOT_FOUND, details: 'gone' };
    });
    assert.equal(r.result, 'FAIL');
    assert.ok(r.failing.includes('header.grpc-status'), JSON.stringify(r.failing));
  });
});
