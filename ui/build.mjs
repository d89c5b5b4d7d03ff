// Builds the diff explorer (ui/src/*.ts) into dist/ui/ with esbuild: one bundled script, the page and its
// stylesheet. Run by `npm run build` and `prepare`; the admin listener serves dist/ui/ at /ui.
import { copyFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

const root = new URL('./', import.meta.url);
const out = new URL('../dist/ui/', import.meta.url);
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [new URL('src/main.ts', root).pathname],
  outfile: new URL('app.js', out).pathname,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(new URL('index.html', root), new URL('index.html', out));
copyFileSync(new URL('app.css', root), new URL('app.css', out));
