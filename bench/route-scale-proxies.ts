import { RouteClient } from '../proxy/route-client.js';
import { createLogger } from '../src/log.js';
import { DEPLOYMENT, NAMESPACE, now, type ProxiesReport } from './route-scale-ipc.js';

/**
 * Many proxies' route clients in one process, for `npm run scale:routes`: the RouteClient of
 * proxy/route-client.ts, as each `sluice proxy` runs it, long-polling one route server. Reports to
 * bench/route-scale.ts over IPC when each client applied which table.
 *
 * argv: the route server's URL, how many clients.
 */

const [controlUrl = '', countText = '1'] = process.argv.slice(2);
const logger = createLogger('proxy', 'warn');
let applied: [string, number][] = [];
let flushing: NodeJS.Timeout | undefined;

// The applies of a few milliseconds go in one message, rather than one message each: a thousand at once
// would time the IPC channel, not the route server. No timer runs while nothing happens, so that the
// proxies' CPU figure is theirs.
const record = (version: string): void => {
  applied.push([version, now()]);
  flushing ??= setTimeout(() => {
    process.send?.({ applied } satisfies ProxiesReport);
    applied = [];
    flushing = undefined;
  }, 5);
};

const clients = Array.from(
  { length: Number(countText) },
  () =>
    new RouteClient({
      controlUrl,
      namespace: NAMESPACE,
      deployment: DEPLOYMENT,
      ttlMs: 5 * 60_000,
      logger,
      apply: (table) => record(table.version),
    }),
);
for (const client of clients) client.start();

process.on('disconnect', () => {
  void Promise.all(clients.map((c) => c.stop())).then(() => process.exit(0));
});
