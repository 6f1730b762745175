import { describe, expect, it } from 'vitest';
import {
  BUCKETS,
  chooseDestination,
  compileRoute,
  compileValueTest,
  cookieValue,
  rawHeaderReader,
  shouldMirror,
  stickyBucket,
  type CompiledRoute,
} from '../../proxy/router.js';
import { compileHeaderRegex } from '../../src/match.js';
import { routeTableSchema, type RouteCanaryInput } from '../../src/routes/table.js';
import { seededRandom } from '../support/random.js';

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

  it('matches in RE2 syntax, a catastrophic pattern included', () => {
    const r = route({
      match: [
        { header: 'x-user', regex: '(?i)^qa-' },
        { header: 'x-team', regex: '^(a+)+$' },
      ],
    });
    expect(chooseDestination(r, 'primary', headers({ 'x-user': 'QA-17' }), never)).toBe('canary');
    expect(chooseDestination(r, 'primary', headers({ 'x-team': 'a'.repeat(4_000) }), never)).toBe('canary');
    expect(chooseDestination(r, 'primary', headers({ 'x-team': `${'a'.repeat(4_000)}!` }), never)).toBe(
      'local',
    );
  });

  it('refuses a whole table when one regex is not RE2 syntax', () => {
    const parsed = routeTableSchema.safeParse({
      version: 'v1',
      canary: {
        url: 'http://podinfo-canary.shop:9898',
        weight: 10,
        match: [{ header: 'traffic', exact: 'test' }],
        segment: [{ header: 'x-user', regex: '^(?!bot)' }],
      },
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['canary', 'segment', 0, 'regex']);
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

describe('mirror choice', () => {
  const get = (r: CompiledRoute, h: Record<string, string> = {}, random = () => 0) =>
    shouldMirror(r, 'primary', 'GET', false, headers(h), random);

  it('mirrors nothing without a mirror share, without drawing', () => {
    expect(get(route({ weight: 0 }), {}, never)).toBe(false);
    expect(get(route({ weight: 0, mirror: 0 }), {}, never)).toBe(false);
    expect(get(route(null), {}, never)).toBe(false);
  });

  it('copies the share of requests by a random draw, every one at 100', () => {
    const r = route({ mirror: 20 });
    expect(get(r, {}, () => 0.1999)).toBe(true);
    expect(get(r, {}, () => 0.2)).toBe(false);
    expect(get(route({ mirror: 100 }), {}, never)).toBe(true);
  });

  it('copies GET, HEAD and OPTIONS only, and none with a body', () => {
    const r = route({ mirror: 100 });
    for (const method of ['GET', 'HEAD', 'OPTIONS'])
      expect(shouldMirror(r, 'primary', method, false, headers({}), never)).toBe(true);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'])
      expect(shouldMirror(r, 'primary', method, false, headers({}), never)).toBe(false);
    expect(shouldMirror(r, 'primary', 'GET', true, headers({}), never)).toBe(false);
  });

  it('never copies in a canary pod, nor a request another proxy forwarded', () => {
    const r = route({ mirror: 100 });
    expect(shouldMirror(r, 'canary', 'GET', false, headers({}), never)).toBe(false);
    expect(get(r, { 'x-sluice-hop': '1' }, never)).toBe(false);
  });

  it('copies close to the share over many requests', () => {
    const r = route({ mirror: 30 });
    const random = seededRandom(7);
    let copied = 0;
    for (let i = 0; i < 20_000; i++) if (get(r, {}, random)) copied++;
    expect(copied / 20_000).toBeCloseTo(0.3, 1);
  });
});

describe('header regexes', () => {
  // Literal alternations run on RegExp, for speed; RE2, which runs everything else, is the oracle.
  const PATTERNS = [
    '^qa-',
    '@example\\.com$',
    '^(de|fr|it)$',
    '(iPhone|Android)',
    'a|b$',
    '^x(?:y|)z',
    '\\(\\)\\$',
    '',
    '^[a-z]+$',
    '(?i)qa',
    '^(a+)+$',
    'a.c',
  ];
  const next = seededRandom(15);
  const values = Array.from({ length: 2_000 }, () =>
    Array.from(
      { length: Math.floor(next() * 12) },
      () => 'qa-dfritezyxbcAiPhone@$().'[Math.floor(next() * 26)],
    ).join(''),
  );

  it.each(PATTERNS)('finds %j where RE2 does', (pattern) => {
    const proxy = compileValueTest(pattern);
    const re2 = compileHeaderRegex(pattern);
    for (const value of [
      ...values,
      'qa-',
      'x@example.com',
      'fr',
      'iPhone',
      'b',
      'xz',
      'xyz',
      '()$',
      'a'.repeat(30),
    ]) {
      expect(proxy.test(value), `${pattern} on ${JSON.stringify(value)}`).toBe(re2.test(value));
    }
  });
});

describe('cookie values', () => {
  it('finds a cookie among others and trims it', () => {
    expect(cookieValue('a=1; session=xyz ; b=2', 'session')).toBe('xyz');
    expect(cookieValue('a=1', 'session')).toBeUndefined();
    expect(cookieValue(undefined, 'session')).toBeUndefined();
  });
});
