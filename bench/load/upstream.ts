// A load-bench upstream, run as its own process (forked with an IPC channel, so its CPU is not the gateway's):
// a tiny keep-alive HTTP server answering an 18-byte body, or misbehaving as a shadow does.
//   node upstream.js ok        answers at once
//   node upstream.js slow 200  answers after 200 ms
//   node upstream.js hung      reads the request and never answers (the socket stays open)
// It counts requests received in full (head and body) and tells the parent over IPC: {type:'count'} → {count}.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const mode = process.argv[2] ?? 'ok';
const delayMs = Number(process.argv[3] ?? 200);
const BODY = Buffer.from('This is version 1\n'); // 18 bytes
const HEADERS = { 'content-type': 'text/plain', 'content-length': String(BODY.length) };
let count = 0;

const server = http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    count++;
    if (mode === 'hung') return;
    if (mode === 'slow') {
      setTimeout(() => res.writeHead(200, HEADERS).end(BODY), delayMs);
      return;
    }
    res.writeHead(200, HEADERS).end(BODY);
  });
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 130_000;
server.requestTimeout = 0; // a hung shadow keeps every request until its client gives up
server.maxRequestsPerSocket = 0;

server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'listening', port: (server.address() as AddressInfo).port });
});
process.on('message', (msg: { type: string; id: number }) => {
  if (msg.type === 'count') process.send?.({ type: 'count', id: msg.id, count });
});
// The bench is gone (even killed): do not outlive it.
process.on('disconnect', () => process.exit(0));
