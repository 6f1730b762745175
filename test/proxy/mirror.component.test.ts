import type http from 'node:http';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../proxy/proxy.js';
import type { RouteCanaryInput } from '../../src/routes/table.js';
import { freePort } from '../support/processes.js';
import {
  cleanupAfterEach,
  get,
  load,
  metricsText,
  sampleValue,
  startRouteServer,
  startTestProxy,
  startUpstream,
  type RouteServer,
  type Upstream,
} from '../support/servers.js';
import { eventually } from '../support/eventually.js';

// One primary app behind a primary proxy fed by a real route server; the canary app behind a canary-role
// proxy, as in a cluster. Each test publishes the table it needs.
let primaryApp: Upstream;
let canaryApp: Upstream;
let canaryProxy: RunningProxy;
let routes: RouteServer;
/** What the canary app saw of each request: method and the headers a copy carries. */
const seen: { method: string; mirror: string | undefined; hop: string | undefined }[] = [];
const { defer } = cleanupAfterEach(afterEach);

beforeAll(async () => {
  primaryApp = await startUpstream('v1');
  canaryApp = await startUpstream('v2', (req, res) => {
    seen.push({
      method: req.method ?? '',
      mirror: header(req, 'x-sluice-mirror'),
      hop: header(req, 'x-sluice-hop'),
    });
    req.resume();
    req.on('end', () => res.end('v2'));
  });
  routes = await startRouteServer();
  canaryProxy = await startTestProxy({ appPort: canaryApp.port, role: 'canary', revision: 'v2' });
});

afterAll(async () => {
  await canaryProxy.drain();
  await routes.close();
  await primaryApp.close();
  await canaryApp.close();
});

afterEach(() => {
  seen.length = 0;
});

const header = (req: http.IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

async function primaryProxy(
  canary: Partial<RouteCanaryInput> & { url?: string },
  options: { mirrorMaxInFlight?: number } = {},
): Promise<{ proxy: RunningProxy; url: string; deployment: string }> {
  const deployment = `podinfo-${Math.random().toString(36).slice(2, 8)}`;
  const proxy = await startTestProxy({
    appPort: primaryApp.port,
    controlUrl: routes.url,
    deployment,
    revision: 'v1',
    ...options,
  });
  defer(() => proxy.drain());
  const table = routes.store.set('shop', deployment, {
    url: `http://127.0.0.1:${canaryProxy.port}`,
    weight: 0,
    ...canary,
  });
  await eventually(`route ${table.version}`, () => proxy.route().version === table.version, {
    timeoutMs: 5_000,
  });
  return { proxy, url: `http://127.0.0.1:${proxy.port}/`, deployment };
}

const mirrored = async (proxy: RunningProxy, labels: Record<string, string> = {}): Promise<number> =>
  sampleValue(await metricsText(proxy), 'sluice_proxy_requests_total', { destination: 'mirror', ...labels });

describe('mirroring copies requests to the canary and drops its answers', () => {
  // Five standard deviations of a binomial count: a false failure about once in 3.5 million runs.
  it('copies close to the share of 4,000 GETs and answers every one from the primary', async () => {
    const { proxy, url } = await primaryProxy({ mirror: 25 });
    const n = 4_000;
    const { byBody, statuses } = await load(url, n, 16);
    expect(statuses.get(200)).toBe(n);
    expect(byBody.get('v1')).toBe(n);

    // Every copy answered and counted: the canary saw exactly what the proxy counts as mirrored.
    await eventually('copies', async () => (await mirrored(proxy, { code: '200' })) === seen.length, {
      timeoutMs: 10_000,
    });
    const bound = 5 * Math.sqrt(n * 0.25 * 0.75);
    expect(Math.abs(seen.length - n * 0.25)).toBeLessThanOrEqual(bound);
    // The canary's proxy takes the hop header off; the mirror header reaches the app.
    expect(seen.every((s) => s.mirror === '1' && s.hop === undefined && s.method === 'GET')).toBe(true);
    const text = await metricsText(proxy);
    expect(sampleValue(text, 'sluice_proxy_requests_total', { destination: 'local' })).toBe(n);
    expect(sampleValue(text, 'sluice_proxy_requests_total', { destination: 'canary' })).toBe(0);
    expect(sampleValue(text, 'sluice_proxy_request_duration_seconds_count', { destination: 'mirror' })).toBe(
      seen.length,
    );
  });

  it('copies GET, HEAD and OPTIONS, never a request that may change something or has a body', async () => {
    const { proxy, url } = await primaryProxy({ mirror: 100 });
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      expect((await get(url, { 'content-type': 'text/plain' }, method)).body).toBe('v1');
    }
    const withBody = await fetch(url, { method: 'POST', body: 'order=1' });
    expect(await withBody.text()).toBe('v1');
    for (const method of ['GET', 'HEAD', 'OPTIONS']) await get(url, {}, method);

    // Copies start as their request is forwarded, in order: once the last is counted, any copy of the
    // earlier ones would have been too.
    await eventually('three copies', async () => (await mirrored(proxy)) === 3, { timeoutMs: 5_000 });
    expect(seen.map((s) => s.method).sort()).toEqual(['GET', 'HEAD', 'OPTIONS']);
  });

  it('still sends test-header traffic to the canary, and copies only what the primary answers', async () => {
    const { proxy, url } = await primaryProxy({ mirror: 100, match: [{ header: 'traffic', exact: 'test' }] });
    const tested = await get(url, { traffic: 'test' });
    expect(tested.body).toBe('v2');
    expect(tested.headers['x-sluice-route']).toBe('canary');
    expect((await get(url)).body).toBe('v1');
    await eventually('one copy', async () => (await mirrored(proxy)) === 1, { timeoutMs: 5_000 });
    expect(seen.map((s) => s.mirror)).toEqual([undefined, '1']);
  });

  it('stops copying when the table no longer mirrors', async () => {
    const { proxy, url, deployment } = await primaryProxy({ mirror: 100 });
    await get(url);
    await eventually('one copy', async () => (await mirrored(proxy)) === 1, { timeoutMs: 5_000 });
    const table = routes.store.set('shop', deployment, {
      url: `http://127.0.0.1:${canaryProxy.port}`,
      weight: 0,
    });
    await eventually('route without mirror', () => proxy.route().version === table.version, {
      timeoutMs: 5_000,
    });
    // Requests are forwarded one at a time on a connection, and a copy starts as its request is
    // forwarded: once the last answer is in, a copy of any of them would have been counted.
    for (let i = 0; i < 20; i++) expect((await get(url)).body).toBe('v1');
    expect(await mirrored(proxy)).toBe(1);
  });
});

describe('a canary that fails the copies costs the user nothing', () => {
  it('answers every user while the canary holds every copy unanswered, and bounds the copies', async () => {
    // A canary that reads requests and never answers: each held request is an event the test can see.
    const held = new Set<net.Socket>();
    let copies = 0;
    const silent = net.createServer((socket) => {
      held.add(socket);
      socket.on('data', () => copies++);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    defer(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of held) socket.destroy();
          silent.close(() => resolve());
        }),
    );
    const port = (silent.address() as net.AddressInfo).port;
    const { proxy, url } = await primaryProxy(
      { url: `http://127.0.0.1:${port}`, mirror: 100 },
      { mirrorMaxInFlight: 8 },
    );

    const n = 200;
    const { byBody, statuses } = await load(url, n, 4);
    // Every user answered by the primary while no copy was answered: none of them waited on a copy.
    expect(statuses.get(200)).toBe(n);
    expect(byBody.get('v1')).toBe(n);
    await eventually('the canary holding eight copies', () => copies === 8, { timeoutMs: 5_000 });
    expect(await mirrored(proxy)).toBe(0);
    const text = await metricsText(proxy);
    expect(sampleValue(text, 'sluice_proxy_mirror_dropped_total')).toBe(n - 8);

    // Once the canary lets go, the held copies count as its failures, under their own label.
    for (const socket of held) socket.destroy();
    await eventually('held copies cut', async () => (await mirrored(proxy, { code: '502' })) === 8, {
      timeoutMs: 5_000,
    });
  });

  it('counts copies to a canary that is down as its errors, and answers every user', async () => {
    const { proxy, url } = await primaryProxy({ url: `http://127.0.0.1:${await freePort()}`, mirror: 100 });
    const n = 100;
    const { byBody, statuses } = await load(url, n, 4);
    expect(statuses.get(200)).toBe(n);
    expect(byBody.get('v1')).toBe(n);
    await eventually('failed copies', async () => (await mirrored(proxy, { code: '502' })) === n, {
      timeoutMs: 5_000,
    });
    const text = await metricsText(proxy);
    expect(sampleValue(text, 'sluice_proxy_requests_total', { destination: 'local', code: '200' })).toBe(n);
    expect(sampleValue(text, 'sluice_proxy_canary_fallbacks_total')).toBe(0);
  });
});
