import { describe, expect, it } from 'vitest';
import { parseCanaryAnnotations, type CanaryConfig } from '../../src/annotations.js';
import type { MetricsProvider, SideMetrics } from '../../src/metrics/provider.js';
import { withTemplateMetrics } from '../../src/release/custom-metrics.js';
import { initialStatus } from '../../src/release/status.js';

const side = (requests: number): SideMetrics => ({
  requests,
  successRate: 100,
  errorRate: 0,
  meanLatencyMs: 5,
  latencyQuantilesMs: {},
});

const config = (objectives: string): CanaryConfig => {
  const parsed = parseCanaryAnnotations({
    'sluice.dev/canary': 'enabled',
    'sluice.dev/objectives': objectives,
    'sluice.dev/metric-templates': 'podinfo-metrics',
    'sluice.dev/min-requests': '10',
  });
  if (!parsed.ok) throw new Error('bad annotations');
  return parsed.config;
};

/** A provider that answers every query with the number of times it was asked. */
const counting = () => {
  let asked = 0;
  const provider: MetricsProvider = {
    name: 'prometheus',
    measure: () => Promise.reject(new Error('not used')),
    scalar: () => Promise.resolve(++asked),
  };
  return { provider, asked: () => asked };
};

const context = (provider: MetricsProvider, objectives: string) => ({
  provider,
  config: config(objectives),
  target: { namespace: 'shop', deployment: 'podinfo' },
  status: { ...initialStatus(0), candidateRevision: 'cand', stableRevision: 'stab' },
  readConfigMap: () => Promise.resolve({ 'queue-depth': 'max(q{revision="{{ revision }}"})' }),
  at: 60_000,
});

describe('metric templates in a check', () => {
  it('runs each named template for both sides', async () => {
    const { provider, asked } = counting();
    const metrics = await withTemplateMetrics(
      { canary: side(50), primary: side(200) },
      context(provider, 'queue-depth<10'),
    );
    expect(asked()).toBe(2);
    expect(Object.keys(metrics.canary.custom ?? {})).toEqual(['queue-depth']);
  });

  it('runs none while the canary has fewer requests than min-requests: the check is inconclusive anyway', async () => {
    const { provider, asked } = counting();
    const metrics = await withTemplateMetrics(
      { canary: side(3), primary: side(200) },
      context(provider, 'queue-depth<10'),
    );
    expect(asked()).toBe(0);
    expect(metrics.canary.custom).toBeUndefined();
  });

  it('runs none when the objectives name no template', async () => {
    const { provider, asked } = counting();
    await withTemplateMetrics({ canary: side(50), primary: side(200) }, context(provider, 'error-rate<1%'));
    expect(asked()).toBe(0);
  });
});
