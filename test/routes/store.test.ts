import { afterEach, describe, expect, it, vi } from 'vitest';
import { RouteStore, type PublishedTable } from '../../src/routes/server.js';

const canary = { url: 'http://podinfo-canary.shop:9898', weight: 10 };

describe('the route store', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('wakes a waiting long-poll when the table changes, and leaves no hold timer behind', () => {
    vi.useFakeTimers();
    const store = new RouteStore();
    const answers: PublishedTable[] = [];
    store.hold('shop', 'podinfo', 30_000, (published) => answers.push(published));
    expect(vi.getTimerCount()).toBe(1);
    const table = store.set('shop', 'podinfo', canary);
    expect(answers.map((a) => a.table)).toEqual([table]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('ends a hold after its time with the table it had', () => {
    vi.useFakeTimers();
    const store = new RouteStore();
    const answers: PublishedTable[] = [];
    store.hold('shop', 'podinfo', 30_000, (published) => answers.push(published));
    vi.advanceTimersByTime(30_000);
    expect(answers.map((a) => a.table.canary)).toEqual([null]);
  });

  it('answers nothing to a cancelled hold, on a change or after its time', () => {
    vi.useFakeTimers();
    const store = new RouteStore();
    const answers: PublishedTable[] = [];
    const cancel = store.hold('shop', 'podinfo', 30_000, (published) => answers.push(published));
    cancel();
    expect(vi.getTimerCount()).toBe(0);
    store.set('shop', 'podinfo', canary);
    vi.advanceTimersByTime(30_000);
    expect(answers).toEqual([]);
  });

  it('serialises a table once: every waiter gets the same bytes, which parse back to the table', () => {
    const store = new RouteStore();
    const answers: PublishedTable[] = [];
    for (let i = 0; i < 3; i++) store.hold('shop', 'podinfo', 30_000, (published) => answers.push(published));
    const table = store.set('shop', 'podinfo', canary);
    const [first] = answers;
    expect(answers.every((a) => a.body === first?.body)).toBe(true);
    expect(JSON.parse(String(first?.body))).toEqual(table);
    expect(first?.headers).toEqual([
      'content-type',
      'application/json',
      'content-length',
      String(first?.body.length),
      'etag',
      `"${table.version}"`,
    ]);
  });
});
