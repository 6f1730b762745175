import { describe, expect, it } from 'vitest';
import {
  BUCKETS,
  chooseDestination,
  compileRoute,
  cookieValue,
  rawHeaderReader,
  stickyBucket,
  type CompiledRoute,
} from '../../proxy/router.js';
import { routeTableSchema, type RouteCanaryInput } from '../../src/routes/table.js';

const route = (canary: Partial<RouteCanaryInput> | null): CompiledRoute =>
  compileRoute(
    routeTableSchema.parse({
      version: 'v1',
      canary: canary === null ? null : { url: 'http://podinfo-canary.shop:9898', weight: 0, ...canary },
    }),
  );

const headers = (h: Record<string, string>) => rawHeaderReader(Object.entries(h).flat());
const never = () => {
  throw new Error('random must not be drawn');
};

describe('route choice', () => {
  it('sends everything local when there is no canary', () => {
    expect(chooseDestination(route(null), 'primary', headers({ traffic: 'test' }), never)).toBe('local');
  });

  it('never forwards a request that a proxy already forwarded (the loop guard)', () => {
    const r = route({ weight: 100, match: [{ header: 'traffic', exact: 'test' }] });
    expect(chooseDestination(r, 'primary', headers({ 'X-Sluice-Hop': '1', traffic: 'test' }), never)).toBe(
      'local',
    );
  });

  it('keeps everything local in a canary pod', () => {
    expect(chooseDestination(route({ weight: 100 }), 'canary', headers({}), never)).toBe('local');
  });

  it('sends exact, regex and cookie matches to the canary at weight 0', () => {
    const r = route({
      match: [
        { header: 'traffic', exact: 'test' },
        { header: 'x-user', regex: '^qa-' },
        { cookie: 'canary', exact: 'always' },
      ],
    });
    expect(chooseDestination(r, 'primary', headers({ Traffic: 'test' }), never)).toBe('canary');
    expect(chooseDestination(r, 'primary', headers({ 'x-user': 'qa-17' }), never)).toBe('canary');
    expect(chooseDestination(r, 'primary', headers({ cookie: 'a=1; canary=always' }), never)).toBe('canary');
    expect(chooseDestination(r, 'primary', headers({ traffic: 'prod', 'x-user': 'bob-qa-1' }), never)).toBe(
      'local',
    );
    expect(chooseDestination(r, 'primary', headers({ cookie: 'canary=never' }), never)).toBe('local');
  });

  it('applies the weight only inside the segment', () => {
    const r = route({ weight: 100, segment: [{ header: 'country', exact: 'wakanda' }] });
    expect(chooseDestination(r, 'primary', headers({ country: 'wakanda' }), () => 0.5)).toBe('canary');
    expect(chooseDestination(r, 'primary', headers({ country: 'genovia' }), never)).toBe('local');
    expect(chooseDestination(r, 'primary', headers({}), never)).toBe('local');
  });

  it('lets a match win over the segment', () => {
    const r = route({
      weight: 0,
      match: [{ header: 'traffic', exact: 'test' }],
      segment: [{ header: 'country', exact: 'wakanda' }],
    });
    expect(chooseDestination(r, 'primary', headers({ traffic: 'test' }), never)).toBe('canary');
  });

  it('splits by weight with a random draw', () => {
    const r = route({ weight: 10 });
    expect(chooseDestination(r, 'primary', headers({}), () => 0.0999)).toBe('canary');
    expect(chooseDestination(r, 'primary', headers({}), () => 0.1)).toBe('local');
  });

  it('keeps a sticky key on one side at a fixed weight, without drawing', () => {
    const r = route({ weight: 50, sticky: 'x-user' });
    const first = chooseDestination(r, 'primary', headers({ 'x-user': 'alice' }), never);
    for (let i = 0; i < 10; i++) {
      expect(chooseDestination(r, 'primary', headers({ 'x-user': 'alice' }), never)).toBe(first);
    }
  });

  it('falls back to a random draw when the sticky key is absent', () => {
    const r = route({ weight: 50, sticky: 'cookie:session' });
    expect(chooseDestination(r, 'primary', headers({}), () => 0.2)).toBe('canary');
    expect(chooseDestination(r, 'primary', headers({}), () => 0.7)).toBe('local');
  });

  it('only moves sticky keys from primary to canary when the weight rises', () => {
    const keys = Array.from({ length: 5_000 }, (_, i) => `user-${i}`);
    let previous = new Set<string>();
    for (const weight of [1, 5, 10, 25, 50, 75, 100]) {
      const r = route({ weight, sticky: 'x-user' });
      const onCanary = new Set(
        keys.filter((k) => chooseDestination(r, 'primary', headers({ 'x-user': k }), never) === 'canary'),
      );
      for (const k of previous) expect(onCanary.has(k)).toBe(true);
      expect(onCanary.size / keys.length).toBeCloseTo(weight / 100, 1);
      previous = onCanary;
    }
  });

  it('spreads sticky buckets evenly', () => {
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const b = Math.floor(stickyBucket(`session-${i}`) / (BUCKETS / 10));
      counts[b] = (counts[b] ?? 0) + 1;
    }
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });
});

describe('cookie values', () => {
  it('finds a cookie among others and trims it', () => {
    expect(cookieValue('a=1; session=xyz ; b=2', 'session')).toBe('xyz');
    expect(cookieValue('a=1', 'session')).toBeUndefined();
    expect(cookieValue(undefined, 'session')).toBeUndefined();
  });
});
