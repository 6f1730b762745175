import type { SideMetrics } from '../../src/metrics/provider.js';
import type { Measurement } from '../../src/release/check.js';

/** One side's numbers for the state machine's tests: healthy unless overridden. */
export const side = (over: Partial<SideMetrics> = {}): SideMetrics => ({
  requests: 100,
  successRate: 100,
  errorRate: 0,
  meanLatencyMs: 20,
  latencyQuantilesMs: { '0.99': 80, '0.95': 50 },
  ...over,
});

export const healthy: Measurement = { ok: true, metrics: { canary: side(), primary: side() } };

export const canaryWith = (over: Partial<SideMetrics>): Measurement => ({
  ok: true,
  metrics: { canary: side(over), primary: side() },
});
