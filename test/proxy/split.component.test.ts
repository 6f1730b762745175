import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../proxy/proxy.js';
import type { RouteCanaryInput } from '../../src/routes/table.js';
import {
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

// One primary app, one canary app behind a canary-role proxy, one primary proxy fed by a real route server.
let primaryApp: Upstream;
let canaryApp: Upstream;
let canaryProxy: RunningProxy;
let proxy: RunningProxy;
let routes: RouteServer;
let url: string;

beforeAll(async () => {
  primaryApp = await startUpstream('v1');
  canaryApp = await startUpstream('v2');
  routes = await startRouteServer();
  canaryProxy = await startTestProxy({ appPort: canaryApp.port, role: 'canary', revision: 'v2' });
  proxy = await startTestProxy({ appPort: primaryApp.port, controlUrl: routes.url, revision: 'v1' });
  url = `http://127.0.0.1:${proxy.port}/`;
});

afterAll(async () => {
  await proxy.drain();
  await canaryProxy.drain();
  await routes.close();
  await primaryApp.close();
  await canaryApp.close();
});

async function publish(canary: Partial<RouteCanaryInput> | null): Promise<void> {
  const table = routes.store.set(
    'shop',
    'podinfo',
    canary === null ? null : { url: `http://127.0.0.1:${canaryProxy.port}`, weight: 0, ...canary },
  );
  await eventually(`route ${table.version}`, () => proxy.route().version === table.version, {
    timeoutMs: 5_000,
  });
}

describe('the proxy splits traffic as its route table says', () => {
  // Five standard deviations of a binomial count: a false failure about once in 3.5 million runs.
  it.each([0, 1, 10, 50, 100])('sends weight %i of 10,000 requests to the canary', async (weight) => {
    await publish({ weight });
    const n = 10_000;
    const { byBody, statuses } = await load(url, n, 16);
    expect(statuses.get(200)).toBe(n);
    const canary = byBody.get('v2') ?? 0;
    const p = weight / 100;
    const bound = 5 * Math.sqrt(n * p * (1 - p));
    expect(canary + (byBody.get('v1') ?? 0)).toBe(n);
    expect(Math.abs(canary - n * p)).toBeLessThanOrEqual(bound);
  });

  it('sends exact, regex and cookie matches to the canary at weight 0, and says so', async () => {
    await publish({
      weight: 0,
      match: [
        { header: 'traffic', exact: 'test' },
        { header: 'x-user', regex: '^qa-' },
        { cookie: 'canary', exact: 'always' },
      ],
    });
    for (const headers of [{ traffic: 'test' }, { 'x-user': 'qa-42' }, { cookie: 'x=1; canary=always' }]) {
      const answer = await get(url, headers);
      expect(answer.body).toBe('v2');
      expect(answer.headers['x-sluice-route']).toBe('canary');
    }
    const plain = await get(url, { traffic: 'prod' });
    expect(plain.body).toBe('v1');
    expect(plain.headers['x-sluice-route']).toBe('primary');
  });

  it('splits only the segment, and keeps everyone else on the primary', async () => {
    await publish({ weight: 50, segment: [{ header: 'country', exact: 'wakanda' }] });
    const others = await load(url, 500, 8, () => ({ country: 'genovia' }));
    expect(others.byBody.get('v1')).toBe(500);
    const wakanda = await load(url, 2_000, 8, () => ({ country: 'wakanda' }));
    const share = (wakanda.byBody.get('v2') ?? 0) / 2_000;
    expect(share).toBeGreaterThan(0.4);
    expect(share).toBeLessThan(0.6);
  });

  it('keeps sticky users on their side as the weight rises', async () => {
    const users = Array.from({ length: 400 }, (_, i) => `user-${i}`);
    const sides = async (): Promise<Map<string, string>> => {
      const seen = new Map<string, string>();
      for (const user of users) seen.set(user, (await get(url, { 'x-user': user })).body);
      return seen;
    };
    await publish({ weight: 20, sticky: 'x-user' });
    const at20 = await sides();
    expect(await sides()).toEqual(at20);
    await publish({ weight: 60, sticky: 'x-user' });
    const at60 = await sides();
    for (const user of users) if (at20.get(user) === 'v2') expect(at60.get(user)).toBe('v2');
    const moved = users.filter((u) => at20.get(u) === 'v1' && at60.get(u) === 'v2').length;
    expect(moved).toBeGreaterThan(0);
  });

  it('counts in its metrics exactly the requests it forwarded, with the constant labels', async () => {
    await publish({ weight: 30 });
    const before = await metricsText(proxy);
    const { byBody } = await load(url, 1_000, 8);
    const after = await metricsText(proxy);
    const delta = (destination: string): number =>
      sampleValue(after, 'sluice_proxy_requests_total', { destination, code: '200', method: 'GET' }) -
      sampleValue(before, 'sluice_proxy_requests_total', { destination, code: '200', method: 'GET' });
    expect(delta('canary')).toBe(byBody.get('v2'));
    expect(delta('local')).toBe(byBody.get('v1'));
    const histogramCount = (text: string): number =>
      sampleValue(text, 'sluice_proxy_request_duration_seconds_count');
    expect(histogramCount(after) - histogramCount(before)).toBe(1_000);
    expect(after).toContain('namespace="shop",deployment="podinfo",role="primary",revision="v1"');
    expect(sampleValue(after, 'sluice_proxy_route_weight')).toBe(30);
  });

  it('goes all local when the route is withdrawn', async () => {
    await publish(null);
    const { byBody } = await load(url, 200, 4);
    expect(byBody.get('v1')).toBe(200);
  });
});
