// Loaded with `--import` into a Node peer that runs on another Node than the one `npm install` built for:
// `better-sqlite3` resolves to a copy whose native addon was built for that Node's ABI (lts.ts makes it), so the
// same checkout runs on Node 20 and on the LTS side by side. Every thread and cluster worker gets it through
// NODE_OPTIONS.
import { register } from 'node:module';

register('./addon-redirect-hooks.js', import.meta.url);
