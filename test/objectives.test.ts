import { describe, expect, it } from 'vitest';
import { parseCanaryAnnotations } from '../src/annotations.js';
import { formatObjective, InvalidObjectiveError, parseObjective } from '../src/objectives.js';

const errorsOf = (annotations: Record<string, string>) => {
  const result = parseCanaryAnnotations({ 'sluice.dev/canary': 'enabled', ...annotations });
  return result.ok ? [] : result.errors;
};

describe('objectives relative to the primary', () => {
  it.each([
    ['p99-latency<=primary*1.2', { metric: 'quantile-latency', threshold: 0, relative: { factor: 1.2 } }],
    ['error-rate<=primary+0.5%', { metric: 'error-rate', threshold: 0.5, relative: { factor: 1 } }],
    ['success-rate>=primary-1%', { metric: 'success-rate', threshold: -1, relative: { factor: 1 } }],
    ['mean-latency<primary*1.1+20ms', { metric: 'mean-latency', threshold: 20, relative: { factor: 1.1 } }],
    ['mean-latency < primary', { metric: 'mean-latency', threshold: 0, relative: { factor: 1 } }],
  ])('reads %s', (text, expected) => {
    expect(parseObjective(text)).toMatchObject(expected);
  });

  it('leaves a fixed bound without a relative part', () => {
    expect(parseObjective('p95-latency<100ms')).not.toHaveProperty('relative');
  });

  it.each([
    ['error-rate<=primary+fast', 'percentage points'],
    ['p99-latency<=primary+5%', 'takes a duration'],
    ['p99-latency<=primary*x', 'takes a duration'],
    ['error-rate<=primary+101%', 'percentage points'],
  ])('rejects %j, saying what the metric takes', (text, reason) => {
    expect(() => parseObjective(text)).toThrow(InvalidObjectiveError);
    expect(() => parseObjective(text)).toThrow(reason);
  });
});

describe('objectives on metric templates', () => {
  it('reads a template name as a custom metric when templates are allowed', () => {
    expect(parseObjective('queue-depth<=0.5', { templates: true })).toEqual({
      name: 'queue-depth',
      metric: 'custom',
      quantile: null,
      op: '<=',
      threshold: 0.5,
    });
    expect(parseObjective('db_errors<=primary*1.5+2', { templates: true })).toMatchObject({
      name: 'db_errors',
      threshold: 2,
      relative: { factor: 1.5 },
    });
    expect(parseObjective('temperature>-3.5', { templates: true })).toMatchObject({ threshold: -3.5 });
  });

  it('takes a name close to a built-in metric for a typo, with a suggestion', () => {
    expect(() => parseObjective('p99-latncy<1s', { templates: true })).toThrow(/did you mean p99-latency\?/);
    expect(() => parseObjective('sucess-rate>99', { templates: true })).toThrow(
      /did you mean success-rate\?/,
    );
  });

  it('refuses a template value that is not a number', () => {
    expect(() => parseObjective('queue-depth<10ms', { templates: true })).toThrow(
      'the metric template queue-depth takes a number',
    );
  });

  it('refuses a name no ConfigMap key could be', () => {
    expect(() => parseObjective('Queue Depth<1', { templates: true })).toThrow(
      'is not a metric template name',
    );
  });

  it('denies a template objective on a Deployment without sluice.dev/metric-templates, naming the fix', () => {
    const [error] = errorsOf({ 'sluice.dev/objectives': 'success-rate>=99%,queue-depth<10' });
    expect(error?.annotation).toBe('sluice.dev/objectives');
    expect(error?.message).toContain('unknown metric "queue-depth"');
    expect(error?.message).toContain(
      'set sluice.dev/metric-templates to a ConfigMap with a template named queue-depth',
    );
  });

  it('admits a template objective with sluice.dev/metric-templates, and carries the ConfigMap name', () => {
    const result = parseCanaryAnnotations({
      'sluice.dev/canary': 'enabled',
      'sluice.dev/objectives': 'queue-depth<10,p99-latency<=primary*1.2',
      'sluice.dev/metric-templates': 'podinfo-metrics',
    });
    expect(result.ok && result.config.metricTemplates).toBe('podinfo-metrics');
    expect(result.ok && result.config.objectives.map((o) => o.metric)).toEqual([
      'custom',
      'quantile-latency',
    ]);
  });

  it('denies a metric-templates value that cannot name a ConfigMap', () => {
    const [error] = errorsOf({ 'sluice.dev/metric-templates': 'Not_A_Name' });
    expect(error?.message).toContain('sluice.dev/metric-templates: "Not_A_Name" is not valid');
  });
});

describe('an objective as a person reads it', () => {
  it.each([
    ['error-rate<1%', 'error-rate < 1%'],
    ['p99-latency<=primary*1.2', 'p99-latency <= primary × 1.2'],
    ['mean-latency<primary*1.1+20ms', 'mean-latency < primary × 1.1 + 20ms'],
    ['success-rate>=primary-1%', 'success-rate >= primary - 1%'],
  ])('%s', (text, expected) => {
    expect(formatObjective(parseObjective(text))).toBe(expected);
  });
});
