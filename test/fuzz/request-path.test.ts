// Fuzz: path normalisation and the request head path, as properties (fast-check). FUZZ_RUNS sets the number of
// runs (small by default so `npm test` stays quick; `npm run fuzz` runs 20,000).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { normalizeTarget, type PathNormalization } from '../../src/routing/index.js';
import { freePort, serviceYaml, startGateway, type TestGateway } from '../harness/gateway.js';
import { rawRequest } from '../harness/raw.js';
import { startUpstream, type TestUpstream } from '../harness/upstream.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
/** Each socket run is a real request: a tenth of the pure runs, at least 30. */
const SOCKET_RUNS = Math.max(30, Math.floor(RUNS / 10));

const MODES: PathNormalization[] = ['BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'];

/** Bytes as Node's parser hands them up (latin1), biased towards the ones normalisation cares about. */
const pathChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('/', '.', '%', '\\', 'a', 'A', '2', 'e', 'E', 'f', 'F', '5', 'c', '0', '?', '#', '~', '-', '_') },
  { weight: 2, arbitrary: fc.constantFrom('%2e', '%2E', '%2f', '%2F', '%5c', '%5C', '%00', '%25', '%41', '%7e', '..', './', '//') },
  { weight: 1, arbitrary: fc.integer({ min: 0x21, max: 0xff }).map((c) => String.fromCharCode(c)) },
);
const target = fc.array(pathChar, { maxLength: 40 }).map((parts) => `/${parts.join('')}`);

/** A segment written many ways that all mean the same to an RFC 3986 server. */
function spell(segment: string): fc.Arbitrary<string> {
  return fc.array(fc.constantFrom('plain', 'encode', 'upper-encode'), { minLength: segment.length, maxLength: segment.length }).map((how) =>
    [...segment]
      .map((ch, i) => {
        const hex = ch.charCodeAt(0).toString(16);
        return how[i] === 'plain' ? ch : how[i] === 'encode' ? `%${hex}` : `%${hex.toUpperCase()}`;
      })
      .join(''),
  );
}
/** Noise that resolves to nothing: `./`, `x/../`, `%2e/`, `%2E%2e`-parents, doubled slashes. */
const noise = fc.array(fc.constantFrom('./', '%2e/', '%2E/', 'x/../', 'junk/%2e%2e/', 'y/%2E./', '/', '\\'), { maxLength: 4 }).map((a) => a.join(''));

describe('path normalisation properties', () => {
  it('never throws; the result is a path of safe ASCII, no fragment, the query byte for byte', () => {
    fc.assert(
      fc.property(target, fc.constantFrom(...MODES), (t, mode) => {
        const out = normalizeTarget(t, mode);
        if (out === undefined) {
          assert.match(t.split(/[?#]/)[0]!, /%00|\0/, 'only a NUL is refused');
          return;
        }
        assert.equal(out[0], '/');
        assert.ok(!out.includes('#'));
        const q = t.split('#')[0]!.indexOf('?');
        const path = q === -1 ? out : out.slice(0, out.indexOf('?'));
        assert.match(path, /^[!$&'()*+,\-./0-9:;=@A-Z[\]_a-z~%]*$/, `unsafe byte left in ${JSON.stringify(path)}`);
        if (q !== -1) assert.equal(out.slice(out.indexOf('?')), t.split('#')[0]!.slice(q));
        // No dot segment survives.
        assert.ok(!/\/\.\.?(\/|$)/.test(path), `dot segment left in ${path}`);
        if (mode !== 'BASE') assert.ok(!path.includes('//'), `${path}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('is idempotent: a normalised path normalises to itself', () => {
    fc.assert(
      fc.property(target, fc.constantFrom(...MODES), (t, mode) => {
        const once = normalizeTarget(t, mode);
        if (once !== undefined) assert.equal(normalizeTarget(once, mode), once);
      }),
      { numRuns: RUNS },
    );
  });

  it('every spelling of /admin/<x> (encoded letters, dot segments, %2e, extra slashes) normalises to it', () => {
    fc.assert(
      fc.property(noise, spell('admin'), noise, fc.stringMatching(/^[a-z0-9]{0,8}$/), (n1, admin, n2, rest) => {
        const t = `/${n1}${admin}/${n2}${rest}`;
        const out = normalizeTarget(t, 'MERGE_SLASHES');
        assert.equal(out, `/admin/${rest}`, t);
      }),
      { numRuns: RUNS },
    );
  });

  it('NONE keeps the path as sent (only the fragment goes)', () => {
    fc.assert(
      fc.property(target, (t) => {
        assert.equal(normalizeTarget(t, 'NONE'), t.split('#')[0]);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('request heads over a real socket', () => {
  let port: number;
  let up: TestUpstream;
  let tg: TestGateway;
  before(async () => {
    port = await freePort();
    up = await startUpstream('v1');
    tg = await startGateway({
      'app.yaml': `${serviceYaml('app', port, [{ upstream: up, labels: { version: 'v1' } }])}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app}
spec:
  hosts: [app]
  http:
  - match: [{uri: {prefix: /admin}}]
    directResponse: {status: 403}
  - route: [{destination: {host: app, subset: v1}}]
`,
    });
  });
  after(async () => {
    await tg?.close();
    await up?.close();
  });

  const token = fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'PUT', 'get', 'G ET', 'CONNECT', '');
  const requestTarget = fc.oneof(
    target,
    target.map((t) => `http://app${t}`),
    target.map((t) => `http://app:${port}${t}`),
    fc.constantFrom('*', 'app/admin', 'http://@app/', 'http:///admin', '/admin\t', '/ad min'),
  );
  const header = fc.oneof(
    fc.constantFrom(
      'Host: app',
      'Host: app:1',
      'host: other',
      'Host:',
      'Content-Length: 0',
      'Transfer-Encoding: chunked',
      'Content-Length: 3',
      'x-shadowgate-mirror: true',
      'Via: 1.1 shadowgate',
      'Expect: 100-continue',
      ' folded',
      'Bad Header: x',
      'x:\u0001',
    ),
    fc.tuple(fc.stringMatching(/^[a-zA-Z-]{1,12}$/), fc.string({ maxLength: 12 })).map(([n, v]) => `${n}: ${v}`),
  );

  it('any head gets one answer, never a 5xx but the loop guard; nothing past the /admin rule reaches the upstream', async () => {
    await fc.assert(
      fc.asyncProperty(
        token,
        requestTarget,
        fc.array(header, { maxLength: 6 }),
        fc.constantFrom('', 'abc', '3\r\nabc\r\n0\r\n\r\n'),
        async (method, t, headers, body) => {
          const before = up.requests.length;
          const head = `${method} ${t} HTTP/1.1\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`;
          const r = await rawRequest(port, head, body).catch(() => undefined);
          // Node's parser may close without answering only when the client half-sent a body; an answer must be sane.
          // 508 is the loop guard answering a Via that names us; any other 5xx is a bug.
          if (r) assert.ok(r.status >= 200 && (r.status < 500 || r.status === 508), `${r.status} for ${JSON.stringify(head)}`);
          for (const got of up.requests.slice(before)) {
            assert.equal(got.url[0], '/');
            assert.ok(!/^\/+admin/i.test(got.url) && !/\/\.\.?(\/|$)/.test(got.url.split('?')[0]!), `bypass: ${got.url}`);
            assert.equal(got.headers['x-shadowgate-mirror'], undefined);
          }
        },
      ),
      { numRuns: SOCKET_RUNS },
    );
    // Still serving.
    assert.equal((await rawRequest(port, 'GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n')).status, 200);
  });
});
