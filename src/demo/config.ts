import { ANNOTATIONS, MIN_INTERVAL_MS, parseCanaryAnnotations, type CanaryConfig } from '../annotations.js';
import { formatDuration } from '../duration.js';
import type { AppBehaviour } from './app.js';

/**
 * The demo's release options are the annotations under another spelling (`--step-weight 5` ⇔
 * `sluice.dev/step-weight: "5"`), parsed by the annotation schema so that both mean the same and fail
 * the same way.
 */

/** The annotation each release flag stands for; the flag is `--` and the annotation's name. */
export const RELEASE_FLAGS = [
  'stepWeight',
  'stepWeights',
  'maxWeight',
  'threshold',
  'objectives',
  'minRequests',
  'progressDeadline',
  'match',
  'segment',
  'sticky',
  'iterations',
  'skipAnalysis',
  'mirror',
  'mirrorChecks',
  'webhooks',
  'webhookTimeout',
] as const satisfies readonly (keyof typeof ANNOTATIONS)[];

export type ReleaseFlags = Partial<Record<(typeof RELEASE_FLAGS)[number], string>>;

export class InvalidReleaseOptionError extends Error {
  readonly code = 'InvalidReleaseOption';
  constructor(readonly messages: readonly string[]) {
    super(messages.join('\n'));
    this.name = 'InvalidReleaseOptionError';
  }
}

/**
 * A first step of 1% keeps the share of users a bad version can hurt small; the checks at that weight are
 * still conclusive because the `traffic: test` trickle reaches the canary whatever the weight.
 */
export const DEMO_STEP_WEIGHTS = '1,5,10,20,35,50';

/**
 * Test-header requests per second, unless set: enough that the trickle alone brings each analysis
 * window its min-requests, with a fifth to spare, so that no check at a small weight is inconclusive.
 */
export function defaultTestRate(minRequests: number, intervalMs: number): number {
  return Math.max(1, Math.ceil((minRequests * 1.2) / (intervalMs / 1000)));
}

/**
 * The release configuration of the demo. The interval is the one difference from annotations: the demo
 * takes it down to 1 s (annotations: 5 s), since on loopback there is no scrape lag to wait out, and the
 * tests run whole releases in seconds.
 */
export function demoReleaseConfig(flags: ReleaseFlags, intervalMs: number): CanaryConfig {
  const annotations: Record<string, string> = {
    [ANNOTATIONS.canary]: 'enabled',
    [ANNOTATIONS.interval]: formatDuration(Math.max(intervalMs, MIN_INTERVAL_MS)),
  };
  if (flags.stepWeight === undefined && flags.stepWeights === undefined) {
    annotations[ANNOTATIONS.stepWeights] = DEMO_STEP_WEIGHTS;
  }
  for (const flag of RELEASE_FLAGS) {
    const value = flags[flag];
    if (value !== undefined) annotations[ANNOTATIONS[flag]] = value;
  }
  const result = parseCanaryAnnotations(annotations);
  if (!result.ok) {
    throw new InvalidReleaseOptionError(result.errors.map((e) => e.message.replaceAll('sluice.dev/', '--')));
  }
  if (result.config.progressDeadlineMs <= intervalMs) {
    throw new InvalidReleaseOptionError([
      `--progress-deadline: expected a duration longer than --interval (${formatDuration(intervalMs)})`,
    ]);
  }
  return Object.freeze({ ...result.config, intervalMs });
}

export const SCENARIOS = ['good', 'bad', 'slow'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** v1 is healthy; v2 is healthy, fails 30% of requests, or answers 800 ms late. */
export function scenarioVersions(scenario: Scenario): { stable: AppBehaviour; candidate: AppBehaviour } {
  const stable = { version: 'v1', errorRate: 0, latencyMs: 0 };
  const candidate = {
    good: { version: 'v2', errorRate: 0, latencyMs: 0 },
    bad: { version: 'v2', errorRate: 0.3, latencyMs: 0 },
    slow: { version: 'v2', errorRate: 0, latencyMs: 800 },
  }[scenario];
  return { stable, candidate };
}
