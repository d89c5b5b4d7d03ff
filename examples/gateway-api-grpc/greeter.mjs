// A helloworld.Greeter server (node greeter.mjs PORT NAME) and client (node greeter.mjs call HOST:PORT NAME),
// messages as raw bytes so no .proto is needed. @grpc/grpc-js is one of Shadowgate's dev dependencies.
import * as grpc from '@grpc/grpc-js';

const bytes = (b) => b;
const Greeter = {
  SayHello: {
    path: '/helloworld.Greeter/SayHello',
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
};
const [first, second, third] = process.argv.slice(2);
if (first === 'call') {
  const Client = grpc.makeGenericClientConstructor(Greeter, 'Greeter');
  const client = new Client(second, grpc.credentials.createInsecure(), { 'grpc.default_authority': second.replace('127.0.0.1', 'greeter') });
  client.SayHello(Buffer.from(third ?? 'world'), (err, answer) => {
    console.log(err ? `error: ${grpc.status[err.code]} ${err.details}` : answer.toString());
    client.close();
  });
} else {
  const server = new grpc.Server();
  server.addService(Greeter, {
    SayHello: (call, done) => {
      console.log(second, 'SayHello', call.request.toString(), call.metadata.get('x-shadowgate-mirror')[0] ?? '-');
      done(null, Buffer.from(`Hello ${call.request} from ${second}`));
    },
  });
  server.bindAsync(`127.0.0.1:${first}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    console.log(second, 'listening on', port);
  });
}
