// The resolve hook behind addon-redirect.ts: `better-sqlite3` → SHADOWGATE_BENCH_SQLITE (a package directory).
import { pathToFileURL } from 'node:url';

type Resolve = (specifier: string, context: object, next: (s: string, c?: object) => Promise<{ url: string }>) => Promise<{ url: string }>;

const target = process.env.SHADOWGATE_BENCH_SQLITE;

export const resolve: Resolve = (specifier, context, next) =>
  target && specifier === 'better-sqlite3' ? next(pathToFileURL(`${target}/lib/index.js`).href, context) : next(specifier, context);
