import { describe, expect, it } from 'vitest';
import { defaultCanaryConfig, parseCanaryAnnotations } from '../../src/annotations.js';

const parse = (value: string) =>
  parseCanaryAnnotations({ 'sluice.dev/canary': 'enabled', 'sluice.dev/notifications': value });

describe('sluice.dev/notifications', () => {
  it("posts a release's start and end by default; false opts out, steps adds each step", () => {
    expect(defaultCanaryConfig().notifications).toBe('releases');
    expect(parse('true')).toMatchObject({ ok: true, config: { notifications: 'releases' } });
    expect(parse('false')).toMatchObject({ ok: true, config: { notifications: 'off' } });
    expect(parse(' steps ')).toMatchObject({ ok: true, config: { notifications: 'steps' } });
  });

  it('denies another value, naming the allowed ones', () => {
    const result = parse('no');
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors.map((e) => e.message)).toEqual([
        'sluice.dev/notifications: "no" is not valid: expected one of true, false, steps',
      ]);
    }
  });
});
