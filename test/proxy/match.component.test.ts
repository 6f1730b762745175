import type http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { runProxyProcess } from '../support/processes.js';
import { cleanupAfterEach, get, startRouteServer } from '../support/servers.js';
import { eventually } from '../support/eventually.js';

/**
 * A match regex that a backtracking engine needs exponential time for, against the header that
 * triggers it (issue 15): the proxy must route that request like any other and keep serving the rest.
 * With JavaScript's RegExp this request never left the proxy, and nothing else was answered after it.
 */

const { app, defer } = cleanupAfterEach(afterEach);

const EVIL_PATTERN = '^(a+)+$';
const EVIL_VALUE = `${'a'.repeat(4_000)}!`;

describe('header matching', () => {
  it('routes a crafted header against a catastrophic pattern while other requests flow', async () => {
    // The primary holds the crafted request once it has it, so that the other requests below are
    // answered while that one is still open: they overlap it by events, not by timing.
    const held: http.ServerResponse[] = [];
    let craftedArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (craftedArrived = resolve));
    const primary = await app('v1', (req, res) => {
      req.resume();
      if (req.headers['x-user'] === EVIL_VALUE) {
        held.push(res);
        craftedArrived();
        return;
      }
      res.end('v1');
    });
    const canary = await app('v2');
    const routes = await startRouteServer();
    defer(() => routes.close());
    const table = routes.store.set('shop', 'podinfo', {
      url: canary.url,
      weight: 0,
      match: [{ header: 'x-user', regex: EVIL_PATTERN }],
    });
    const proxy = await runProxyProcess([
      '--app-port',
      String(primary.port),
      '--control-url',
      routes.url,
      '--namespace',
      'shop',
      '--deployment',
      'podinfo',
      '--drain-delay',
      '0s',
    ]);
    defer(() => proxy.stop());
    await eventually(
      `route ${table.version} applied`,
      () => proxy.logs.some((l) => l['msg'] === 'routeApplied' && l['version'] === table.version),
      { timeoutMs: 10_000 },
    );
    const url = `http://127.0.0.1:${proxy.port}/`;

    const crafted = get(url, { 'x-user': EVIL_VALUE });
    await arrived;
    const during = await Promise.all([
      get(url, { 'x-user': 'aaaa' }),
      get(url, { 'x-user': 'qa-17' }),
      get(url),
      // More crafted headers, answered at once this time (the primary holds only the exact one above).
      ...Array.from({ length: 20 }, (_, i) => get(url, { 'x-user': `${'a'.repeat(4_001 + i)}!` })),
    ]);
    expect(during.map((a) => a.body)).toEqual(['v2', 'v1', 'v1', ...Array<string>(20).fill('v1')]);

    for (const res of held) res.end('v1');
    expect((await crafted).body).toBe('v1');
    expect(proxy.child.exitCode).toBeNull();
  });
});
