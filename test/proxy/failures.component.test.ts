import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listen } from '../../src/server.js';
import {
  closeAll,
  get,
  load,
  metricsText,
  sampleValue,
  startRouteServer,
  startTestProxy,
  cleanupAfterEach,
} from '../support/servers.js';
import { eventually } from '../support/eventually.js';

const { app, defer } = cleanupAfterEach(afterEach);

async function proxyFor(appPort: number, overrides: Parameters<typeof startTestProxy>[0] | object = {}) {
  const proxy = await startTestProxy({ appPort, ...overrides });
  defer(() => proxy.drain());
  return proxy;
}

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const table = (url: string, weight: number) => ({
  version: `t-${weight}`,
  canary: { url, weight, match: [], segment: [], sticky: null },
});

describe('when the canary fails', () => {
  it('answers every request from the local app and counts the fallbacks', async () => {
    const primary = await app('v1');
    const proxy = await proxyFor(primary.port);
    proxy.applyRoute(table(`http://127.0.0.1:${await closedPort()}`, 50));
    const { byBody, statuses } = await load(`http://127.0.0.1:${proxy.port}/`, 1_000, 8);
    expect(statuses.get(200)).toBe(1_000);
    expect(byBody.get('v1')).toBe(1_000);
    const metrics = await metricsText(proxy);
    const fallbacks = sampleValue(metrics, 'sluice_proxy_canary_fallbacks_total');
    expect(fallbacks).toBeGreaterThan(350);
    expect(sampleValue(metrics, 'sluice_proxy_requests_total', { destination: 'canary', code: '502' })).toBe(
      fallbacks,
    );
    expect(sampleValue(metrics, 'sluice_proxy_requests_total', { destination: 'local', code: '200' })).toBe(
      1_000,
    );
    // Each fallback's connection to the app went back to the pool: 8 clients need a few, not hundreds.
    expect(primary.connections).toBeLessThanOrEqual(16);
  });

  it('retries a refused POST on the local app with its whole body', async () => {
    const primary = await app('v1', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(`v1 got ${Buffer.concat(chunks).toString()}`));
    });
    const proxy = await proxyFor(primary.port);
    proxy.applyRoute(table(`http://127.0.0.1:${await closedPort()}`, 100));
    const res = await fetch(`http://127.0.0.1:${proxy.port}/orders`, { method: 'POST', body: 'one order' });
    expect(await res.text()).toBe('v1 got one order');
  });

  it('answers 504 naming the upstream when it does not answer in time', async () => {
    const slow = await app('slow', (_req, res) => setTimeout(() => res.end('late'), 2_000).unref());
    const proxy = await proxyFor(slow.port, { upstreamTimeoutMs: 200 });
    const answer = await get(`http://127.0.0.1:${proxy.port}/`);
    expect(answer.status).toBe(504);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'upstream timed out', upstream: 'local app' });
  });

  it('answers 502 with a JSON reason when the local app is down', async () => {
    const proxy = await proxyFor(await closedPort());
    const answer = await get(`http://127.0.0.1:${proxy.port}/`);
    expect(answer.status).toBe(502);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'upstream failed', upstream: 'local app' });
  });
});

describe('when the route server goes away', () => {
  it('keeps the last table, then goes all local after the TTL, and says so in its metrics', async () => {
    const primary = await app('v1');
    const canary = await app('v2');
    const routes = await startRouteServer();
    const proxy = await proxyFor(primary.port, { controlUrl: routes.url, routeTtlMs: 1_500 });
    const published = routes.store.set('shop', 'podinfo', { url: canary.url, weight: 100 });
    await eventually('condition', () => proxy.route().version === published.version);
    await routes.close();
    // Within the TTL: still on the last table.
    expect((await get(`http://127.0.0.1:${proxy.port}/`)).body).toBe('v2');
    await eventually('the all-local fallback', () => proxy.route().canary === null, { timeoutMs: 5_000 });
    expect((await get(`http://127.0.0.1:${proxy.port}/`)).body).toBe('v1');
    const metrics = await metricsText(proxy);
    expect(sampleValue(metrics, 'sluice_proxy_route_stale')).toBe(1);
  });
});

describe('invalid route tables', () => {
  it.each([
    ['a weight of 250', { url: 'http://127.0.0.1:1', weight: 250 }],
    ['a broken regex', { url: 'http://127.0.0.1:1', weight: 5, match: [{ header: 'x', regex: '(' }] }],
    ['a weight that is a string', { url: 'http://127.0.0.1:1', weight: '10' }],
    ['a URL that is not http', { url: 'ftp://canary', weight: 10 }],
    [
      'an unknown field in a match',
      { url: 'http://127.0.0.1:1', weight: 1, match: [{ header: 'x', exact: 'y', not: true }] },
    ],
  ])('rejects %s and keeps the previous table', async (_what, badCanary) => {
    const primary = await app('v1');
    const canary = await app('v2');
    let body: unknown = { version: 'good', canary: { url: canary.url, weight: 100 } };
    let pollsAfterBad = 0;
    const server = http.createServer((req, res) => {
      const known = req.headers['if-none-match'];
      if (known === '"bad"') pollsAfterBad++;
      const version = (body as { version: string }).version;
      if (known === `"${version}"`) {
        setTimeout(() => {
          res.writeHead(304);
          res.end();
        }, 200);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    const port = await listen(server, 0, '127.0.0.1');
    defer(() => closeAll(server));
    const proxy = await proxyFor(primary.port, { controlUrl: `http://127.0.0.1:${port}` });
    await eventually('condition', () => proxy.route().version === 'good');
    body = { version: 'bad', canary: badCanary };
    // The proxy remembers a rejected version so as not to spin on it: its poll that names it proves that it
    // has read the bad table and decided on it.
    await eventually('the proxy to poll again after the bad table', () => pollsAfterBad > 0, {
      timeoutMs: 10_000,
    });
    expect(proxy.route().version).toBe('good');
    expect((await get(`http://127.0.0.1:${proxy.port}/`)).body).toBe('v2');
  });
});

describe('bad requests', () => {
  it('answers malformed requests with 400 and oversized headers with 431, and stays up', async () => {
    const primary = await app('v1');
    const proxy = await proxyFor(primary.port);
    const raw = (text: string) =>
      new Promise<string>((resolve) => {
        const socket = net.connect(proxy.port, '127.0.0.1', () => socket.end(text));
        let out = '';
        socket.on('data', (d) => (out += d.toString()));
        socket.on('close', () => resolve(out));
        socket.on('error', () => resolve(out));
      });
    expect(await raw('NONSENSE\r\n\r\n')).toMatch(/^HTTP\/1.1 400/);
    expect(await raw(`GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(40_000)}\r\n\r\n`)).toMatch(
      /^HTTP\/1.1 431/,
    );
    expect(
      await raw('GET / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n'),
    ).toMatch(/^HTTP\/1.1 400/);
    expect((await get(`http://127.0.0.1:${proxy.port}/`)).body).toBe('v1');
  });
});

describe('connections', () => {
  it('keeps connections to the app alive across requests', async () => {
    const primary = await app('v1');
    const proxy = await proxyFor(primary.port);
    await load(`http://127.0.0.1:${proxy.port}/`, 500, 1);
    expect(primary.requests).toBe(500);
    expect(primary.connections).toBeLessThanOrEqual(2);
  });

  it('passes a client abort on to the app', async () => {
    let aborted = false;
    const primary = await app('v1', (req) => req.on('close', () => (aborted = true)));
    const proxy = await proxyFor(primary.port);
    const controller = new AbortController();
    const pending = fetch(`http://127.0.0.1:${proxy.port}/hang`, { signal: controller.signal }).catch(
      () => 'aborted',
    );
    await eventually('condition', () => primary.requests === 1);
    controller.abort();
    expect(await pending).toBe('aborted');
    await eventually('the app to see the abort', () => aborted, { timeoutMs: 5_000 });
    await eventually(
      'condition',
      async () => sampleValue(await metricsText(proxy), 'sluice_proxy_requests_total', { code: '499' }) === 1,
    );
  });

  it('sends X-Forwarded-For and -Proto, and no hop-by-hop headers, to the app', async () => {
    let seen: http.IncomingHttpHeaders = {};
    const primary = await app('v1', (req, res) => {
      seen = req.headers;
      res.end('ok');
    });
    const proxy = await proxyFor(primary.port);
    await get(`http://127.0.0.1:${proxy.port}/`, { 'x-forwarded-for': '203.0.113.9', 'x-sluice-hop': '1' });
    expect(seen['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-sluice-hop']).toBeUndefined();
  });
});
