// Test harness for the Gateway API conformance suite's GRPCRoute cases: its echo service (conformance/echo-basic's
// grpcecho.GrpcEcho, messages as raw bytes) on real @grpc/grpc-js servers, declared as the suite's grpc-infra-backend
// Services, and its `same-namespace` Gateway, on loopback.

import { EventEmitter } from 'node:events';
import { freePort, startGateway, type TestGateway } from './gateway.js';
import { backendsYaml, gatewayYaml } from './gateway-api.js';
import { grpc } from './grpc.js';
import { waitForCount } from './wait.js';

/** The suite's gRPC echo service (conformance/echo-basic/grpcechoserver). */
export const ECHO_SERVICE = 'gateway_api_conformance.echo_basic.grpcecho.GrpcEcho';
export type EchoMethod = 'Echo' | 'EchoTwo' | 'EchoThree';
const id = (b: Buffer) => b;
const unaryMethod = (name: EchoMethod) => ({
  path: `/${ECHO_SERVICE}/${name}`,
  requestStream: false,
  responseStream: false,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
});
const GRPC_ECHO = { Echo: unaryMethod('Echo'), EchoTwo: unaryMethod('EchoTwo'), EchoThree: unaryMethod('EchoThree') } satisfies grpc.ServiceDefinition;

export interface EchoCall {
  method: EchoMethod;
  metadata: Record<string, unknown>;
}

export interface EchoBackend {
  name: string;
  port: number;
  calls: EchoCall[];
  waitForCalls(n: number): Promise<void>;
  close(): void;
}

/** One backend on `address` (a pod's, in the cluster tests): answers every method with its name, records what it received. */
export async function startEchoBackend(name: string, address = '127.0.0.1'): Promise<EchoBackend> {
  const calls: EchoCall[] = [];
  const called = new EventEmitter();
  const handler = (method: EchoMethod) => (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    calls.push({ method, metadata: call.metadata.getMap() });
    called.emit('call');
    cb(null, Buffer.from(name));
  };
  const server = new grpc.Server();
  server.addService(GRPC_ECHO, { Echo: handler('Echo'), EchoTwo: handler('EchoTwo'), EchoThree: handler('EchoThree') });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${address}:0`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    name,
    port,
    calls,
    waitForCalls: async (n) => {
      await waitForCount(() => calls.length, n, { what: `${name}'s calls`, on: [called, 'call'] });
    },
    close: () => server.forceShutdown(),
  };
}

export const EchoClient = grpc.makeGenericClientConstructor(GRPC_ECHO, 'GrpcEcho');

export interface EchoAnswer {
  code: grpc.status;
  /** The backend that answered (its name), when the call succeeded. */
  backend: string | undefined;
  details: string;
}

/** One unary call through the gateway's `port` with this `:authority` and metadata. */
export function callEcho(port: number, method: EchoMethod, authority: string, metadata: Record<string, string> = {}): Promise<EchoAnswer> {
  const c = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority });
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return new Promise((resolve) => {
    c.makeUnaryRequest(GRPC_ECHO[method].path, id, id, Buffer.alloc(0), md, {}, (err, value) => {
      c.close();
      resolve(err ? { code: err.code, backend: undefined, details: err.details } : { code: grpc.status.OK, backend: value?.toString(), details: '' });
    });
  });
}

export interface GrpcConformance {
  port: number;
  tg: TestGateway;
  backends: Record<'v1' | 'v2' | 'v3', EchoBackend>;
  call(method: EchoMethod, opts?: { authority?: string; metadata?: Record<string, string> }): Promise<EchoAnswer>;
  close(): Promise<void>;
}

export async function grpcConformance(
  files: Record<string, string>,
  opts: Parameters<typeof startGateway>[1] & { protocol?: string } = {},
): Promise<GrpcConformance> {
  const { protocol, ...gatewayOpts } = opts;
  const v1 = await startEchoBackend('grpc-infra-backend-v1');
  const v2 = await startEchoBackend('grpc-infra-backend-v2');
  const v3 = await startEchoBackend('grpc-infra-backend-v3');
  const port = await freePort();
  // The suite's grpc-infra-backend Services have `appProtocol: kubernetes.io/h2c`, which Istio reads as HTTP2.
  const backends = backendsYaml([v1, v2, v3], { portName: 'grpc', protocol: protocol ?? 'HTTP2' });
  // A gateway that fails to start must not leave the backends holding the event loop open.
  const tg = await startGateway({ 'backends.yaml': backends, 'gateway.yaml': gatewayYaml(port), ...files }, gatewayOpts).catch((err: unknown) => {
    for (const b of [v1, v2, v3]) b.close();
    throw err;
  });
  return {
    port,
    tg,
    backends: { v1, v2, v3 },
    call: (method, o = {}) => callEcho(port, method, o.authority ?? 'gateway.example', o.metadata),
    async close() {
      await tg.close();
      for (const b of [v1, v2, v3]) b.close();
    },
  };
}
