import { describe, expect, it } from 'vitest';
import {
  defaultTestRate,
  demoReleaseConfig,
  InvalidReleaseOptionError,
  scenarioVersions,
} from '../../src/demo/config.js';

describe("the demo's release options", () => {
  it('mean what the annotations mean, with the demo defaults for the weights', () => {
    const config = demoReleaseConfig({ threshold: '2', match: 'traffic=test' }, 5_000);
    expect(config).toMatchObject({
      intervalMs: 5_000,
      weights: [1, 5, 10, 20, 35, 50],
      maxWeight: 50,
      threshold: 2,
      match: [{ header: 'traffic', exact: 'test' }],
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(demoReleaseConfig({ stepWeight: '25' }, 5_000).weights).toEqual([25, 50]);
  });

  it('take the interval down to 1s, below the annotation minimum', () => {
    expect(demoReleaseConfig({}, 1_000).intervalMs).toBe(1_000);
  });

  it('name the flag, not the annotation, when a value is bad, and report every bad value', () => {
    let caught: unknown;
    try {
      demoReleaseConfig({ maxWeight: '200', objectives: 'speed>3' }, 5_000);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidReleaseOptionError);
    const messages = (caught as InvalidReleaseOptionError).messages;
    expect(messages).toHaveLength(2);
    expect(messages.join('\n')).toMatch(/--max-weight/);
    expect(messages.join('\n')).toMatch(/--objectives/);
    expect(messages.join('\n')).not.toMatch(/sluice\.dev/);
  });

  it('refuse a regex that RE2 does not accept, as the webhook does, naming the flag', () => {
    expect(() => demoReleaseConfig({ segment: 'x-user~(a)\\1' }, 5_000)).toThrow(
      /--segment.*backreferences are not supported/,
    );
  });

  it('refuse a progress deadline that does not outlast one interval', () => {
    expect(() => demoReleaseConfig({ progressDeadline: '5s' }, 5_000)).toThrow(InvalidReleaseOptionError);
  });
});

describe('the demo scenarios', () => {
  it('release a healthy, a failing and a slow v2 over a healthy v1', () => {
    expect(scenarioVersions('good').candidate).toEqual({ version: 'v2', errorRate: 0, latencyMs: 0 });
    expect(scenarioVersions('bad').candidate.errorRate).toBe(0.3);
    expect(scenarioVersions('slow').candidate.latencyMs).toBe(800);
    expect(scenarioVersions('bad').stable).toEqual({ version: 'v1', errorRate: 0, latencyMs: 0 });
  });

  it('send enough test-header requests for min-requests in every window', () => {
    expect(defaultTestRate(10, 5_000)).toBe(3);
    expect(defaultTestRate(10, 1_000)).toBe(12);
    expect(defaultTestRate(0, 5_000)).toBe(1);
  });
});
