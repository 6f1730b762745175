import { describe, expect, it } from 'vitest';
import {
  describeNotReady,
  podsNotReady,
  podStartFailure,
  podStartFailures,
  type ContainerStatusObject,
  type PodConditionObject,
  type PodObject,
} from '../../src/kube/pods.js';

// Pod objects shaped as a kubelet reports them (the shapes kubectl get -o json shows for each case).

const running = (name: string): ContainerStatusObject => ({
  name,
  image: `${name}:1`,
  ready: true,
  started: true,
  restartCount: 0,
  state: { running: { startedAt: '2026-01-01T00:00:00Z' } },
});

const waiting = (name: string, reason: string, message?: string): ContainerStatusObject => ({
  name,
  image: `${name}:1`,
  ready: false,
  started: false,
  restartCount: 0,
  state: { waiting: { reason, ...(message !== undefined && { message }) } },
});

const crashLooping = (name: string, restartCount: number, exitCode = 1, reason = 'Error') => ({
  ...waiting(name, 'CrashLoopBackOff', `back-off 40s restarting failed container=${name}`),
  restartCount,
  lastState: { terminated: { exitCode, reason } },
});

const readyCondition = (status: 'True' | 'False', message?: string): PodConditionObject => ({
  type: 'Ready',
  status,
  lastTransitionTime: '2026-01-01T00:00:05Z',
  ...(status === 'False' && { reason: 'ContainersNotReady' }),
  ...(message !== undefined && { message }),
});

function pod(
  name: string,
  containers: ContainerStatusObject[],
  extra: { init?: ContainerStatusObject[]; conditions?: PodConditionObject[]; phase?: string } = {},
): PodObject {
  return {
    metadata: { name, namespace: 'shop', creationTimestamp: '2026-01-01T00:00:00Z' },
    status: {
      phase: extra.phase ?? 'Running',
      conditions: extra.conditions ?? [readyCondition('True')],
      containerStatuses: containers,
      ...(extra.init && { initContainerStatuses: extra.init }),
    },
  };
}

describe('podStartFailure', () => {
  it('is null for pods whose containers run', () => {
    expect(podStartFailure([pod('web-1', [running('web'), running('sluice-proxy')])])).toBeNull();
  });

  it('is null for no pods at all', () => {
    expect(podStartFailure([])).toBeNull();
  });

  it('names the pod, the container, the reason, the last exit code and the restarts of a crash loop', () => {
    const pods = [pod('web-canary-7d9c-x2k', [crashLooping('web', 3), running('sluice-proxy')])];
    expect(podStartFailure(pods)).toBe(
      'pod web-canary-7d9c-x2k: container web CrashLoopBackOff, last exit code 1 (restarted 3 times)',
    );
  });

  it('says "time" for a single restart', () => {
    expect(podStartFailure([pod('web-1', [crashLooping('web', 1)])])).toBe(
      'pod web-1: container web CrashLoopBackOff, last exit code 1 (restarted 1 time)',
    );
  });

  it('adds a last run reason that says more than its exit code', () => {
    expect(podStartFailure([pod('web-1', [crashLooping('web', 2, 137, 'OOMKilled')])])).toBe(
      'pod web-1: container web CrashLoopBackOff, last exit code 137 (OOMKilled) (restarted 2 times)',
    );
  });

  it("quotes the kubelet's message for an image that cannot be pulled", () => {
    const pods = [
      pod('web-1', [waiting('web', 'ErrImagePull', 'failed to pull image "web:nope": not found')], {
        phase: 'Pending',
      }),
    ];
    expect(podStartFailure(pods)).toBe(
      'pod web-1: container web ErrImagePull: failed to pull image "web:nope": not found',
    );
  });

  it.each([
    'ImagePullBackOff',
    'InvalidImageName',
    'ErrImageNeverPull',
    'CreateContainerConfigError',
    'CreateContainerError',
    'RunContainerError',
  ])('reads %s as a container that cannot start', (reason) => {
    expect(podStartFailure([pod('web-1', [waiting('web', reason, 'why')])])).toBe(
      `pod web-1: container web ${reason}: why`,
    );
  });

  it.each(['ContainerCreating', 'PodInitializing'])(
    'reads %s as not started yet, not as a failure',
    (reason) => {
      expect(podStartFailure([pod('web-1', [waiting('web', reason)])])).toBeNull();
    },
  );

  it('reads a container the runtime could not exec', () => {
    const status: ContainerStatusObject = {
      name: 'web',
      restartCount: 0,
      state: { terminated: { exitCode: 128, reason: 'StartError', message: 'exec: "serve": not found' } },
    };
    expect(podStartFailure([pod('web-1', [status])])).toBe(
      'pod web-1: container web StartError: exec: "serve": not found',
    );
  });

  it('reads a container that ended normally as no failure', () => {
    const status: ContainerStatusObject = {
      name: 'web',
      state: { terminated: { exitCode: 0, reason: 'Completed' } },
    };
    expect(podStartFailure([pod('web-1', [status])])).toBeNull();
  });

  it('finds the failing container whatever its index (a sidecar before the app)', () => {
    const pods = [pod('web-1', [running('sluice-proxy'), crashLooping('web', 4)])];
    expect(podStartFailure(pods)).toContain('container web CrashLoopBackOff');
  });

  it('names an init container as one', () => {
    const pods = [
      pod('web-1', [waiting('web', 'PodInitializing')], {
        init: [crashLooping('migrate', 2)],
        phase: 'Pending',
      }),
    ];
    expect(podStartFailure(pods)).toBe(
      'pod web-1: init container migrate CrashLoopBackOff, last exit code 1 (restarted 2 times)',
    );
  });

  it('names the first failing pod and counts the others', () => {
    const pods = [
      pod('web-a', [running('web')]),
      pod('web-b', [waiting('web', 'ImagePullBackOff', 'Back-off pulling image "web:nope"')]),
      pod('web-c', [waiting('web', 'ErrImagePull', 'not found')]),
      pod('web-d', [waiting('web', 'ErrImagePull', 'not found')]),
    ];
    expect(podStartFailure(pods)).toBe(
      'pod web-b: container web ImagePullBackOff: Back-off pulling image "web:nope" (and 2 more pods)',
    );
  });

  it('leaves out pods being deleted', () => {
    const leaving = pod('web-old', [crashLooping('web', 9)]);
    leaving.metadata = { ...leaving.metadata, deletionTimestamp: '2026-01-01T00:01:00Z' };
    expect(podStartFailure([leaving])).toBeNull();
  });

  it('shortens a long message to one line', () => {
    const long = `rpc error:\n${'x'.repeat(500)}`;
    const text = podStartFailure([pod('web-1', [waiting('web', 'ErrImagePull', long)])]) ?? '';
    expect(text).not.toContain('\n');
    expect(text.length).toBeLessThan(260);
    expect(text.endsWith('…')).toBe(true);
  });

  it('tolerates pods with no status yet', () => {
    expect(podStartFailure([{ metadata: { name: 'web-1' } }])).toBeNull();
  });
});

describe('podStartFailures', () => {
  it('gives each failing container with its fields, init containers first', () => {
    const pods = [
      pod('web-1', [running('sluice-proxy'), crashLooping('web', 3)], {
        init: [waiting('seed', 'ErrImagePull')],
      }),
    ];
    expect(podStartFailures(pods)).toEqual([
      { pod: 'web-1', container: 'seed', init: true, reason: 'ErrImagePull', restartCount: 0 },
      {
        pod: 'web-1',
        container: 'web',
        init: false,
        reason: 'CrashLoopBackOff',
        message: 'back-off 40s restarting failed container=web',
        lastExitCode: 1,
        lastReason: 'Error',
        restartCount: 3,
      },
    ]);
  });
});

describe('podsNotReady', () => {
  it('is empty when every pod is Ready', () => {
    expect(podsNotReady([pod('web-1', [running('web')])])).toEqual([]);
  });

  it("gives a not-ready pod's name with its Ready condition's reason, message and time", () => {
    const pods = [
      pod('web-1', [running('web')], {
        conditions: [readyCondition('False', 'containers with unready status: [web]')],
      }),
    ];
    expect(podsNotReady(pods)).toEqual([
      {
        pod: 'web-1',
        reason: 'ContainersNotReady',
        message: 'containers with unready status: [web]',
        since: '2026-01-01T00:00:05Z',
      },
    ]);
  });

  it('falls back on the condition that is False before a kubelet set Ready (an unschedulable pod)', () => {
    const pods = [
      pod('web-1', [], {
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/1 nodes are available: 1 Insufficient cpu.',
          },
        ],
      }),
    ];
    expect(podsNotReady(pods)).toEqual([
      {
        pod: 'web-1',
        reason: 'Unschedulable',
        message: '0/1 nodes are available: 1 Insufficient cpu.',
        since: '2026-01-01T00:00:00Z',
      },
    ]);
  });

  it('leaves out pods being deleted and pods that have finished', () => {
    const leaving = pod('web-old', [running('web')], { conditions: [readyCondition('False')] });
    leaving.metadata = { ...leaving.metadata, deletionTimestamp: '2026-01-01T00:01:00Z' };
    const done = pod('job-1', [], { phase: 'Succeeded', conditions: [readyCondition('False')] });
    expect(podsNotReady([leaving, done])).toEqual([]);
  });

  it('reads a pod with no conditions at all as not ready', () => {
    expect(podsNotReady([{ metadata: { name: 'web-1' } }])).toEqual([{ pod: 'web-1' }]);
  });
});

describe('describeNotReady', () => {
  it("joins each pod's message, or says only that it is not ready", () => {
    expect(
      describeNotReady([
        { pod: 'web-1', reason: 'ContainersNotReady', message: 'containers with unready status: [web]' },
        { pod: 'web-2', reason: 'ContainersNotReady' },
        { pod: 'web-3' },
      ]),
    ).toBe(
      'pod web-1: containers with unready status: [web]; pod web-2: ContainersNotReady; pod web-3 not ready',
    );
  });
});
