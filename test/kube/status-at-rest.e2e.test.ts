import { describe, expect, it } from 'vitest';
import { useReleaseScenarios, type CanaryJson } from '../support/podinfo-release.js';
import { sampleValue } from '../support/servers.js';
import { eventually } from '../support/eventually.js';

// The controller on a real control plane writes a Canary's status only when it changed: a release at rest
// is looked at every tick (500 ms here) and on every watch event, and none of those looks writes. Each
// write was one API request per release per tick; with 500 releases that saturated the API server
// (docs/reliability.md). The API server stores a write that changes nothing as a no-op, without a new
// resourceVersion, so the writes are counted where they cost: in the API server's own request counter.

const TICKS = 6;
const WRITES = ['CREATE', 'UPDATE', 'PATCH', 'APPLY', 'DELETE'];

type StoredCanary = CanaryJson & { metadata: { resourceVersion: string } };

describe('a release at rest', () => {
  const scenario = useReleaseScenarios();

  /** How many looks at a release the controller finished, from its /metrics. */
  async function reconciles(): Promise<number> {
    const metrics = await fetch(`http://127.0.0.1:${scenario.controller().port}/metrics`);
    return sampleValue(await metrics.text(), 'sluice_controller_reconciles_total', { result: 'done' });
  }

  /** The requests that wrote a Canary (or its status) that the API server has served, from its /metrics. */
  async function canaryWrites(): Promise<number> {
    const metrics = await scenario.cluster().kubectl(['get', '--raw', '/metrics']);
    let writes = 0;
    for (const verb of WRITES) {
      writes += sampleValue(metrics, 'apiserver_request_total', { resource: 'canaries', verb });
    }
    return writes;
  }

  /** Waits until the controller has finished `count` more looks than it had now. */
  async function moreReconciles(count: number): Promise<void> {
    const target = (await reconciles()) + count;
    await eventually(
      `${count} more reconciles`,
      async () => ((await reconciles()) >= target ? true : undefined),
      { timeoutMs: 60_000 },
    );
  }

  it('keeps its Canary unwritten, tick after tick', async () => {
    const ns = 'at-rest';
    await scenario.setUp(ns);
    // Whatever the first looks had to write (the conditions, the generation) is written by now.
    await moreReconciles(2);
    const before = await scenario.getJson<StoredCanary>(ns, 'canary/podinfo');
    const writesBefore = await canaryWrites();
    expect(writesBefore).toBeGreaterThan(0);

    await moreReconciles(TICKS);

    const after = await scenario.getJson<StoredCanary>(ns, 'canary/podinfo');
    expect(after.status?.phase).toBe('Initialized');
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(await canaryWrites()).toBe(writesBefore);
  });
});
