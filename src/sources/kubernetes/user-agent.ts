// The User-Agent sent with every request to the API server, in client-go's shape (`kubectl/v1.31.0 (linux/amd64)
// kubernetes/abc1234`, rest.DefaultUserAgent): API servers tell clients apart by it in audit logs, and API
// Priority and Fairness can give Shadowgate a flow of its own.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** `shadowgate/0.1.0 (linux/x64)`. */
export function userAgent(): string {
  cached ??= `shadowgate/${ownVersion()} (${process.platform}/${process.arch})`;
  return cached;
}

/** The version in Shadowgate's package.json (found upwards from this file: src/ and dist/src/ alike). */
function ownVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'shadowgate' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no package.json here: look in the parent
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return 'unknown';
}
