// GET /ui: the diff explorer's static assets, built by `npm run build` into dist/ui/ and served from memory with a
// strict Content-Security-Policy. Only the files named below are served: no path from the URL reaches the disk.
import { readFileSync } from 'node:fs';
import type http from 'node:http';

/** dist/src/admin/ → dist/ui/ */
const ASSET_DIR = new URL('../../ui/', import.meta.url);

const FILES = new Map<string, { file: string; type: string }>([
  ['/ui', { file: 'index.html', type: 'text/html; charset=utf-8' }],
  ['/ui/', { file: 'index.html', type: 'text/html; charset=utf-8' }],
  ['/ui/app.js', { file: 'app.js', type: 'text/javascript; charset=utf-8' }],
  ['/ui/app.css', { file: 'app.css', type: 'text/css; charset=utf-8' }],
  ['/ui/app.js.map', { file: 'app.js.map', type: 'application/json' }],
]);

/**
 * Scripts and styles only from this origin (no inline script, no eval), data only from /api on this origin, no
 * plugins, frames or form posts; Trusted Types forbid every HTML-string sink (innerHTML and friends), so an
 * answer body can only ever reach the page as text.
 */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  'trusted-types',
].join('; ');

const cache = new Map<string, Buffer>();

function load(file: string): Buffer | undefined {
  let body = cache.get(file);
  if (!body) {
    try {
      body = readFileSync(new URL(file, ASSET_DIR));
    } catch {
      return undefined;
    }
    cache.set(file, body);
  }
  return body;
}

export function isUiPath(path: string): boolean {
  return path === '/ui' || path.startsWith('/ui/');
}

/** Answers a GET/HEAD under /ui: a known asset, 503 when the UI was not built, else 404. */
export function serveUi(path: string, method: string, res: http.ServerResponse): void {
  const asset = FILES.get(path);
  const headers = {
    'content-security-policy': UI_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cache-control': 'no-cache',
  };
  if (!asset) {
    res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' });
    res.end('not found\n');
    return;
  }
  const body = load(asset.file);
  if (!body) {
    res.writeHead(503, { ...headers, 'content-type': 'text/plain; charset=utf-8' });
    res.end('the UI is not built: run npm run build\n');
    return;
  }
  res.writeHead(200, { ...headers, 'content-type': asset.type, 'content-length': body.length });
  res.end(method === 'HEAD' ? undefined : body);
}
