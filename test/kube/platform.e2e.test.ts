import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCanaryConfig } from '../../src/annotations.js';
import {
  CANARY_API_VERSION,
  CANARY_PLURAL,
  newCanaryObject,
  readCanaryStatus,
  type CanaryObject,
} from '../../src/kube/canary-object.js';
import type { DeploymentObject } from '../../src/kube/objects.js';
import { KubePlatform, type RecordedStatus } from '../../src/kube/platform.js';
import { apiPath, KubeApiError, KubeRest, loadKubeConfig } from '../../src/kube/rest.js';
import type { KubeWorld } from '../../src/kube/world.js';
import { initialStatus, type ReleaseAction, type ReleaseStatus } from '../../src/release/status.js';
import { RouteStore } from '../../src/routes/server.js';
import { useCluster } from '../support/kube.js';
import { quietLogger } from '../support/servers.js';
import { fixtureTemplate, injected } from './support.js';

// The kube platform's record on a real control plane: the route a step sets reaches this replica's route
// store only once the Canary status that holds it is stored, as it reaches every other replica.

const CRD = fileURLToPath(new URL('../../manifests/crd.yaml', import.meta.url));
const NS = 'record';
const NAME = 'podinfo';
const T0 = Date.parse('2026-01-01T00:00:00Z');

describe('recording a step on a real control plane', () => {
  const started = useCluster();
  let rest: KubeRest;
  let deployment: DeploymentObject;

  beforeAll(async () => {
    const c = started();
    await c.kubectl(['apply', '-f', CRD]);
    await c.kubectl(['wait', '--for=condition=Established', 'crd/canaries.sluice.dev', '--timeout=60s']);
    await c.kubectl(['create', 'namespace', NS]);
    rest = new KubeRest(loadKubeConfig(c.kubeconfigPath));
    deployment = await rest.create<DeploymentObject>(apiPath('apps/v1', 'deployments', NS), {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: NAME, namespace: NS },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'podinfo' } },
        template: injected(fixtureTemplate('create-opts-in'), NAME),
      },
    } as DeploymentObject);
  });

  afterAll(() => rest.close());

  const canaryPath = apiPath(CANARY_API_VERSION, CANARY_PLURAL, NS, NAME);
  const progressing: ReleaseStatus = {
    ...initialStatus(T0),
    phase: 'Progressing',
    canaryWeight: 20,
    stableRevision: 'aaaaaaaaaa',
    candidateRevision: 'bbbbbbbbbb',
  };
  const setRoute: ReleaseAction = {
    type: 'setRoute',
    route: { weight: 20, match: [], segment: [], sticky: null },
  };

  function platformOver(canary: CanaryObject, routes: RouteStore, recorded: RecordedStatus[]): KubePlatform {
    const world: KubeWorld = {
      rest,
      deployment: (namespace, name) => (namespace === NS && name === NAME ? deployment : undefined),
      config: () => undefined,
      routes,
      sealKey: undefined,
      canaryUrlTemplate: 'http://{name}-canary.{namespace}:{port}',
      identity: 'test',
      logger: quietLogger,
    };
    const previous = readCanaryStatus(canary, T0);
    return new KubePlatform({
      world,
      namespace: NS,
      name: NAME,
      config: defaultCanaryConfig(),
      previous,
      conditions: previous.conditions,
      resourceVersion: canary.metadata?.resourceVersion,
      onRecorded: (status) => recorded.push(status),
      now: () => T0,
    });
  }

  it('keeps the old route when the status that holds the new one cannot be stored', async () => {
    const canary = await rest.create<CanaryObject>(
      apiPath(CANARY_API_VERSION, CANARY_PLURAL, NS),
      newCanaryObject(deployment),
    );
    const routes = new RouteStore();
    const recorded: RecordedStatus[] = [];
    const platform = platformOver(canary, routes, recorded);
    // Another writer stores a status first: this step's write, guarded by the version it read, must fail.
    await rest.patch(`${canaryPath}/status`, 'merge', { status: { phase: 'Initialized' } });

    await platform.apply(setRoute);
    const failed = await platform.record(progressing, [setRoute]).catch((err: unknown) => err);

    // The guard's failed `test` operation: 422 on this API server (409 on others), either way not written.
    expect(failed).toBeInstanceOf(KubeApiError);
    expect(recorded).toEqual([]);
    expect(routes.get(NS, NAME).canary).toBeNull();
    const stored = await rest.get<CanaryObject>(canaryPath);
    expect(stored.status).toEqual({ phase: 'Initialized' });
  });

  it('publishes the route once the status that holds it is stored', async () => {
    const canary = await rest.get<CanaryObject>(canaryPath);
    const routes = new RouteStore();
    const recorded: RecordedStatus[] = [];
    const platform = platformOver(canary, routes, recorded);

    await platform.apply(setRoute);
    await platform.record(progressing, [setRoute]);

    const stored = await rest.get<CanaryObject>(canaryPath);
    expect(stored.status?.['route']).toEqual({
      url: 'http://podinfo-canary.record:9898',
      weight: 20,
      match: [],
      segment: [],
      sticky: null,
    });
    expect(routes.get(NS, NAME).canary).toEqual(stored.status?.['route']);
    expect(recorded.map((r) => r.resourceVersion)).toEqual([stored.metadata?.resourceVersion]);
    expect(recorded[0]?.status.route).toEqual(stored.status?.['route']);
  });
});
