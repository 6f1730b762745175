import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerClients } from '../../src/controller/command.js';
import { LeaderElector } from '../../src/controller/leader.js';
import { apiPath, loadKubeConfig, type KubeRest } from '../../src/kube/rest.js';
import { createLogger } from '../../src/log.js';
import { useCluster } from '../support/kube.js';
import { sampleValue } from '../support/servers.js';
import { eventually } from '../support/eventually.js';

// The controller's API clients on the real kube-apiserver: while the releases' client has every connection
// of its pool held by long requests, the Lease must still be taken, over a pool of its own.

const POOL = 16;
const NS = 'shop';
const LEASE_NS = 'sluice-system';
/** Long enough to outlast the election below; under KubeRest's 30 s idle timeout, so it ends by the server. */
const WATCH_SECONDS = 25;

describe("the controller's API clients", () => {
  const started = useCluster();
  let clients: { rest: KubeRest; leaseRest: KubeRest } | undefined;

  beforeAll(async () => {
    const c = started();
    await c.kubectl(['create', 'namespace', NS]);
    await c.kubectl(['create', 'namespace', LEASE_NS]);
  });

  afterAll(() => {
    clients?.rest.close();
    clients?.leaseRest.close();
  });

  /** The watches of Deployments in NS that the API server is serving now, from its own /metrics. */
  async function watchesServed(): Promise<number> {
    const metrics = await started().kubectl(['get', '--raw', '/metrics']);
    return sampleValue(metrics, 'apiserver_longrunning_requests', {
      resource: 'deployments',
      scope: 'namespace',
      verb: 'WATCH',
    });
  }

  it('renew the Lease while the releases have every connection of theirs held', async () => {
    clients = controllerClients(loadKubeConfig(started().kubeconfigPath));
    const { rest, leaseRest } = clients;
    const watch = `${apiPath('apps/v1', 'deployments', NS)}?watch=true&timeoutSeconds=${WATCH_SECONDS}`;
    const watches = Array.from({ length: POOL }, () => rest.get(watch));
    // One request more than the pool holds: it waits for a free connection.
    let queuedDone = false;
    const queued = rest.list(apiPath('apps/v1', 'deployments', NS)).finally(() => (queuedDone = true));
    await eventually(
      `the API server to serve ${POOL} watches`,
      async () => (await watchesServed()) === POOL,
      {
        timeoutMs: 20_000,
        intervalMs: 200,
      },
    );

    let ledWhilePoolFull: boolean | undefined;
    const elector = new LeaderElector({
      rest: leaseRest,
      namespace: LEASE_NS,
      name: 'sluice-controller',
      identity: 'replica-a',
      leaseDurationMs: 15_000,
      logger: createLogger('test', 'silent'),
      onChange: (isLeading) => {
        // Full while the request beyond the pool still waits for a connection.
        if (isLeading) ledWhilePoolFull ??= !queuedDone;
      },
    });
    elector.start();
    // With one client for both, the Lease's requests queue behind the held ones and this never happens.
    await eventually('the elector to take the Lease', async () => ledWhilePoolFull !== undefined, {
      timeoutMs: 20_000,
      intervalMs: 50,
    });
    expect(ledWhilePoolFull).toBe(true);
    expect(elector.isLeader).toBe(true);
    const lease = JSON.parse(
      await started().kubectl(['get', 'lease', 'sluice-controller', '-n', LEASE_NS, '-o', 'json']),
    ) as { spec: { holderIdentity?: string } };
    expect(lease.spec.holderIdentity).toBe('replica-a');
    await elector.stop();

    // The API server ends the watches after WATCH_SECONDS; then the waiting request gets a connection.
    await Promise.all(watches);
    await queued;
  });
});
