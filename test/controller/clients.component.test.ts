import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerClients } from '../../src/controller/command.js';
import { LeaderElector } from '../../src/controller/leader.js';
import { loadKubeConfig } from '../../src/kube/rest.js';
import { createLogger } from '../../src/log.js';
import { startApiStub, type ApiStub } from '../support/api-stub.js';

// The controller's API clients against a real HTTPS server standing in for the API server, which holds the
// answers to the releases' requests for as long as a test wants: the Lease must not wait behind them.

describe("the controller's API clients", () => {
  let api: ApiStub;
  let letGo: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (letGo = resolve));

  beforeAll(async () => {
    api = await startApiStub(async (method, path) => {
      if (path.startsWith('/apis/apps/')) {
        await held;
        return { status: 200, body: {} };
      }
      // The Lease: none yet, so the elector creates it.
      if (method === 'GET') return { status: 404, body: { kind: 'Status', reason: 'NotFound', code: 404 } };
      return { status: 201, body: { metadata: { resourceVersion: '1' } } };
    });
  });

  afterAll(async () => {
    letGo();
    await api.close();
  });

  it('renew the Lease while the releases have every connection of theirs waiting', async () => {
    const { rest, leaseRest } = controllerClients(loadKubeConfig(api.kubeconfigPath));
    const releases = Array.from({ length: 40 }, (_, i) =>
      rest.get(`/apis/apps/v1/namespaces/shop/deployments/app-${i}`),
    );
    let leading: () => void = () => undefined;
    const led = new Promise<void>((resolve) => (leading = resolve));
    const elector = new LeaderElector({
      rest: leaseRest,
      namespace: 'sluice-system',
      name: 'sluice-controller',
      identity: 'replica-a',
      leaseDurationMs: 15_000,
      logger: createLogger('test', 'silent'),
      onChange: (isLeading) => {
        if (isLeading) leading();
      },
    });
    elector.start();
    // With one client for both, the Lease's requests queue behind the 40 held ones and this never resolves.
    await led;
    expect(elector.isLeader).toBe(true);
    const heldNow = api.requests.filter((r) => r.path.startsWith('/apis/apps/')).length;
    expect(heldNow).toBe(16);
    letGo();
    await Promise.all(releases);
    await elector.stop();
    rest.close();
    leaseRest.close();
  });
});
