import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../src/demo/cluster.js';
import { LocalPlatform, NoCanaryError } from '../../src/demo/local-platform.js';
import { createRouteHandler, RouteStore } from '../../src/routes/server.js';
import { listen } from '../../src/server.js';
import { cleanupAfterEach, closeAll, get, quietLogger } from '../support/servers.js';
import { eventually } from '../support/eventually.js';

// The local platform on real servers: two primary pods (sample app v1 + primary proxy) that long-poll a
// real route server, and a canary pod it starts on demand.

const { defer } = cleanupAfterEach(afterEach);

const v1 = { version: 'v1', errorRate: 0, latencyMs: 0 };
const v2 = { version: 'v2', errorRate: 0, latencyMs: 0 };
const testMatch = [{ header: 'traffic', exact: 'test' }];

async function setup() {
  const routes = new RouteStore();
  const handle = createRouteHandler(routes);
  const server = http.createServer((req, res) => {
    if (!handle(req, res)) res.writeHead(404).end();
  });
  const port = await listen(server, 0, '127.0.0.1');
  defer(() => closeAll(server));
  const cluster = await LocalCluster.start({
    namespace: 'demo',
    deployment: 'podinfo',
    replicas: 2,
    stable: v1,
    controlUrl: `http://127.0.0.1:${port}`,
    logger: quietLogger,
  });
  defer(() => cluster.stop());
  const platform = new LocalPlatform({
    namespace: 'demo',
    deployment: 'podinfo',
    cluster,
    routes,
    revisions: { v1, v2 },
    stableRevision: 'v1',
    rolloutStepMs: 10,
  });
  return { cluster, platform, routes };
}

async function versionsOf(url: string, n: number, headers: Record<string, string> = {}) {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const answer = await get(url, headers);
    const version = String(answer.headers['app-version']);
    seen.set(version, (seen.get(version) ?? 0) + 1);
  }
  return seen;
}

describe('the local platform', () => {
  it('sends traffic: test requests to v2 at weight 0, and every other request to v1', async () => {
    const { cluster, platform } = await setup();
    platform.deploy('v2');
    expect(await platform.observe()).toMatchObject({ candidateRevision: 'v2', canaryReady: false });
    await platform.apply({ type: 'createCanary', revision: 'v2' });
    expect((await platform.observe()).canaryReady).toBe(true);
    await platform.apply({
      type: 'setRoute',
      route: { weight: 0, match: testMatch, segment: [], sticky: null },
    });

    for (const pod of cluster.primaries) {
      expect(await versionsOf(`${pod.url}/`, 20, { traffic: 'test' })).toEqual(new Map([['v2', 20]]));
      expect(await versionsOf(`${pod.url}/`, 50)).toEqual(new Map([['v1', 50]]));
      expect((await get(`${pod.url}/`, { traffic: 'test' })).headers['x-sluice-route']).toBe('canary');
    }
  });

  it('promotes by rolling the primaries to the candidate, and reports them ready only when all are', async () => {
    const { cluster, platform, routes } = await setup();
    platform.deploy('v2');
    await platform.apply({ type: 'createCanary', revision: 'v2' });
    await platform.apply({ type: 'setRoute', route: { weight: 50, match: [], segment: [], sticky: null } });
    await platform.apply({ type: 'promote', revision: 'v2' });
    expect(await platform.observe()).toMatchObject({
      stableRevision: 'v2',
      candidateRevision: null,
      primaryReady: false,
    });
    await eventually('primaries on v2', async () => (await platform.observe()).primaryReady, {
      timeoutMs: 5_000,
    });

    await platform.apply({ type: 'setRoute', route: null });
    await platform.apply({ type: 'deleteCanary' });
    expect(cluster.canary).toBeNull();
    expect(routes.get('demo', 'podinfo').canary).toBeNull();
    for (const pod of cluster.primaries) {
      expect(await versionsOf(`${pod.url}/`, 10)).toEqual(new Map([['v2', 10]]));
    }
  });

  it('refuses a route to a canary that is not running', async () => {
    const { platform } = await setup();
    await expect(
      platform.apply({ type: 'setRoute', route: { weight: 10, match: [], segment: [], sticky: null } }),
    ).rejects.toBeInstanceOf(NoCanaryError);
  });
});
