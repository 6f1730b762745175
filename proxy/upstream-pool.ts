import { createRequire } from 'node:module';
import type { Pool as UndiciPool } from 'undici';

/**
 * undici's Pool on its own. The package's index also loads fetch, WebSocket, caches and mocks, which cost
 * about 10 MiB of resident memory in every pod that runs the proxy; the proxy needs only the pool.
 * undici is pinned to a minor version in package.json, and the tests load this path.
 */
export const Pool = createRequire(import.meta.url)('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
export type Pool = UndiciPool;
