// The raw client reads what it is sent: a keep-alive answer in chunked coding resolves at its last chunk (not
// at a close that never comes), with the chunks joined; a 204 has no body whatever its headers.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { after, describe, it } from 'node:test';
import { rawConnect, readResponse } from './harness/raw.js';

const server = createServer((req, res) => {
  if (req.url === '/empty') {
    res.writeHead(204).end();
    return;
  }
  // Two writes before the end: Node sends them as chunks on a keep-alive connection.
  res.setHeader('trailer', 'x-checksum');
  res.write('hello, ');
  res.write('chunked world');
  res.addTrailers({ 'x-checksum': 'abc' });
  res.end();
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const port = (server.address() as { port: number }).port;
after(() => server.close());

describe('test harness: readResponse', () => {
  it('reads a chunked keep-alive answer to its last chunk and trailers, then the next answer on the same connection', async () => {
    const socket = await rawConnect(port);
    try {
      let answer = readResponse(socket, 5_000);
      socket.write('GET / HTTP/1.1\r\nHost: t\r\n\r\n');
      let r = await answer;
      assert.equal(r.status, 200);
      assert.equal(r.headers['transfer-encoding'], 'chunked');
      assert.equal(r.body, 'hello, chunked world');
      assert.equal(socket.destroyed, false, 'resolved without waiting for a close');
      answer = readResponse(socket, 5_000);
      socket.write('GET /empty HTTP/1.1\r\nHost: t\r\n\r\n');
      r = await answer;
      assert.equal(r.status, 204);
      assert.equal(r.body, '');
    } finally {
      socket.destroy();
    }
  });
});
