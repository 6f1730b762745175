import { describe, expect, it } from 'vitest';
import { parseCanaryAnnotations, type CanaryConfig } from '../../src/annotations.js';
import { createLogger } from '../../src/log.js';
import type { MetricsQuery, ReleaseMetrics, ReleaseTarget, SideMetrics } from '../../src/metrics/provider.js';
import type { Platform } from '../../src/release/platform.js';
import { NotLeaderError, ReleaseActionError, ReleaseRunner } from '../../src/release/runner.js';
import type { Observations, ReleaseAction, ReleaseStatus } from '../../src/release/status.js';

// The runner between an in-memory platform and a scripted provider, on a fake clock: no servers, no timers.

const config = (extra: Record<string, string> = {}): CanaryConfig => {
  const result = parseCanaryAnnotations({
    'sluice.dev/canary': 'enabled',
    'sluice.dev/interval': '10s',
    'sluice.dev/step-weights': '10,50',
    'sluice.dev/threshold': '2',
    ...extra,
  });
  if (!result.ok) throw new Error(result.errors.map((e) => e.message).join('\n'));
  return result.config;
};

const side = (requests: number, successRate: number): SideMetrics => ({
  requests,
  successRate,
  errorRate: 100 - successRate,
  meanLatencyMs: 5,
  latencyQuantilesMs: { '0.99': 20 },
});

/** A platform that does what it is told at once; `failOn` makes one action type throw. */
class MemoryPlatform implements Platform {
  stable = 'v1';
  candidate: string | null = 'v2';
  canary: string | null = null;
  weight: number | null = null;
  readonly applied: ReleaseAction['type'][] = [];
  readonly recorded: ReleaseStatus[] = [];
  /** The actions each record was handed, by action type. */
  readonly recordedWith: ReleaseAction['type'][][] = [];
  failOn: ReleaseAction['type'] | null = null;

  observe(): Promise<Omit<Observations, 'measurement' | 'gates'>> {
    return Promise.resolve({
      stableRevision: this.stable,
      candidateRevision: this.candidate,
      canaryReady: this.canary !== null,
      primaryReady: true,
      canaryProblem: null,
      action: null,
    });
  }

  apply(action: ReleaseAction): Promise<void> {
    if (action.type === this.failOn) return Promise.reject(new Error(`${action.type} refused`));
    this.applied.push(action.type);
    if (action.type === 'createCanary') this.canary = action.revision;
    if (action.type === 'deleteCanary') this.canary = null;
    if (action.type === 'setRoute') this.weight = action.route?.weight ?? null;
    if (action.type === 'promote') {
      this.stable = action.revision;
      this.candidate = null;
    }
    return Promise.resolve();
  }

  record(status: ReleaseStatus, actions: readonly ReleaseAction[]): Promise<void> {
    this.recorded.push(status);
    this.recordedWith.push(actions.map((a) => a.type));
    return Promise.resolve();
  }
}

class ScriptedProvider {
  readonly name = 'scripted';
  readonly queries: MetricsQuery[] = [];
  readonly scrapes: { target: ReleaseTarget; at: number | undefined }[] = [];
  constructor(private readonly answers: (ReleaseMetrics | Error)[]) {}

  measure(query: MetricsQuery): Promise<ReleaseMetrics> {
    this.queries.push(query);
    const answer = this.answers.shift() ?? new Error('no more answers');
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  }

  scrape(target: ReleaseTarget, at?: number): Promise<void> {
    this.scrapes.push({ target, at });
    return Promise.resolve();
  }
}

const target = { namespace: 'shop', deployment: 'podinfo' };
const logger = createLogger('test', 'silent');

function setup(answers: (ReleaseMetrics | Error)[], extra?: Record<string, string>) {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const platform = new MemoryPlatform();
  const provider = new ScriptedProvider(answers);
  const runner = new ReleaseRunner({
    target,
    config: config(extra),
    platform,
    provider,
    logger,
    now: () => now,
  });
  const advance = (ms: number) => (now += ms);
  return { platform, provider, runner, advance };
}

const healthy: ReleaseMetrics = { canary: side(100, 100), primary: side(900, 100) };
const failing: ReleaseMetrics = { canary: side(100, 70), primary: side(900, 100) };

describe('the release runner', () => {
  it('takes a healthy candidate from a held change to promotion, checking only when a check is due', async () => {
    const { platform, provider, runner, advance } = setup([healthy, healthy]);
    expect((await runner.tick()).status.phase).toBe('Progressing');
    expect(platform.applied).toEqual(['createCanary', 'event']);

    advance(1_000);
    await runner.tick();
    expect(platform.weight).toBe(10);
    expect(provider.scrapes).toEqual([{ target, at: Date.parse(runner.status.routedAt ?? '') }]);

    advance(5_000);
    await runner.tick();
    expect(provider.queries).toHaveLength(0);

    advance(5_000);
    const report = await runner.tick();
    expect(provider.queries).toMatchObject([{ target, windowMs: 10_000, quantiles: [0.99] }]);
    expect(report.measurement).toEqual({ ok: true, metrics: healthy });
    expect(platform.weight).toBe(50);

    advance(10_000);
    expect((await runner.tick()).status.phase).toBe('Promoting');
    expect((await runner.tick()).status.phase).toBe('Finalising');
    expect((await runner.tick()).status.phase).toBe('Succeeded');
    expect(platform.canary).toBeNull();
    expect(platform.recorded.at(-1)).toBe(runner.status);
  });

  it('measures the copies in the mirror phase and the routed requests after it', async () => {
    const { platform, provider, runner, advance } = setup([healthy, healthy], {
      'sluice.dev/mirror': '20',
      'sluice.dev/mirror-checks': '1',
    });
    await runner.tick();
    advance(1_000);
    expect((await runner.tick()).status.phase).toBe('Mirroring');
    expect(platform.weight).toBe(0);
    advance(10_000);
    expect((await runner.tick()).status.phase).toBe('Progressing');
    expect(platform.weight).toBe(10);
    advance(10_000);
    await runner.tick();
    expect(provider.queries.map((q) => q.canaryTraffic)).toEqual(['mirrored', 'routed']);
  });

  it('records each status with the actions of its step, once they are carried out', async () => {
    const { platform, runner, advance } = setup([]);
    await runner.tick();
    advance(1_000);
    await runner.tick();
    expect(platform.recordedWith).toEqual([
      ['createCanary', 'event'],
      ['setRoute', 'event'],
    ]);
  });

  it('rolls back after the threshold of failed checks, a provider error counting as one', async () => {
    const { platform, runner, advance } = setup([failing, new Error('prometheus is down')]);
    await runner.tick();
    await runner.tick();
    advance(10_000);
    expect((await runner.tick()).status.failedChecks).toBe(1);
    advance(10_000);
    const report = await runner.tick();
    expect(report.measurement).toMatchObject({ ok: false, error: { message: 'prometheus is down' } });
    expect(report.status.phase).toBe('Failed');
    expect(platform.canary).toBeNull();
    expect(platform.weight).toBeNull();
  });

  it('keeps the old status when an action fails, so that the next tick takes the step again', async () => {
    const { platform, runner } = setup([]);
    platform.failOn = 'createCanary';
    await expect(runner.tick()).rejects.toBeInstanceOf(ReleaseActionError);
    expect(runner.status.phase).toBe('Initialized');
    expect(platform.recorded).toHaveLength(0);

    platform.failOn = null;
    expect((await runner.tick()).status.phase).toBe('Progressing');
    expect(platform.applied).toEqual(['createCanary', 'event']);
  });

  it('writes nothing once it may no longer act (a leader that stalled past its Lease)', async () => {
    let mayAct = true;
    const platform = new MemoryPlatform();
    const runner = new ReleaseRunner({
      target,
      config: config(),
      platform,
      provider: new ScriptedProvider([]),
      logger,
      mayAct: () => mayAct,
    });
    mayAct = false;
    await expect(runner.tick()).rejects.toBeInstanceOf(NotLeaderError);
    expect(platform.applied).toEqual([]);
    expect(platform.recorded).toEqual([]);
    expect(runner.status.phase).toBe('Initialized');
    mayAct = true;
    expect((await runner.tick()).status.phase).toBe('Progressing');
  });

  it('runs until the release settles', async () => {
    const { runner } = setup([], { 'sluice.dev/skip-analysis': 'true' });
    const status = await runner.runUntilSettled(1);
    expect(status.phase).toBe('Succeeded');
  });
});
