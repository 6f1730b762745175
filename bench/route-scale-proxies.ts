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
const clients = Array.from(
  { length: Number(countText) },
  () =>
    new RouteClient({
      controlUrl,
      namespace: NAMESPACE,
      deployment: DEPLOYMENT,
      ttlMs: 5 * 60_000,
      logger,
      apply: (table) => applied.push([table.version, now()]),
    }),
);
for (const client of clients) client.start();

// One message per few milliseconds rather than one per apply: a thousand messages at once would time
// the IPC channel, not the route server.
const flush = setInterval(() => {
  if (applied.length === 0) return;
  process.send?.({ applied } satisfies ProxiesReport);
  applied = [];
}, 5);
process.on('disconnect', () => {
  clearInterval(flush);
  void Promise.all(clients.map((c) => c.stop())).then(() => process.exit(0));
});
