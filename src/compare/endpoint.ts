// Endpoint keys: `METHOD /template`, with ids folded out of the path so requests aggregate per endpoint.
const DIGITS = /^\d+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = /^[0-9a-f]{16,}$/i;
/** base64 / base64url alphabet (`=` padding included), at least 20 characters. */
const TOKEN = /^[A-Za-z0-9_\-+=]{20,}$/;
const LETTER = /[A-Za-z]/;
const DIGIT = /\d/;

/**
 * One path segment folded when it looks like an id:
 * all digits → `{id}`; a UUID → `{uuid}`; 16+ hex digits → `{hex}`; 20+ base64-ish characters mixing letters
 * and digits → `{token}` (a slug of words such as `annual-report-2024-final` can fold too: it is an id in
 * all but name, and keeping one endpoint per slug would scatter the statistics).
 */
export function foldSegment(seg: string): string {
  if (seg === '') return seg;
  if (DIGITS.test(seg)) return '{id}';
  if (seg.length === 36 && UUID.test(seg)) return '{uuid}';
  if (seg.length >= 16 && HEX.test(seg)) return '{hex}';
  if (seg.length >= 20 && TOKEN.test(seg) && LETTER.test(seg) && DIGIT.test(seg)) return '{token}';
  return seg;
}

/** The request target without query or fragment; an absolute-form target (`http://h/p`) gives its path. */
export function pathOnly(target: string): string {
  let p = target;
  const q = p.search(/[?#]/);
  if (q >= 0) p = p.slice(0, q);
  if (!p.startsWith('/')) {
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^/]*(\/.*)?$/i.exec(p);
    p = m ? (m[1] ?? '/') : `/${p}`;
  }
  return p;
}

/** `METHOD /template`: the query dropped, id-like segments folded (the route is the run's). */
export function endpointKey(method: string, path: string): string {
  const template = pathOnly(path).split('/').map(foldSegment).join('/');
  return `${method.toUpperCase()} ${template}`;
}
