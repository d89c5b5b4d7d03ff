// The GRPCRoute example (examples/gateway-api-grpc) as its README runs it: the example's own greeter.mjs as the
// two versions and as the client, Shadowgate serving the example's YAML (its fixed ports swapped for free ones).
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { freePort, startGateway } from './harness/gateway.js';
import { waitFor } from './harness/wait.js';

const EXAMPLE = new URL('../../examples/gateway-api-grpc/', import.meta.url);
const GREETER = new URL('greeter.mjs', EXAMPLE).pathname;
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill();
});

/** greeter.mjs as a server; its stdout lines (what it received) collected. */
async function greeter(port: number, name: string): Promise<{ lines: string[] }> {
  const child = spawn(process.execPath, [GREETER, String(port), name], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const out = { lines: [] as string[] };
  child.stdout!.setEncoding('utf8');
  let partial = '';
  child.stdout!.on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    out.lines.push(...parts);
  });
  await waitFor(
    () => out.lines,
    (l) => l.includes(`${name} listening on ${port}`),
    { what: `${name} listening`, on: [child.stdout!, 'data'] },
  );
  return out;
}

const call = async (port: number, who: string) =>
  (await promisify(execFile)(process.execPath, [GREETER, 'call', `127.0.0.1:${port}`, who], { timeout: 30_000 })).stdout.trim();

describe('the GRPCRoute example (examples/gateway-api-grpc)', () => {
  it('answers every call from v1 and mirrors each to v2, marked as a copy', async () => {
    const [svc, p1, p2] = [await freePort(), await freePort(), await freePort()];
    const ports: Record<string, number> = { 9000: svc, 9091: p1, 9092: p2 };
    const example = (name: string) => readFileSync(new URL(name, EXAMPLE), 'utf8').replace(/\b(9000|9091|9092)\b/g, (p) => String(ports[p]));
    const v1 = await greeter(p1, 'v1');
    const v2 = await greeter(p2, 'v2');
    const tg = await startGateway({ 'services.yaml': example('services.yaml'), 'route.yaml': example('grpcroute-mirror.yaml') });
    try {
      assert.deepEqual(
        tg.gw.snapshot.problems.filter((p) => p.severity !== 'info'),
        [],
      );
      assert.equal(await call(svc, 'Ada'), 'Hello Ada from v1');
      assert.equal(await call(svc, 'Bob'), 'Hello Bob from v1');
      assert.deepEqual(v1.lines.slice(1), ['v1 SayHello Ada -', 'v1 SayHello Bob -']);
      await waitFor(
        () => v2.lines.length,
        (n) => n >= 3,
        { what: "v2's copies", on: [children[1]!.stdout!, 'data'] },
      );
      assert.deepEqual(v2.lines.slice(1), ['v2 SayHello Ada true', 'v2 SayHello Bob true']);
    } finally {
      await tg.close();
    }
  });
});
