import { describe, expect, it } from 'vitest';
import { parseCanaryAnnotations, type CanaryConfig } from '../../src/annotations.js';
import type { CanaryObject } from '../../src/kube/canary-object.js';
import { ReleaseBoard } from '../../src/page/board.js';

// The controller's pages from the Canary objects its informer delivers, one change at a time.

const start = Date.parse('2026-01-01T00:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();

const parsed = parseCanaryAnnotations({
  'sluice.dev/canary': 'enabled',
  'sluice.dev/step-weights': '20,50',
  'sluice.dev/threshold': '2',
});
if (!parsed.ok) throw new Error('test annotations are invalid');
const config: CanaryConfig = parsed.config;

function canary(name: string, status: Record<string, unknown>, namespace = 'shop'): CanaryObject {
  return {
    apiVersion: 'sluice.dev/v1alpha1',
    kind: 'Canary',
    metadata: { name, namespace },
    status: { lastTransitionTime: iso(start), ...status },
  };
}

const side = (requests: number, successRate: number) => ({
  requests,
  successRate,
  errorRate: 100 - successRate,
  meanLatencyMs: 12,
  latencyQuantilesMs: { '0.99': 40 },
});

const analysis = (at: number, weight: number, result: string, summary: string) => ({
  at: iso(at),
  weight,
  result,
  summary,
  objectives: [],
  canary: side(120, 100),
  primary: side(1000, 99.9),
  error: null,
});

function boardAt(clock: { now: number }): ReleaseBoard {
  return new ReleaseBoard({ config: () => config, now: () => clock.now });
}

describe("the controller's release board", () => {
  it('draws a release it follows from the start: each weight, each check, the result', () => {
    const clock = { now: start + 500 };
    const board = boardAt(clock);
    const running = { phase: 'Progressing', startedAt: iso(start), candidateRevision: 'c0ffee1234' };
    board.observe(canary('podinfo', { ...running, canaryWeight: 0 }), 'add');
    clock.now = start + 2_000;
    board.observe(canary('podinfo', { ...running, canaryWeight: 20 }), 'update');
    clock.now = start + 7_000;
    const passed = analysis(start + 7_000, 20, 'passed', 'success rate 100% >= 99%');
    board.observe(canary('podinfo', { ...running, canaryWeight: 50, lastAnalysis: passed }), 'update');
    clock.now = start + 12_000;
    const done = analysis(start + 12_000, 50, 'passed', 'success rate 100% >= 99%');
    const outcome = {
      reason: 'Promoted',
      revision: 'c0ffee1234',
      message: 'promoted c0ffee1234',
      at: iso(start + 12_000),
    };
    board.observe(
      canary('podinfo', { ...running, phase: 'Succeeded', canaryWeight: 0, lastAnalysis: done, outcome }),
      'update',
    );
    clock.now = start + 60_000;

    const view = board.view('shop', 'podinfo');
    expect(view).toMatchObject({
      namespace: 'shop',
      deployment: 'podinfo',
      phase: 'Succeeded',
      result: 'promoted',
      maxWeight: 50,
      threshold: 2,
      objectives: ['success-rate >= 99%', 'p99-latency <= 500ms'],
      // The clock stops when the release settles, not when the page is read.
      elapsed: 12,
    });
    expect(view?.points.map((p) => [p.t, p.weight, p.phase])).toEqual([
      [0, 0, 'Initialized'],
      [0.5, 0, 'Progressing'],
      [2, 20, 'Progressing'],
      [7, 50, 'Progressing'],
      [12, 0, 'Succeeded'],
    ]);
    expect(view?.checks.map((c) => [c.t, c.weight, c.result, c.canary?.p99LatencyMs])).toEqual([
      [7, 20, 'passed', 40],
      [12, 50, 'passed', 40],
    ]);
    expect(view?.events.map((e) => e.reason)).toEqual([
      'Progressing',
      'WeightChanged',
      'CheckPassed',
      'WeightChanged',
      'CheckPassed',
      'Succeeded',
    ]);
    expect(view?.events.at(-1)?.message).toBe('promoted c0ffee1234');
    // Without a load generator of its own, the page counts what the checks measured.
    expect(view?.traffic).toEqual({ requests: 2240, failures: 2, canaryRequests: 240, canaryFailures: 0 });
  });

  it('lists every Canary for the index, by namespace and name, with the last check', () => {
    const board = boardAt({ now: start + 30_000 });
    const failed = analysis(start + 20_000, 20, 'failed', 'success rate 91% < 99%');
    board.observe(
      canary('web', {
        phase: 'Progressing',
        canaryWeight: 20,
        failedChecks: 1,
        startedAt: iso(start),
        lastAnalysis: failed,
      }),
      'add',
    );
    board.observe(canary('api', { phase: 'Initialized', stableRevision: 'abc1234567' }, 'billing'), 'add');
    expect(board.rows()).toEqual([
      expect.objectContaining({
        namespace: 'billing',
        deployment: 'api',
        phase: 'Initialized',
        lastCheck: null,
      }),
      expect.objectContaining({
        namespace: 'shop',
        deployment: 'web',
        phase: 'Progressing',
        weight: 20,
        failedChecks: 1,
        threshold: 2,
        lastCheck: {
          at: iso(start + 20_000),
          weight: 20,
          result: 'failed',
          summary: 'success rate 91% < 99%',
        },
      }),
    ]);
  });

  it('starts a new page for the next release of the same Deployment, and forgets a deleted Canary', () => {
    const clock = { now: start + 40_000 };
    const board = boardAt(clock);
    const first = { phase: 'Failed', startedAt: iso(start), canaryWeight: 0 };
    board.observe(canary('podinfo', first), 'add');
    expect(board.view('shop', 'podinfo')?.result).toBe('rolled-back');

    clock.now = start + 100_000;
    const second = { phase: 'Progressing', startedAt: iso(start + 99_000), canaryWeight: 20 };
    board.observe(canary('podinfo', second), 'update');
    const view = board.view('shop', 'podinfo');
    expect(view).toMatchObject({ result: null, phase: 'Progressing', weight: 20, elapsed: 1 });
    expect(view?.startedAt).toBe(start + 99_000);

    board.observe(canary('podinfo', second), 'delete');
    expect(board.view('shop', 'podinfo')).toBeUndefined();
    expect(board.rows()).toEqual([]);
  });

  it('shows a release first seen mid-way (a replica that started late) from what the Canary holds', () => {
    const board = boardAt({ now: start + 30_000 });
    const last = analysis(start + 25_000, 20, 'passed', 'success rate 100% >= 99%');
    board.observe(
      canary('podinfo', {
        phase: 'Progressing',
        startedAt: iso(start),
        canaryWeight: 50,
        lastAnalysis: last,
      }),
      'add',
    );
    const view = board.view('shop', 'podinfo');
    expect(view?.points.at(-1)).toEqual({ t: 30, weight: 50, phase: 'Progressing' });
    expect(view?.checks).toHaveLength(1);
    expect(view?.elapsed).toBe(30);
  });

  it("takes the release's settings once its Deployment is known, when its Canary came first", () => {
    let known = false;
    const board = new ReleaseBoard({ config: () => (known ? config : null), now: () => start + 10_000 });
    const running = { phase: 'Progressing', startedAt: iso(start), canaryWeight: 20 };
    board.observe(canary('podinfo', running), 'add');
    expect(board.rows()[0]?.threshold).toBeNull();
    expect(board.view('shop', 'podinfo')?.objectives).toEqual([]);
    known = true;
    board.observe(canary('podinfo', { ...running, failedChecks: 1 }), 'update');
    expect(board.rows()[0]?.threshold).toBe(2);
    expect(board.view('shop', 'podinfo')).toMatchObject({ threshold: 2, failedChecks: 1, maxWeight: 50 });
  });

  it('does not count a check of the previous release in a new one', () => {
    const board = boardAt({ now: start + 100_000 });
    const old = analysis(start + 10_000, 50, 'passed', 'success rate 100% >= 99%');
    board.observe(
      canary('podinfo', {
        phase: 'Progressing',
        startedAt: iso(start + 90_000),
        canaryWeight: 0,
        lastAnalysis: old,
      }),
      'add',
    );
    expect(board.view('shop', 'podinfo')?.checks).toEqual([]);
  });
});
