// Property-based tests of the HTTP/2 and gRPC wire helpers: the preface sniff under any split of the first bytes,
// grpc-timeout parsing, gRPC message framing. Hostile input never throws. Runs: FUZZ_RUNS (default 200).
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { grpcMessages } from '../../src/compare/grpc-messages.js';
import { parseGrpcTimeout } from '../../src/proxy/grpc/index.js';
import { PREFACE, type Protocol, sniffProtocol } from '../../src/proxy/h2/index.js';

const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 200) || 200);

/** Feeds `bytes` in the given pieces to the sniff; resolves with its verdict and every byte left to read. */
function sniff(bytes: Buffer, cuts: number[]): Promise<{ protocol: Protocol; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = new PassThrough();
    let protocol: Protocol | undefined;
    sniffProtocol(
      socket as unknown as Socket,
      (p) => {
        protocol = p;
      },
      () => reject(new Error('silence')),
    );
    let at = 0;
    for (const c of [...new Set(cuts)].sort((a, b) => a - b)) {
      if (c <= at || c >= bytes.length) continue;
      socket.write(bytes.subarray(at, c));
      at = c;
    }
    socket.write(bytes.subarray(at));
    // Every piece is written: what the sniff put back plus what came after is all there is to read.
    setImmediate(() => {
      if (!protocol) return reject(new Error('no verdict'));
      const rest: Buffer[] = [];
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) rest.push(chunk);
      resolve({ protocol, rest: Buffer.concat(rest) });
    });
  });
}

function frame(messages: Buffer[]): Buffer {
  return Buffer.concat(
    messages.flatMap((m) => {
      const h = Buffer.alloc(5);
      h.writeUInt32BE(m.length, 1);
      return [h, m];
    }),
  );
}

describe('h2c preface sniff', () => {
  it('the preface, however split, is HTTP/2, and every byte is put back', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), fc.array(fc.nat({ max: 100 }), { maxLength: 8 }), async (tail, cuts) => {
        const bytes = Buffer.concat([PREFACE, tail]);
        const r = await sniff(bytes, cuts);
        assert.equal(r.protocol, 'h2');
        assert.deepEqual(r.rest, bytes);
      }),
      { numRuns: RUNS },
    );
  });

  it('anything that is not the preface (an HTTP/1 request, PRI-like prefixes) is HTTP/1, bytes intact', async () => {
    const notPreface = fc
      .uint8Array({ minLength: 1, maxLength: 80 })
      .map((b) => Buffer.from(b))
      .filter((b) => !b.subarray(0, Math.min(b.length, PREFACE.length)).equals(PREFACE.subarray(0, Math.min(b.length, PREFACE.length))));
    const prefixThenOther = fc
      .tuple(fc.integer({ min: 1, max: PREFACE.length - 1 }), fc.uint8Array({ minLength: 1, maxLength: 16 }))
      .map(([n, b]) => Buffer.concat([PREFACE.subarray(0, n), Buffer.from(b)]))
      .filter((b) => !b.subarray(0, Math.min(b.length, PREFACE.length)).equals(PREFACE.subarray(0, Math.min(b.length, PREFACE.length))));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(notPreface, prefixThenOther, fc.constant(Buffer.from('POST / HTTP/1.1\r\n\r\n'))),
        fc.array(fc.nat({ max: 100 }), { maxLength: 8 }),
        async (bytes, cuts) => {
          const r = await sniff(bytes, cuts);
          assert.equal(r.protocol, 'h1');
          assert.deepEqual(r.rest, bytes);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('grpc-timeout', () => {
  it('1-8 digits and a unit give that duration; anything else is ignored, never an error', () => {
    const unitMs = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 } as const;
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{1,8}$/), fc.constantFrom(...(Object.keys(unitMs) as (keyof typeof unitMs)[])), (digits, unit) => {
        assert.equal(parseGrpcTimeout(`${digits}${unit}`), Number(digits) * unitMs[unit]);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (s) => {
        const v = parseGrpcTimeout(s);
        if (!/^\d{1,8}[HMSmun]$/.test(s)) assert.equal(v, undefined, s);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('gRPC message framing', () => {
  it('frames round-trip; arbitrary bytes give whole frames or undefined, never a throw', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (msgs) => {
        const messages = msgs.map((m) => Buffer.from(m));
        assert.deepEqual(grpcMessages(frame(messages)), messages);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
        const m = grpcMessages(raw);
        if (m) assert.deepEqual(frame(m), Buffer.from(raw));
      }),
      { numRuns: RUNS },
    );
  });
});
