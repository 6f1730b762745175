import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { RouteClient } from '../../proxy/route-client.js';
import type { RouteTable } from '../../src/routes/table.js';
import { listen } from '../../src/server.js';
import { cleanupAfterEach, closeAll, quietLogger, startRouteServer } from '../support/servers.js';
import { eventually } from '../support/eventually.js';

const { defer } = cleanupAfterEach(afterEach);

/** A route server that answers each poll with the next body of a script, then holds. */
async function scriptedRouteServer(bodies: string[]) {
  const ifNoneMatch: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    ifNoneMatch.push(req.headers['if-none-match']);
    const body = bodies.shift();
    if (body === undefined) return; // Held until the test ends.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  const port = await listen(server, 0, '127.0.0.1');
  defer(() => closeAll(server));
  return { url: `http://127.0.0.1:${port}`, ifNoneMatch };
}

/** A started client of shop/podinfo that retries quickly, stopped after the test. */
function startClient(controlUrl: string, apply: (table: RouteTable) => void): RouteClient {
  const client = new RouteClient({
    controlUrl,
    namespace: 'shop',
    deployment: 'podinfo',
    ttlMs: 60_000,
    logger: quietLogger,
    minBackoffMs: 10,
    apply,
  });
  client.start();
  defer(() => client.stop());
  return client;
}

describe("the proxy's route client", () => {
  it('asks for every table over one kept-alive connection', async () => {
    const routes = await startRouteServer();
    defer(() => routes.close());
    let connections = 0;
    routes.server.on('connection', () => connections++);
    const applied: RouteTable[] = [];
    const client = new RouteClient({
      controlUrl: routes.url,
      namespace: 'shop',
      deployment: 'podinfo',
      ttlMs: 60_000,
      logger: quietLogger,
      apply: (table) => applied.push(table),
    });
    client.start();
    defer(() => client.stop());
    for (const weight of [10, 20, 30, 40]) {
      const table = routes.store.set('shop', 'podinfo', { url: 'http://podinfo-canary.shop:9898', weight });
      await eventually(`weight ${weight}`, () => applied.at(-1)?.version === table.version, {
        timeoutMs: 5_000,
      });
    }
    // A change answers every proxy's held poll at once: new connections for the next polls, from a
    // thousand proxies, would overflow the route server's accept queue.
    expect(connections).toBe(1);
  });

  it.each([
    ['bad\u0000version', 'valid'],
    ['ver"sion', 'valid'],
    ['v\u0151', 'valid'],
    ['two words', 'valid'],
    ['bad\u0000version', 'invalid'],
    ['v\u0151', 'invalid'],
  ])('rejects a table versioned %j (canary %s) and keeps polling for the next', async (version, kind) => {
    const canary = kind === 'valid' ? { url: 'http://127.0.0.1:9', weight: 10 } : 'garbage';
    const server = await scriptedRouteServer([
      JSON.stringify({ version, canary }),
      JSON.stringify({ version: 'v2', canary: { url: 'http://127.0.0.1:9', weight: 10 } }),
    ]);
    const applied: RouteTable[] = [];
    let onApply!: () => void;
    const appliedOnce = new Promise<void>((resolve) => (onApply = resolve));
    startClient(server.url, (table) => {
      applied.push(table);
      onApply();
    });
    await appliedOnce;
    expect(applied.map((t) => t.version)).toEqual(['v2']);
    // The rejected version is not sent back: it may not even be a valid header value.
    expect(server.ifNoneMatch.slice(0, 2)).toEqual([undefined, undefined]);
  });

  it('refuses a table larger than 1 MiB and applies the next one', async () => {
    const huge = JSON.stringify({
      version: 'v1',
      canary: { url: 'http://127.0.0.1:9', weight: 10 },
      padding: 'x'.repeat(2 * 1024 * 1024),
    });
    const server = await scriptedRouteServer([
      huge,
      JSON.stringify({ version: 'v2', canary: { url: 'http://127.0.0.1:9', weight: 20 } }),
    ]);
    const applied: RouteTable[] = [];
    startClient(server.url, (table) => applied.push(table));
    await eventually('a table applied', () => applied.length > 0, { timeoutMs: 5_000 });
    expect(applied.map((t) => t.version)).toEqual(['v2']);
  });
});
