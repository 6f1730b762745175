import { describe, expect, it } from 'vitest';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { readCanaryStatus } from '../../src/kube/canary-object.js';
import { initialStatus } from '../../src/release/status.js';

const at = Date.parse('2026-12-07T08:00:00Z');

describe("the controller's release outcome metrics", () => {
  it('counts each result per Deployment from zero, and times the release and its lead time', async () => {
    const metrics = new ControllerMetrics();
    const before = readCanaryStatus(undefined, at);
    metrics.observe('shop', 'podinfo', before, before, at);
    const text = await metrics.registry.metrics();
    for (const result of ['promoted', 'rolled_back', 'reverted', 'aborted']) {
      expect(text).toContain(
        `sluice_releases_total{namespace="shop",deployment="podinfo",result="${result}"} 0`,
      );
    }

    const status = {
      ...initialStatus(at),
      phase: 'Succeeded' as const,
      startedAt: '2026-12-07T08:00:00.000Z',
    };
    const promoted = { type: 'event', kind: 'Normal', reason: 'Promoted', message: 'done' } as const;
    metrics.observeStep('shop', 'podinfo', { status, actions: [promoted], at: at + 600_000 }, at - 300_000);
    const after = await metrics.registry.metrics();
    expect(after).toContain(
      'sluice_releases_total{namespace="shop",deployment="podinfo",result="promoted"} 1',
    );
    expect(after).toContain('sluice_release_duration_seconds_sum{result="promoted"} 600');
    expect(after).toContain('sluice_release_lead_time_seconds_sum 900');
    expect(after).toContain('sluice_release_lead_time_seconds_bucket{le="900"} 1');
  });

  it('keeps the counts of a Deployment that opted out, whose release that ended it must still be scraped', async () => {
    const metrics = new ControllerMetrics();
    const before = readCanaryStatus(undefined, at);
    metrics.observe('shop', 'podinfo', before, before, at);
    const cancelled = {
      type: 'event',
      kind: 'Normal',
      reason: 'CanaryCancelled',
      message: 'opted out',
    } as const;
    metrics.observeStep('shop', 'podinfo', { status: initialStatus(at), actions: [cancelled], at }, null);
    metrics.forget('shop', 'podinfo');
    const text = await metrics.registry.metrics();
    expect(text).toContain('sluice_releases_total{namespace="shop",deployment="podinfo",result="aborted"} 1');
    expect(text).not.toContain('sluice_canary_weight{namespace="shop"');
  });
});
