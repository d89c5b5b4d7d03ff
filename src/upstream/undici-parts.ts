// undici's Pool and connector, each loaded from its own file. The package's index also loads fetch, WebSocket,
// EventSource, the caches and the mock agents, which Shadowgate never uses on the serving thread: 3.4 MB of heap
// in every worker (5.2 MB for the index against 1.8 MB for these), all of it walked by each mark-compact. The
// paths are undici's own (it has no `exports` map); test/undici-parts.test.ts checks they are the index's very
// classes, so an upgrade that moves them fails there.
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

// As undici's index does: every dispatcher gets request/stream/pipeline/connect/upgrade (the data path itself only
// calls dispatch; callers holding a pool's dispatcher may use the rest, as with any undici Pool).
Object.assign((require('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher).prototype, require('undici/lib/api/index.js'));

export const Pool: typeof Undici.Pool = require('undici/lib/dispatcher/pool.js');
export type Pool = Undici.Pool;
export const buildConnector: typeof Undici.buildConnector = require('undici/lib/core/connect.js');
