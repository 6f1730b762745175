import { describe, expect, it } from 'vitest';
import type { Condition } from '../../src/kube/canary-object.js';
import { canaryStatusOf, routeAfter, setsRoute } from '../../src/kube/status-record.js';
import {
  initialStatus,
  type ReleaseAction,
  type ReleaseStatus,
  type Route,
} from '../../src/release/status.js';
import type { RouteCanary } from '../../src/routes/table.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const T1 = T0 + 60_000;

const proxyReachable: Condition = {
  type: 'ProxyReachable',
  status: 'True',
  reason: 'ProxyInjected',
  message: 'the sluice proxy fronts every pod',
  lastTransitionTime: new Date(T0).toISOString(),
};

const progressing = (weight: number): ReleaseStatus => ({
  ...initialStatus(T0),
  phase: 'Progressing',
  canaryWeight: weight,
  stableRevision: 'aaaaaaaaaa',
  candidateRevision: 'bbbbbbbbbb',
});

const route = (weight: number): Route => ({ weight, match: [], segment: [], sticky: null });
const toCanary = (r: Route): RouteCanary => ({
  url: 'http://podinfo-canary.shop:9898',
  weight: r.weight,
  match: [...r.match],
  segment: [...r.segment],
  sticky: r.sticky,
});

describe("the Canary's status after a step", () => {
  it("is the step's status with the route, the tracked configs and the generation", () => {
    const tracked = [{ kind: 'ConfigMap' as const, name: 'settings' }];
    const status = canaryStatusOf({
      release: progressing(20),
      route: toCanary(route(20)),
      conditions: [proxyReachable],
      trackedConfigs: tracked,
      generation: 7,
      now: T1,
    });
    expect(status).toMatchObject({ ...progressing(20), trackedConfigs: tracked, observedGeneration: 7 });
    expect(status.route).toEqual(toCanary(route(20)));
  });

  it('sets Promoted from the phase and keeps the conditions the controller set', () => {
    const status = canaryStatusOf({
      release: progressing(20),
      route: null,
      conditions: [proxyReachable],
      trackedConfigs: [],
      generation: 1,
      now: T1,
    });
    expect(status.conditions).toEqual([
      {
        type: 'Promoted',
        status: 'False',
        reason: 'Progressing',
        message: 'revision bbbbbbbbbb is being released',
        lastTransitionTime: new Date(T1).toISOString(),
      },
      proxyReachable,
    ]);
  });

  it('is the same for the same step, whenever it is computed', () => {
    const parts = {
      release: progressing(50),
      route: toCanary(route(50)),
      conditions: [proxyReachable],
      trackedConfigs: [],
      generation: 3,
      now: T1,
    };
    expect(canaryStatusOf(parts)).toEqual(canaryStatusOf(structuredClone(parts)));
  });
});

describe('the route after a step', () => {
  const before = toCanary(route(20));

  it('is the one before when the step set none', () => {
    const actions: ReleaseAction[] = [
      { type: 'event', kind: 'Normal', reason: 'CheckPassed', message: 'ok' },
    ];
    expect(routeAfter(before, actions, toCanary)).toBe(before);
    expect(setsRoute(actions)).toBe(false);
  });

  it('is the last one the step set, to the canary', () => {
    const actions: ReleaseAction[] = [
      { type: 'setRoute', route: route(50) },
      { type: 'setRoute', route: route(80) },
    ];
    expect(routeAfter(before, actions, toCanary)).toEqual(toCanary(route(80)));
    expect(setsRoute(actions)).toBe(true);
  });

  it('is none once the step took the route away', () => {
    expect(routeAfter(before, [{ type: 'setRoute', route: null }], toCanary)).toBeNull();
  });
});
