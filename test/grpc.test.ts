// gRPC through the gateway with real @grpc/grpc-js servers and clients: routing, trailers, status, retries,
// deadlines, mirroring of every call kind, and shadows that cannot touch the primary.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { freePort, startGateway, type TestGateway } from './harness/gateway.js';
import { ECHO, echoClient, grpc, startGrpcServer, type TestGrpcServer, unary } from './harness/grpc.js';
import { within } from './harness/wait.js';

const id = (b: Buffer) => b;
const clients: grpc.Client[] = [];
after(() => {
  for (const c of clients) c.close();
});

/** A gRPC service `echo` with versions v1 and v2 on a port named grpc-*, so Istio (and we) speak HTTP/2 to them. */
function serviceYaml(port: number, v1: TestGrpcServer, v2: TestGrpcServer, portSpec = `{number: ${port}, name: grpc-echo}`, dr = ''): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo}
spec:
  hosts: [echo]
  ports: [${portSpec}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {grpc-echo: ${v1.port}}, labels: {app: echo, version: v1}}
  - {address: 127.0.0.1, ports: {grpc-echo: ${v2.port}}, labels: {app: echo, version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
${dr}  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;
}

function vs(http: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
${http}
`;
}

const MIRRORED = `  - match: [{headers: {x-version: {exact: v2}}}]
    route: [{destination: {host: echo, subset: v2}}]
  - route: [{destination: {host: echo, subset: v1}}]
    mirror: {host: echo, subset: v2}
`;

interface Setup {
  v1: TestGrpcServer;
  v2: TestGrpcServer;
  tg: TestGateway;
  client: grpc.Client;
  close(): Promise<void>;
}

async function setup(
  http = MIRRORED,
  opts: { portSpec?: (port: number) => string; dr?: string; v2?: TestGrpcServer; gateway?: Parameters<typeof startGateway>[1] } = {},
): Promise<Setup> {
  const v1 = await startGrpcServer('v1');
  const v2 = opts.v2 ?? (await startGrpcServer('v2'));
  const port = await freePort();
  const tg = await startGateway({ 'svc.yaml': serviceYaml(port, v1, v2, opts.portSpec?.(port), opts.dr), 'vs.yaml': vs(http) }, opts.gateway);
  const client = echoClient(port, 'echo');
  clients.push(client);
  return {
    v1,
    v2,
    tg,
    client,
    async close() {
      client.close();
      await tg.close();
      await v1.close();
      await v2.close();
    },
  };
}

function serverStream(c: grpc.Client, request: string): Promise<{ messages: string[]; status: grpc.StatusObject }> {
  return new Promise((resolve, reject) => {
    const messages: string[] = [];
    const call = c.makeServerStreamRequest(ECHO.ServerStream.path, id, id, Buffer.from(request));
    call.on('data', (m: Buffer) => messages.push(m.toString()));
    call.on('status', (status: grpc.StatusObject) => resolve({ messages, status }));
    call.on('error', (e) => (e as grpc.ServiceError).code === undefined && reject(e));
  });
}

function clientStream(c: grpc.Client, requests: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const call = c.makeClientStreamRequest(ECHO.ClientStream.path, id, id, (err, value) => (err ? reject(err) : resolve(value!.toString())));
    for (const r of requests) call.write(Buffer.from(r));
    call.end();
  });
}

function bidi(c: grpc.Client, requests: string[]): Promise<{ messages: string[]; status: grpc.StatusObject }> {
  return new Promise((resolve) => {
    const messages: string[] = [];
    const call = c.makeBidiStreamRequest(ECHO.Bidi.path, id, id);
    call.on('data', (m: Buffer) => {
      messages.push(m.toString());
      // Ping-pong: the next message goes once the answer to the last one came back (a real duplex stream).
      const next = requests[messages.length];
      if (next !== undefined) call.write(Buffer.from(next));
      else call.end();
    });
    call.on('status', (status: grpc.StatusObject) => resolve({ messages, status }));
    call.on('error', () => {});
    call.write(Buffer.from(requests[0]!));
  });
}

describe('gRPC through the gateway', () => {
  it('proxies every call kind to the primary, trailers intact, and mirrors each to the shadow', async () => {
    const s = await setup();
    try {
      const u = await unary(s.client, 'hello');
      assert.equal(u.error, null);
      assert.equal(u.value, 'v1:hello');
      assert.deepEqual(u.trailers['x-served-by'], 'v1', 'trailing metadata crosses the gateway');

      const ss = await serverStream(s.client, 'list');
      assert.deepEqual(ss.messages, ['v1:list:0', 'v1:list:1', 'v1:list:2']);
      assert.equal(ss.status.code, grpc.status.OK);
      assert.equal(ss.status.metadata.get('x-served-by')[0], 'v1');

      assert.equal(await clientStream(s.client, ['a', 'b', 'c']), 'v1:a+b+c');

      const bd = await bidi(s.client, ['x', 'y', 'z']);
      assert.deepEqual(bd.messages, ['v1:x', 'v1:y', 'v1:z']);
      assert.equal(bd.status.code, grpc.status.OK);

      // The shadow saw every call with its request messages; the client saw only the primary's answers.
      await s.v2.waitForCalls(4);
      const shadow = s.v2.calls.map((c) => `${c.method} ${c.messages.join('+')}`).sort();
      assert.deepEqual(shadow, ['Bidi x+y+z', 'ClientStream a+b+c', 'ServerStream list', 'Unary hello']);
      assert.equal(s.v1.calls.length, 4);
      assert.equal(s.v2.calls[0]!.metadata['x-shadowgate-mirror'], 'true');
    } finally {
      await s.close();
    }
  });

  it('routes by gRPC metadata and by weight, as Istio header matches and weights do', async () => {
    const s = await setup(`  - match: [{headers: {x-version: {exact: v2}}}]
    route: [{destination: {host: echo, subset: v2}}]
  - route:
    - {destination: {host: echo, subset: v1}, weight: 100}
    - {destination: {host: echo, subset: v2}, weight: 0}
`);
    try {
      const md = new grpc.Metadata();
      md.set('x-version', 'v2');
      assert.equal((await unary(s.client, 'a', md)).value, 'v2:a');
      for (let i = 0; i < 5; i++) assert.equal((await unary(s.client, `b${i}`)).value, `v1:b${i}`);
    } finally {
      await s.close();
    }
  });

  it('passes a gRPC error status through and records it in the access log and Istio metrics', async () => {
    const s = await setup(`  - route: [{destination: {host: echo, subset: v1}}]
    retries: {attempts: 0}
`);
    try {
      s.v1.behaviour = { kind: 'fail', code: grpc.status.NOT_FOUND, details: 'no such item: 42' };
      const u = await unary(s.client, 'x');
      assert.equal(u.error?.code, grpc.status.NOT_FOUND);
      assert.equal(u.error?.details, 'no such item: 42');
      const entry = s.tg.access.entries.at(-1) as unknown as Record<string, unknown>;
      assert.equal(entry.grpc_status, '5');
      assert.equal(entry.grpc_message, 'no such item: 42');
      assert.equal(entry.protocol, 'HTTP/2.0');
      assert.equal(entry.response_code, 200);
      const metrics = await (await fetch(`http://${s.tg.gw.adminAddress}/metrics`)).text();
      assert.match(metrics, /istio_requests_total\{[^}]*request_protocol="grpc",grpc_response_status="5",[^}]*response_code="200"[^}]*\} 1/);
    } finally {
      await s.close();
    }
  });

  it('retries gRPC UNAVAILABLE (Istio default retryOn) and honours retryOn gRPC conditions', async () => {
    const s = await setup(`  - route: [{destination: {host: echo, subset: v1}}]
    retries: {attempts: 2, retryOn: resource-exhausted}
`);
    try {
      s.v1.behaviour = { kind: 'fail', code: grpc.status.RESOURCE_EXHAUSTED, details: 'busy', times: 1 };
      const u = await unary(s.client, 'again');
      assert.equal(u.value, 'v1:again');
      assert.equal(s.v1.calls.length, 2, 'one failed attempt, one retry');
      // A status retryOn does not name is not retried.
      s.v1.behaviour = { kind: 'fail', code: grpc.status.INTERNAL, details: 'boom', times: 1 };
      const v = await unary(s.client, 'once');
      assert.equal(v.error?.code, grpc.status.INTERNAL);
      assert.equal(s.v1.calls.length, 3);
    } finally {
      await s.close();
    }
  });

  it('answers a call with no route, or no healthy upstream, in gRPC terms', async () => {
    const s = await setup(`  - match: [{uri: {prefix: /other.Service/}}]
    route: [{destination: {host: echo, subset: v1}}]
`);
    try {
      const u = await unary(s.client, 'x');
      assert.equal(u.error?.code, grpc.status.UNIMPLEMENTED);
      assert.match(u.error?.details ?? '', /no route/);
      assert.equal((s.tg.access.entries.at(-1) as unknown as Record<string, unknown>).response_flags, 'NR');
    } finally {
      await s.close();
    }
  });

  it('respects grpc-timeout and the route timeout: a hung primary ends in DEADLINE_EXCEEDED, or UNAVAILABLE with UT', async () => {
    const s = await setup(`  - route: [{destination: {host: echo, subset: v1}}]
    timeout: 10s
`);
    try {
      s.v1.behaviour = { kind: 'hang' };
      const u = await unary(s.client, 'late', new grpc.Metadata(), { deadline: Date.now() + 300 });
      assert.equal(u.error?.code, grpc.status.DEADLINE_EXCEEDED);
      // Whichever deadline fires first (the gateway's from grpc-timeout, the upstream's own, the client's),
      // the call ends well before the route's 10 s.
      await within(
        s.tg.access.until((entries) => entries.length > 0),
        'the access-log line',
      );
      const e = s.tg.access.entries.at(-1) as unknown as Record<string, unknown>;
      assert.ok(/UT|DC/.test(e.response_flags as string) || e.grpc_status === '4', JSON.stringify(e));
    } finally {
      await s.close();
    }
    const r = await setup(`  - route: [{destination: {host: echo, subset: v1}}]
    timeout: 200ms
`);
    try {
      r.v1.behaviour = { kind: 'hang' };
      // No client deadline: the route timeout is the gateway's alone; Envoy maps its 504 to UNAVAILABLE.
      const u = await unary(r.client, 'late');
      assert.equal(u.error?.code, grpc.status.UNAVAILABLE);
      assert.equal(u.error?.details, 'upstream request timeout');
      const e = r.tg.access.entries.at(-1) as unknown as Record<string, unknown>;
      assert.equal(e.response_flags, 'UT');
      assert.equal(e.grpc_status, '14');
    } finally {
      await r.close();
    }
  });

  it('mirrors a client stream within the body bound; beyond it the shadow is abandoned and counted, the primary untouched', async () => {
    const s = await setup(MIRRORED, { gateway: { mirrorOverrides: { maxBodyBytes: 4096 } } });
    try {
      // 20 messages of 100 bytes: within the bound, the shadow gets the whole stream.
      const small = Array.from({ length: 20 }, (_, i) => `${i}`.padEnd(100, '.'));
      assert.equal(await clientStream(s.client, small), `v1:${small.join('+')}`);
      await s.v2.waitForCalls(1);
      assert.deepEqual(s.v2.calls[0]!.messages, small);
      // Messages of 8 KiB: each passes the 4 KiB bound on its own, so the shadow's copy is given up
      // (body_too_large) and counted, while the primary reads the whole stream.
      const big = Array.from({ length: 5 }, (_, i) => `${i}`.padEnd(8192, '#'));
      assert.equal(await clientStream(s.client, big), `v1:${big.join('+')}`);
      const metrics = await (await fetch(`http://${s.tg.gw.adminAddress}/metrics`)).text();
      assert.match(metrics, /shadowgate_shadow_abandoned_total\{[^}]*reason="body_too_large"[^}]*\} 1/);
      // The shadow's stream was cancelled (RST_STREAM): it never saw the call as a complete stream of 5 messages.
      assert.equal(s.v2.calls.filter((c) => c.method === 'ClientStream' && c.messages.length === big.length).length, 0);
      assert.equal(s.v1.calls.length, 2);
    } finally {
      await s.close();
    }
  });

  for (const kind of ['slow', 'hung', 'dead'] as const) {
    it(`a ${kind} gRPC shadow does not touch the primary`, async () => {
      const shadow = await startGrpcServer('v2', kind === 'slow' ? { kind: 'slow', delayMs: 2_000 } : { kind: 'hang' });
      if (kind === 'dead') await shadow.close();
      const s = await setup(MIRRORED, { v2: shadow });
      try {
        for (let i = 0; i < 5; i++) {
          const u = await unary(s.client, `p${i}`);
          assert.equal(u.value, `v1:p${i}`);
        }
        const ss = await serverStream(s.client, 'list');
        assert.equal(ss.messages.length, 3);
        assert.equal(s.v1.calls.length, 6);
      } finally {
        await s.close();
      }
    });
  }

  it('speaks HTTP/2 upstream for protocol GRPC/HTTP2 ports and for h2UpgradePolicy UPGRADE, HTTP/1.1 otherwise', async () => {
    // A gRPC server only speaks HTTP/2: answers prove the upstream protocol.
    for (const portSpec of [(p: number) => `{number: ${p}, name: echo, protocol: GRPC}`, (p: number) => `{number: ${p}, name: http2-echo}`]) {
      const s = await setup(`  - route: [{destination: {host: echo, subset: v1}}]\n`, {
        portSpec: (p) => portSpec(p).replace(/name: [^,}]+/, 'name: grpc-echo'),
      });
      try {
        assert.equal((await unary(s.client, 'p')).value, 'v1:p');
      } finally {
        await s.close();
      }
    }
    const up = await setup(`  - route: [{destination: {host: echo, subset: v1}}]\n`, {
      portSpec: (p) => `{number: ${p}, name: grpc-echo, protocol: HTTP}`,
      dr: '  trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}\n',
    });
    try {
      assert.equal((await unary(up.client, 'u')).value, 'v1:u');
    } finally {
      await up.close();
    }
    const plain = await setup(`  - route: [{destination: {host: echo, subset: v1}}]\n    retries: {attempts: 0}\n`, {
      portSpec: (p) => `{number: ${p}, name: grpc-echo, protocol: HTTP}`,
    });
    try {
      // HTTP/1.1 to a gRPC server fails: the gateway reports it as UNAVAILABLE.
      const u = await unary(plain.client, 'h1');
      assert.equal(u.error?.code, grpc.status.UNAVAILABLE);
    } finally {
      await plain.close();
    }
  });
});
