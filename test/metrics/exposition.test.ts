import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BadExpositionError } from '../../src/metrics/errors.js';
import { parseExposition, seriesKey } from '../../src/metrics/exposition.js';

const fixture = readFileSync(new URL('../fixtures/metrics/primary-proxy.txt', import.meta.url), 'utf8');

describe('the Prometheus text format', () => {
  it('reads every sample of a proxy, skipping comments and blank lines', () => {
    const samples = parseExposition(fixture);
    expect(samples).toHaveLength(16);
    expect(samples[1]).toEqual({
      name: 'sluice_proxy_requests_total',
      labels: {
        destination: 'canary',
        code: '200',
        method: 'GET',
        namespace: 'shop',
        deployment: 'podinfo',
        role: 'primary',
        revision: 'abc123',
      },
      value: 90,
    });
  });

  it('reads escaped label values, special values, timestamps and series without labels', () => {
    const samples = parseExposition(
      ['a{path="C:\\\\x \\"q\\"\\n",b="1",} +Inf', 'b NaN 1700000000000', 'c{} -Inf', 'd 1.5e3'].join('\n'),
    );
    expect(samples[0]).toEqual({ name: 'a', labels: { path: 'C:\\x "q"\n', b: '1' }, value: Infinity });
    expect(samples[1]?.value).toBeNaN();
    expect(samples[2]).toEqual({ name: 'c', labels: {}, value: -Infinity });
    expect(samples[3]?.value).toBe(1500);
  });

  it.each(['metric{a="1" 2', 'metric{a=1} 2', 'metric', 'metric{a="\\x"} 1', '{a="1"} 2'])(
    'rejects %j, naming the line',
    (line) => {
      expect(() => parseExposition(`ok 1\n${line}`)).toThrow(BadExpositionError);
      try {
        parseExposition(`ok 1\n${line}`);
      } catch (err) {
        expect((err as BadExpositionError).line).toBe(2);
      }
    },
  );

  it('keys a series by name and labels in any order', () => {
    expect(seriesKey('m', { b: '2', a: '1' })).toBe(seriesKey('m', { a: '1', b: '2' }));
    expect(seriesKey('m', { a: '1' })).not.toBe(seriesKey('m', { a: '2' }));
  });
});
