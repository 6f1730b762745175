import { beforeAll, describe, expect, it } from 'vitest';
import {
  describeNotReady,
  podsNotReady,
  podStartFailure,
  type ContainerStatusObject,
  type PodObject,
} from '../../src/kube/pods.js';
import {
  CRASHLOOP_EXIT_CODE,
  failingImage,
  kwokNodeName,
  useCluster,
  type FailingTag,
} from '../support/kube.js';
import { eventually } from '../support/eventually.js';

// kwok's stages for pods that cannot start (test/support/kwok-stages.ts), read back through the API: each
// image tag gives the pod status a kubelet would report, and src/kube/pods.ts reads the kubelet's reason from
// those real objects. Canary pods have the app first and sluice's proxy second; the app's image fails.

const NAMESPACE = 'kwok-stages';
const PROXY = { name: 'sluice-proxy', image: 'sluice-proxy:test' };

function deployment(name: string, containers: { name: string; image: string }[]): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers } },
    },
  };
}

const app = (tag: FailingTag) => ({ name: 'app', image: failingImage('registry.test/shop/app', tag) });

describe('kwok playing pods that cannot start', () => {
  const started = useCluster();
  /** How long after its Deployment's creation each pod first showed why it does not run. */
  const shownAfterMs = new Map<string, number>();

  const pods = async (name: string): Promise<PodObject[]> => {
    const list = JSON.parse(
      await started().kubectl(['get', 'pods', '-n', NAMESPACE, '-l', `app=${name}`, '-o', 'json']),
    ) as { items: PodObject[] };
    return list.items;
  };

  /** Polls until the Deployment has one pod and `ready` holds for it; gives that pod. */
  const podWhen = async (
    name: string,
    what: string,
    ready: (pod: PodObject) => boolean,
  ): Promise<PodObject> => {
    let found: PodObject | undefined;
    await eventually(
      `${name}: ${what}`,
      async () => {
        const [pod, ...more] = await pods(name);
        if (pod === undefined || more.length > 0 || !ready(pod)) return false;
        found = pod;
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    if (!found) throw new Error(`no pod for ${name}`);
    return found;
  };

  const container = (pod: PodObject, name: string): ContainerStatusObject => {
    const status = pod.status?.containerStatuses?.find((s) => s.name === name);
    if (!status) throw new Error(`pod ${pod.metadata?.name} has no status for container ${name}`);
    return status;
  };
  const condition = (pod: PodObject, type: string) => pod.status?.conditions?.find((c) => c.type === type);

  beforeAll(async () => {
    const c = started();
    await c.kubectl(['create', 'namespace', NAMESPACE]);
    const deployments: [string, { name: string; image: string }[]][] = [
      ['web', [{ name: 'app', image: 'registry.test/shop/app:1.0' }, PROXY]],
      ['unpullable', [app('unpullable'), PROXY]],
      ['crashloop', [app('crashloop'), PROXY]],
      ['never-ready', [app('never-ready'), PROXY]],
      ['proxy-first', [PROXY, app('crashloop')]],
    ];
    const createdAt = Date.now();
    await c.apply(...deployments.map(([name, containers]) => deployment(name, containers)));
    // Timed together from creation, for what a controller can count on (logged, not asserted: it is load).
    const shown = (name: string, reads: (pod: PodObject) => boolean) =>
      podWhen(name, 'its reason', reads).then(() => shownAfterMs.set(name, Date.now() - createdAt));
    await Promise.all([
      shown('unpullable', (p) => podStartFailure([p]) !== null),
      shown('crashloop', (p) => podStartFailure([p]) !== null),
      shown('never-ready', (p) => podsNotReady([p])[0]?.message !== undefined),
    ]);
    console.log(
      [...shownAfterMs].map(([name, ms]) => `${name}: its reason shown ${ms} ms after creation`).join('\n'),
    );
  });

  it('runs a pod of ordinary images Ready, every container running and ready', async () => {
    const pod = await podWhen('web', 'Ready', (p) => condition(p, 'Ready')?.status === 'True');
    expect(pod.spec?.nodeName).toBe(kwokNodeName);
    expect(pod.status?.phase).toBe('Running');
    for (const name of ['app', 'sluice-proxy']) {
      expect(container(pod, name)).toMatchObject({ ready: true, started: true, restartCount: 0 });
      expect(container(pod, name).state?.running?.startedAt).toEqual(expect.any(String));
    }
    expect(podStartFailure([pod])).toBeNull();
    expect(podsNotReady([pod])).toEqual([]);
    await started().kubectl(['rollout', 'status', 'deployment/web', '-n', NAMESPACE, '--timeout=60s'], {
      timeoutMs: 70_000,
    });
  });

  it('plays an unpullable image as ErrImagePull, then ImagePullBackOff, the pod Pending', async () => {
    const pulling = await podWhen('unpullable', 'ErrImagePull', (p) => podStartFailure([p]) !== null);
    const name = pulling.metadata?.name ?? '';
    expect(pulling.status?.phase).toBe('Pending');
    expect(container(pulling, 'app')).toMatchObject({
      ready: false,
      started: false,
      restartCount: 0,
      state: { waiting: { reason: 'ErrImagePull' } },
    });
    expect(container(pulling, 'sluice-proxy')).toMatchObject({ ready: true, started: true });
    expect(condition(pulling, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'ContainersNotReady',
      message: 'containers with unready status: [app]',
    });
    expect(podStartFailure([pulling])).toBe(
      `pod ${name}: container app ErrImagePull: failed to pull image "registry.test/shop/app:unpullable": ` +
        'manifest unknown: no such tag "unpullable"',
    );

    const backingOff = await podWhen(
      'unpullable',
      'ImagePullBackOff',
      (p) => container(p, 'app').state?.waiting?.reason === 'ImagePullBackOff',
    );
    expect(backingOff.status?.phase).toBe('Pending');
    expect(container(backingOff, 'sluice-proxy')).toMatchObject({ ready: true, started: true });
    expect(podStartFailure([backingOff])).toBe(
      `pod ${name}: container app ImagePullBackOff: Back-off pulling image "registry.test/shop/app:unpullable"`,
    );
  });

  it('plays a crash loop: waiting in CrashLoopBackOff after exit code 1, restarts counting up', async () => {
    const looping = await podWhen('crashloop', 'CrashLoopBackOff', (p) => podStartFailure([p]) !== null);
    const name = looping.metadata?.name ?? '';
    expect(looping.status?.phase).toBe('Running');
    const app = container(looping, 'app');
    expect(app).toMatchObject({
      ready: false,
      started: false,
      state: { waiting: { reason: 'CrashLoopBackOff' } },
      lastState: { terminated: { exitCode: CRASHLOOP_EXIT_CODE, reason: 'Error' } },
    });
    expect(app.restartCount).toBeGreaterThanOrEqual(1);
    expect(container(looping, 'sluice-proxy')).toMatchObject({ ready: true, started: true });
    expect(condition(looping, 'Ready')).toMatchObject({
      status: 'False',
      message: 'containers with unready status: [app]',
    });
    expect(podStartFailure([looping])).toMatch(
      new RegExp(
        `^pod ${name}: container app CrashLoopBackOff, last exit code 1 \\(restarted \\d+ times?\\)$`,
      ),
    );

    const first = app.restartCount ?? 0;
    const later = await podWhen(
      'crashloop',
      'a later restart',
      (p) => (container(p, 'app').restartCount ?? 0) > first,
    );
    expect(container(later, 'app').state?.waiting?.reason).toBe('CrashLoopBackOff');
    expect(podStartFailure([later])).toContain(`(restarted ${first + 1} times)`);
  });

  it('fails the first container whatever comes before it (the proxy first, the app second)', async () => {
    const pod = await podWhen('proxy-first', 'CrashLoopBackOff', (p) => podStartFailure([p]) !== null);
    expect(pod.spec && (pod.spec['containers'] as { name: string }[]).map((c) => c.name)).toEqual([
      'sluice-proxy',
      'app',
    ]);
    expect(container(pod, 'sluice-proxy')).toMatchObject({ ready: true, started: true });
    expect(container(pod, 'app').state?.waiting?.reason).toBe('CrashLoopBackOff');
    expect(podStartFailure([pod])).toContain('container app CrashLoopBackOff, last exit code 1');
  });

  it('plays a never-ready image as running but not ready, which reads as not ready, not as failing', async () => {
    const pod = await podWhen('never-ready', 'Running', (p) => p.status?.phase === 'Running');
    const name = pod.metadata?.name ?? '';
    expect(container(pod, 'app')).toMatchObject({ ready: false, started: true, restartCount: 0 });
    expect(container(pod, 'app').state?.running?.startedAt).toEqual(expect.any(String));
    expect(container(pod, 'sluice-proxy')).toMatchObject({ ready: true, started: true });
    expect(condition(pod, 'ContainersReady')).toMatchObject({ status: 'False' });
    expect(podStartFailure([pod])).toBeNull();
    const notReady = podsNotReady([pod]);
    expect(notReady).toEqual([
      {
        pod: name,
        reason: 'ContainersNotReady',
        message: 'containers with unready status: [app]',
        since: expect.any(String),
      },
    ]);
    expect(describeNotReady(notReady)).toBe(`pod ${name}: containers with unready status: [app]`);
  });

  it("reads the failing Deployments' pods together, naming the first and counting the rest", async () => {
    const all = [...(await pods('crashloop')), ...(await pods('unpullable')), ...(await pods('web'))];
    expect(podStartFailure(all)).toMatch(
      /^pod crashloop-\S+: container app CrashLoopBackOff.* \(and 1 more pod\)$/,
    );
  });

  it('deletes pods that cannot start when their Deployment goes, as any other', async () => {
    const c = started();
    for (const name of ['unpullable', 'crashloop', 'never-ready', 'proxy-first']) {
      await c.kubectl(['delete', 'deployment', name, '-n', NAMESPACE, '--wait=true']);
    }
    await eventually(
      'the failing pods to be gone',
      async () => {
        const left = JSON.parse(await c.kubectl(['get', 'pods', '-n', NAMESPACE, '-o', 'json'])) as {
          items: PodObject[];
        };
        return left.items.every((p) => p.metadata?.labels?.['app'] === 'web');
      },
      { timeoutMs: 60_000 },
    );
  });
});
