import { afterEach, describe, expect, it } from 'vitest';
import { assertLoopback, NotLoopbackError, startLoad } from '../../src/demo/load.js';
import { cleanupAfterEach } from '../support/servers.js';

const { app } = cleanupAfterEach(afterEach);

describe("the demo's load generator", () => {
  it('refuses any target off loopback', () => {
    expect(() => assertLoopback('http://10.0.0.1:80')).toThrow(NotLoopbackError);
    expect(() => assertLoopback('http://podinfo.shop:9898')).toThrow(NotLoopbackError);
    expect(() => startLoad({ ...options, targets: ['http://192.168.1.1:80'] })).toThrow(NotLoopbackError);
    expect(() => assertLoopback('http://127.0.0.1:8080')).not.toThrow();
    expect(() => assertLoopback('http://[::1]:8080')).not.toThrow();
  });

  it('stops at its request bound, spreads over the targets and counts the test-header requests', async () => {
    const a = await app('a');
    const b = await app('b');
    const load = startLoad({ ...options, targets: [a.url, b.url], maxRequests: 60 });
    const totals = await load.done.then(() => load.stop());
    expect(totals.requests).toBe(60);
    expect(a.requests + b.requests).toBe(60);
    expect(Math.abs(a.requests - b.requests)).toBeLessThanOrEqual(1);
    expect(totals.testRequests).toBeGreaterThan(0);
    expect(totals).toMatchObject({ failures: 0, canaryRequests: 0 });
  });

  it('sends the segment headers with its share of the ordinary requests', async () => {
    const a = await app('a');
    const segment = { headers: { country: 'wakanda' }, share: 0.5 };
    const load = startLoad({ ...options, testRate: 0, targets: [a.url], maxRequests: 40, segment });
    const totals = await load.done.then(() => load.stop());
    expect(totals).toMatchObject({ requests: 40, segmentRequests: 20, segmentCanaryRequests: 0 });
  });

  it('stops at its time bound', async () => {
    const a = await app('a');
    const start = Date.now();
    const load = startLoad({ ...options, targets: [a.url], maxDurationMs: 300 });
    await load.done;
    await load.stop();
    expect(Date.now() - start).toBeLessThan(2_000);
  });
});

const options = {
  targets: [] as string[],
  rate: 200,
  testRate: 50,
  testHeader: { name: 'traffic', value: 'test' },
  maxRequests: 10_000,
  maxDurationMs: 10_000,
};
