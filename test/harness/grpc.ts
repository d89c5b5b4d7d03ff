// Test harness: real @grpc/grpc-js servers and clients, messages as raw bytes (no .proto needed), recording calls.
import * as grpc from '@grpc/grpc-js';
import { WAIT_MS } from './wait.js';

const id = (b: Buffer) => b;

function method(name: string, requestStream: boolean, responseStream: boolean) {
  return {
    path: `/test.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: id,
    requestDeserialize: id,
    responseSerialize: id,
    responseDeserialize: id,
  };
}

/** test.Echo: one method of each kind. */
export const ECHO = {
  Unary: method('Unary', false, false),
  ServerStream: method('ServerStream', false, true),
  ClientStream: method('ClientStream', true, false),
  Bidi: method('Bidi', true, true),
} satisfies grpc.ServiceDefinition;

export interface RecordedCall {
  method: string;
  messages: string[];
  metadata: Record<string, unknown>;
}

export type GrpcBehaviour =
  | { kind: 'answer' }
  /** Answer with this status (and message) instead. */
  | { kind: 'fail'; code: grpc.status; details: string; times?: number }
  /** Never answer. */
  | { kind: 'hang' }
  /** Answer after a delay. */
  | { kind: 'slow'; delayMs: number };

export interface TestGrpcServer {
  name: string;
  port: number;
  calls: RecordedCall[];
  behaviour: GrpcBehaviour;
  /** What answers start with (the name by default): set it to another version's to answer as that one. */
  says: string;
  waitForCalls(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A server whose answers say who answered: Unary answers `<name>:<request>`, ServerStream three messages,
 * ClientStream the joined requests, Bidi echoes each message. Trailing metadata `x-served-by: <name>`.
 */
export async function startGrpcServer(name: string, behaviour: GrpcBehaviour = { kind: 'answer' }): Promise<TestGrpcServer> {
  const calls: RecordedCall[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const record = (method: string, messages: string[], md: grpc.Metadata) => {
    calls.push({ method, messages, metadata: md.getMap() });
    for (const w of waiters.splice(0)) {
      if (calls.length >= w.n) w.resolve();
      else waiters.push(w);
    }
  };
  const trailer = () => {
    const md = new grpc.Metadata();
    md.set('x-served-by', name);
    return md;
  };
  const hung: Array<() => void> = [];
  /** Runs `answer` as the behaviour says; false when the call was failed or left hanging instead. */
  const act = (fail: (e: grpc.ServiceError) => void, answer: () => void) => {
    const b = server.behaviour;
    if (b.kind === 'hang') {
      hung.push(() => fail(Object.assign(new Error('shutting down'), { code: grpc.status.UNAVAILABLE, details: 'down', metadata: new grpc.Metadata() })));
      return;
    }
    if (b.kind === 'fail' && (b.times === undefined || b.times-- > 0)) {
      fail(Object.assign(new Error(b.details), { code: b.code, details: b.details, metadata: trailer() }));
      return;
    }
    if (b.kind === 'slow') setTimeout(answer, b.delayMs);
    else answer();
  };
  const impl: grpc.UntypedServiceImplementation = {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      record('Unary', [call.request.toString()], call.metadata);
      act(
        (e) => cb(e),
        () => cb(null, Buffer.from(`${server.says}:${call.request.toString()}`), trailer()),
      );
    },
    ServerStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      record('ServerStream', [call.request.toString()], call.metadata);
      act(
        (e) => call.destroy(e),
        () => {
          for (let i = 0; i < 3; i++) call.write(Buffer.from(`${name}:${call.request.toString()}:${i}`));
          call.end(trailer());
        },
      );
    },
    ClientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const got: string[] = [];
      call.on('data', (m: Buffer) => got.push(m.toString()));
      call.on('end', () => {
        record('ClientStream', got, call.metadata);
        act(
          (e) => cb(e),
          () => cb(null, Buffer.from(`${name}:${got.join('+')}`), trailer()),
        );
      });
    },
    Bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      const got: string[] = [];
      call.on('data', (m: Buffer) => {
        got.push(m.toString());
        call.write(Buffer.from(`${name}:${m.toString()}`));
      });
      call.on('end', () => {
        record('Bidi', got, call.metadata);
        call.end(trailer());
      });
    },
  };
  const grpcServer = new grpc.Server();
  grpcServer.addService(ECHO, impl);
  const port = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const server: TestGrpcServer = {
    name,
    port,
    calls,
    behaviour,
    says: name,
    waitForCalls(n, timeoutMs = WAIT_MS) {
      if (calls.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: waited ${timeoutMs} ms for ${n} calls, got ${calls.length}`)), timeoutMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    async close() {
      for (const h of hung.splice(0)) h();
      grpcServer.forceShutdown();
    },
  };
  return server;
}

export const EchoClient = grpc.makeGenericClientConstructor(ECHO, 'Echo');

/** A client of test.Echo through `127.0.0.1:port`, with `:authority` set to `authority`. */
export function echoClient(port: number, authority: string): grpc.Client {
  return new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority });
}

export interface UnaryResult {
  error: grpc.ServiceError | null;
  value: string | undefined;
  trailers: Record<string, unknown>;
}

export function unary(c: grpc.Client, request: string, metadata = new grpc.Metadata(), options: grpc.CallOptions = {}): Promise<UnaryResult> {
  return new Promise((resolve) => {
    let trailers: Record<string, unknown> = {};
    const call = c.makeUnaryRequest(ECHO.Unary.path, id, id, Buffer.from(request), metadata, options, (error, value) => {
      // The status event carries the trailers; it fires after the callback in grpc-js, so wait for it.
      setImmediate(() => resolve({ error: error as grpc.ServiceError | null, value: value?.toString(), trailers }));
    });
    call.on('status', (s: grpc.StatusObject) => {
      trailers = s.metadata.getMap();
    });
  });
}

export { grpc };
