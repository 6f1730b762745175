import { devNull } from 'node:os';
import { pino } from 'pino';
import { ProxyMetrics } from '../proxy/metrics.js';
import { RouteClient } from '../proxy/route-client.js';
import { compileRoute, type CompiledRoute } from '../proxy/router.js';
import { localOnlyTable, type RouteTable } from '../src/routes/table.js';
import { DEPLOYMENT, NAMESPACE, now, type ProxiesReport } from './route-scale-ipc.js';

/**
 * Many proxies' route clients in one process, for `npm run scale:routes`: the RouteClient of
 * proxy/route-client.ts, as each `sluice proxy` runs it, long-polling one route server. Each simulated
 * proxy applies a table as `sluice proxy` does (proxy/proxy.ts, applyRoute): it compiles it, switches to
 * it, sets its own metrics and writes its `routeApplied` log line (to the null device, as a JSON line like
 * any other). Nothing is shared between the simulated proxies but the process. Reports to
 * bench/route-scale.ts over IPC when each proxy switched to which table.
 *
 * argv: the route server's URL, how many clients.
 */

const [controlUrl = '', countText = '1'] = process.argv.slice(2);
let applied: [string, number][] = [];
let flushing: NodeJS.Timeout | undefined;

// The applies of a few milliseconds go in one message, rather than one message each: a thousand at once
// would time the IPC channel, not the route server. No timer runs while nothing happens, so that the
// proxies' CPU figure is theirs.
const record = (version: string, at: number): void => {
  applied.push([version, at]);
  flushing ??= setTimeout(() => {
    // Once the benchmark has gone, the proxies stop (below) and their last applies go nowhere.
    if (process.connected) process.send?.({ applied } satisfies ProxiesReport);
    applied = [];
    flushing = undefined;
  }, 5);
};

/** One simulated proxy: its route client, and the part of applyRoute that does not touch upstreams. */
function simulatedProxy(index: number): RouteClient {
  const logger = pino(
    { level: 'info', base: { component: 'proxy' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: devNull, sync: true }),
  );
  const metrics = new ProxyMetrics({
    namespace: NAMESPACE,
    deployment: DEPLOYMENT,
    role: 'primary',
    revision: `r${index}`,
  });
  let route: CompiledRoute = compileRoute(localOnlyTable());
  const apply = (table: RouteTable, stale: boolean): void => {
    route = compileRoute(table);
    // The proxy routes by the new table from here on: this is the moment the benchmark times.
    record(route.table.version, now());
    metrics.route(table.version, table.canary?.weight ?? 0, stale);
    logger.info(
      { version: table.version, weight: table.canary?.weight ?? 0, canary: table.canary?.url ?? null, stale },
      'routeApplied',
    );
  };
  return new RouteClient({
    controlUrl,
    namespace: NAMESPACE,
    deployment: DEPLOYMENT,
    ttlMs: 5 * 60_000,
    logger,
    apply,
  });
}

const clients = Array.from({ length: Number(countText) }, (_, i) => simulatedProxy(i));
for (const client of clients) client.start();

process.on('disconnect', () => {
  void Promise.all(clients.map((c) => c.stop())).then(() => process.exit(0));
});
