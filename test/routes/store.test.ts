import { afterEach, describe, expect, it, vi } from 'vitest';
import { RouteStore } from '../../src/routes/server.js';

const canary = { url: 'http://podinfo-canary.shop:9898', weight: 10 };

describe('the route store', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('wakes a waiting long-poll when the table changes, and leaves no hold timer behind', async () => {
    vi.useFakeTimers();
    const store = new RouteStore();
    const wait = store.waitForChange('shop', 'podinfo', 30_000);
    expect(vi.getTimerCount()).toBe(1);
    store.set('shop', 'podinfo', canary);
    await wait.changed;
    expect(vi.getTimerCount()).toBe(0);
  });

  it('ends a hold after its time when nothing changes', async () => {
    vi.useFakeTimers();
    const store = new RouteStore();
    const wait = store.waitForChange('shop', 'podinfo', 30_000);
    vi.advanceTimersByTime(30_000);
    await wait.changed;
    expect(store.get('shop', 'podinfo').canary).toBeNull();
  });
});
