// "Copy as curl": the (already redacted) sampled request as a shell command. Every piece is single-quoted, so a
// hostile method, header or body is an argument to curl and never shell syntax.
import type { SampleRequest } from './types.js';

/** Headers curl sets itself or that describe the original connection, not the request. */
const SKIP = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer']);

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function curlFor(req: SampleRequest, fallbackHost: string): string {
  const hostHeader = req.headers.host;
  const host = (Array.isArray(hostHeader) ? hostHeader[0] : hostHeader) || fallbackHost;
  const query = req.query.replace(/^\?/, '');
  const url = `http://${host}${req.path.startsWith('/') ? '' : '/'}${req.path}${query ? `?${query}` : ''}`;
  const parts = ['curl', '-sS'];
  if (req.method !== 'GET' || req.body) parts.push('-X', shellQuote(req.method));
  for (const [name, value] of Object.entries(req.headers)) {
    if (SKIP.has(name.toLowerCase())) continue;
    for (const v of Array.isArray(value) ? value : [value]) parts.push('-H', shellQuote(`${name}: ${v}`));
  }
  let prefix = '';
  if (req.body) {
    if (req.bodyEncoding === 'base64') {
      prefix = `printf %s ${shellQuote(req.body)} | base64 -d | `;
      parts.push('--data-binary', '@-');
    } else parts.push('--data-binary', shellQuote(req.body));
  }
  parts.push(shellQuote(url));
  const note = req.bodyTruncated ? '\n# the sampled body was truncated: this sends only its stored part' : '';
  return `${prefix}${parts.join(' ')}${note}`;
}
