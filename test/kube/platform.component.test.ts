import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCanaryConfig } from '../../src/annotations.js';
import { readCanaryStatus } from '../../src/kube/canary-object.js';
import { KubePlatform, type KubeWorld } from '../../src/kube/platform.js';
import { KubeRest, loadKubeConfig } from '../../src/kube/rest.js';
import { createLogger } from '../../src/log.js';
import { RouteStore } from '../../src/routes/server.js';
import { startApiStub, type ApiStub } from '../support/api-stub.js';
import { admittedDeployment } from './support.js';

// KubePlatform's writes of the Canary status, against a real HTTPS server standing in for the API server.

const T0 = Date.parse('2026-12-07T08:00:00Z');
const STATUS_PATH = '/apis/sluice.dev/v1alpha1/namespaces/shop/canaries/podinfo/status';

describe('recording the Canary status', () => {
  let api: ApiStub;
  let rest: KubeRest;
  let resourceVersion = 0;
  let world: KubeWorld;

  beforeAll(async () => {
    api = await startApiStub(() => ({
      status: 200,
      body: { metadata: { resourceVersion: String(++resourceVersion) } },
    }));
    rest = new KubeRest(loadKubeConfig(api.kubeconfigPath));
    const deployment = admittedDeployment('hold-image');
    world = {
      rest,
      deployment: () => deployment,
      config: () => undefined,
      routes: new RouteStore(),
      sealKey: undefined,
      canaryUrlTemplate: 'http://{name}-canary.{namespace}:{port}',
      identity: 'test',
      logger: createLogger('test', 'silent'),
    };
  });

  afterAll(async () => {
    rest.close();
    await api.close();
  });

  const platform = (previous: ReturnType<typeof readCanaryStatus>, version: string | undefined) =>
    new KubePlatform({
      world,
      namespace: 'shop',
      name: 'podinfo',
      config: defaultCanaryConfig(),
      previous,
      resourceVersion: version,
      now: () => T0,
    });

  it('writes a status that changed, and nothing for one that did not', async () => {
    api.requests.length = 0;
    const fresh = readCanaryStatus(undefined, T0);
    const first = platform(fresh, undefined);
    await first.record(fresh);
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`PATCH ${STATUS_PATH}`]);
    const written = first.recorded;
    if (written === null) throw new Error('the first status was not recorded');
    expect(written.resourceVersion).toBe(String(resourceVersion));

    // The next tick, with nothing new: no request, and nothing recorded for the controller to remember.
    const idle = platform(written.status, written.resourceVersion);
    await idle.record(written.status);
    expect(api.requests).toHaveLength(1);
    expect(idle.recorded).toBeNull();

    // A step: written, guarded by the resourceVersion it was read at.
    const stepped = platform(written.status, written.resourceVersion);
    await stepped.record({ ...written.status, phase: 'Progressing', canaryWeight: 20 });
    expect(api.requests).toHaveLength(2);
    const patch = JSON.parse(api.requests[1]?.body ?? '[]') as { op: string; path: string; value: unknown }[];
    expect(patch[0]).toEqual({
      op: 'test',
      path: '/metadata/resourceVersion',
      value: written.resourceVersion,
    });
    expect(patch[1]).toMatchObject({
      op: 'add',
      path: '/status',
      value: { phase: 'Progressing', canaryWeight: 20 },
    });
    expect(stepped.recorded?.status.canaryWeight).toBe(20);
  });
});
