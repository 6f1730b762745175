import { afterEach, describe, expect, it } from 'vitest';
import { RouteClient } from '../../proxy/route-client.js';
import type { RouteTable } from '../../src/routes/table.js';
import { eventually, quietLogger, startRouteServer, type RouteServer } from '../support/servers.js';

let routes: RouteServer | undefined;
let client: RouteClient | undefined;

afterEach(async () => {
  await client?.stop();
  await routes?.close();
});

describe('the route client', () => {
  it('asks for every table over one kept-alive connection', async () => {
    routes = await startRouteServer();
    let connections = 0;
    routes.server.on('connection', () => connections++);
    const applied: RouteTable[] = [];
    client = new RouteClient({
      controlUrl: routes.url,
      namespace: 'shop',
      deployment: 'podinfo',
      ttlMs: 60_000,
      logger: quietLogger,
      apply: (table) => applied.push(table),
    });
    client.start();
    for (const weight of [10, 20, 30, 40]) {
      const table = routes.store.set('shop', 'podinfo', { url: 'http://podinfo-canary.shop:9898', weight });
      await eventually(() => applied.at(-1)?.version === table.version, 5_000, `weight ${weight}`);
    }
    // A change answers every proxy's held poll at once: new connections for the next polls, from a
    // thousand proxies, would overflow the route server's accept queue.
    expect(connections).toBe(1);
  });
});
