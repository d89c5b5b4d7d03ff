// An open-loop load generator (wrk2's idea): requests are due at a fixed rate whatever the server does, and
// each one's latency is measured from the moment it was due, not from when a connection was free to send it,
// so a server that stalls is charged for the requests queued behind the stall (no coordinated omission).
// Runs as its own process so its CPU is not the bench's. The first WARMUP seconds run at the same rate over the
// same connections and are not counted (wrk2 calibrates for 10 s the same way): this generator is a fresh Node
// process whose own code starts unoptimised, and its first second charged the server for its own slowness
// (measured: the first 0.3–0.6 s of a run 20–80 ms behind, for a gateway and a bare mirror alike).
//   node paced.js PORT RATE SECONDS CONNECTIONS [WARMUP] [TIMELINE]
// prints `measuring` when the counted part starts, then one JSON line: sent, completed, errors, percentiles.
// TIMELINE: a file to write every counted request to, as float64 pairs (due time in epoch ms, latency in ms), for
// tail.ts to line up with what every process on the machine was doing at that moment.
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

const [portArg = '0', rateArg = '1000', secondsArg = '10', connArg = '64', warmupArg = '0', timeline] = process.argv.slice(2);
const port = Number(portArg);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const connections = Number(connArg);
const warmup = Number(warmupArg);
const REQUEST = Buffer.from(`GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: shadowgate-bench-paced\r\n\r\n`);

const warm = Math.floor(rate * warmup);
const total = warm + Math.floor(rate * seconds);
const latencies = new Float64Array(total - warm);
/** Due time (performance.now()) of each latency, kept only for TIMELINE. */
const dues = timeline ? new Float64Array(total - warm) : undefined;
/** Counted from the first request due after the warm-up. */
let completed = 0;
let errors = 0;
let non2xx = 0;
let issued = 0;
/** performance.now() from which requests count (set when the load starts). */
let measureFrom = Number.POSITIVE_INFINITY;
/** Due times (performance.now()) of requests no connection has taken yet. */
const backlog: number[] = [];
let backlogHead = 0;

interface Conn {
  socket: Socket;
  /** Due time of the request in flight, or -1 when idle. */
  due: number;
  buf: Buffer;
}
const idle: Conn[] = [];

/** Length of a complete response at the head of `buf` (content-length or chunked), or -1 when incomplete. */
function responseLength(buf: Buffer): number {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return -1;
  const head = buf.toString('latin1', 0, end).toLowerCase();
  const cl = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (cl) {
    const len = end + 4 + Number(cl[1]);
    return buf.length >= len ? len : -1;
  }
  if (head.includes('\r\ntransfer-encoding: chunked')) {
    const last = buf.indexOf('\r\n0\r\n\r\n', end);
    return last < 0 ? -1 : last + 7;
  }
  return end + 4; // no body (204, 304)
}

function send(c: Conn, due: number): void {
  c.due = due;
  c.socket.write(REQUEST);
}

function open(): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const c: Conn = { socket, due: -1, buf: Buffer.alloc(0) };
    socket.once('connect', () => resolve(c));
    socket.once('error', reject);
    socket.on('data', (d: Buffer) => {
      c.buf = c.buf.length ? Buffer.concat([c.buf, d]) : d;
      for (;;) {
        const len = responseLength(c.buf);
        if (len < 0 || c.due < 0) return;
        if (c.due >= measureFrom) {
          if (c.buf[9] !== 0x32) non2xx++; // "HTTP/1.1 2xx": the status's first digit
          if (dues) dues[completed] = c.due;
          latencies[completed++] = performance.now() - c.due;
        }
        c.buf = c.buf.subarray(len);
        c.due = -1;
        if (backlogHead < backlog.length) send(c, backlog[backlogHead++]!);
        else idle.push(c);
      }
    });
    socket.on('close', () => {
      if (c.due >= measureFrom) errors++;
      const i = idle.indexOf(c);
      if (i >= 0) idle.splice(i, 1);
    });
  });
}

const conns = await Promise.all(Array.from({ length: connections }, () => open()));
idle.push(...conns);
const start = performance.now();
let announced = warm === 0;
if (announced) process.stdout.write('measuring\n');
const interval = 1000 / rate;
// The first counted request's due time, computed as every due time is (start + index × interval): `warmup × 1000`
// can differ from it in the last bit, which left that request counted nowhere.
measureFrom = start + warm * interval;

await new Promise<void>((resolve) => {
  const tick = () => {
    const now = performance.now();
    // Every request due by now is issued at its own due time, even when the timer fired late.
    while (issued < total && start + issued * interval <= now) {
      const due = start + issued * interval;
      if (!announced && issued >= warm) {
        announced = true;
        process.stdout.write('measuring\n');
      }
      issued++;
      const c = idle.pop();
      if (c) send(c, due);
      else backlog.push(due);
    }
    if (backlogHead > 4096) {
      backlog.splice(0, backlogHead);
      backlogHead = 0;
    }
    if (issued < total) setTimeout(tick, 1);
    else resolve();
  };
  tick();
});
// Let the last requests finish (bounded: the run's own length, at most 5 s).
const deadline = performance.now() + Math.min(5_000, seconds * 1_000);
while (completed + errors < issued - warm && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
const elapsed = (performance.now() - measureFrom) / 1000;
for (const c of conns) c.socket.destroy();

if (timeline && dues) {
  const pairs = new Float64Array(completed * 2);
  for (let i = 0; i < completed; i++) {
    pairs[2 * i] = performance.timeOrigin + dues[i]!;
    pairs[2 * i + 1] = latencies[i]!;
  }
  writeFileSync(timeline, pairs);
}
const done = latencies.subarray(0, completed).sort();
const pct = (p: number) => (done.length ? done[Math.min(done.length - 1, Math.floor((p / 100) * done.length))]! : Number.NaN);
console.log(
  JSON.stringify({
    rate,
    seconds,
    connections,
    sent: issued - warm,
    completed,
    errors,
    lost: issued - warm - completed - errors,
    non2xx,
    achievedRps: completed / elapsed,
    p50Ms: pct(50),
    p90Ms: pct(90),
    p99Ms: pct(99),
    p999Ms: pct(99.9),
    maxMs: done.length ? done[done.length - 1] : Number.NaN,
  }),
);
process.exit(0);
