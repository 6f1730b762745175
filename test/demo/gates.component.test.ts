import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FAST, runDemo, STALL_TOLERANT, type DemoRun } from '../support/demo.js';

// Gates in `sluice demo`: its built-in gate, and gates of the test's own on loopback given by --webhooks.
// The whole release runs as in the cluster (runner, machine, real proxies); only the platform is local.

const runs: DemoRun[] = [];
const servers: http.Server[] = [];
afterAll(async () => {
  for (const run of runs) run.stop();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
afterEach((context) => {
  if (context.task.result?.state === 'fail') console.error(runs.at(-1)?.lines.join('\n'));
});

/**
 * A whole release in a child process: seconds on a quiet machine, but the process alone can take tens of
 * seconds to start when the machine is busy, which the tier's 60 s would not allow for.
 */
const WHOLE_RELEASE_MS = 120_000;

function demo(args: string[]): DemoRun {
  const run = runDemo([...FAST, ...STALL_TOLERANT, ...args], 90_000);
  runs.push(run);
  return run;
}

interface Call {
  path: string;
  body: {
    name: string;
    namespace: string;
    phase: string;
    checksum: string;
    metadata: Record<string, string>;
  };
}

/** A gate server: records each call; `status(path, calls so far to it)` is its answer. */
async function startGates(
  status: (path: string, seen: number) => number,
): Promise<{ url: string; calls: Call[] }> {
  const calls: Call[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      const path = req.url ?? '';
      const seen = calls.filter((c) => c.path === path).length;
      calls.push({ path, body: JSON.parse(text) as Call['body'] });
      res.writeHead(status(path, seen)).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls };
}

describe('gates in sluice demo', () => {
  it(
    'halts before promotion at the built-in gate until it is opened, then promotes',
    async () => {
      const run = demo(['--gate', 'confirm-promotion']);
      const [, gateUrl] = await run.waitForLine(
        /The demo gate is closed: .* curl -X POST (http:\/\/\S+)\/gate\/open$/,
      );
      await run.waitForLine(
        /Halt promotion of revision v2: waiting for approval \(confirm-promotion gate .*answered HTTP 403/,
        60_000,
      );
      const opened = await request(`${gateUrl ?? ''}/gate/open`, { method: 'POST' });
      expect(opened.statusCode).toBe(202);
      await opened.body.dump();
      const { code, result } = await run.finished;
      expect(code).toBe(0);
      expect(result).toMatchObject({ result: 'promoted', phase: 'Succeeded' });
    },
    WHOLE_RELEASE_MS,
  );

  it(
    'calls --webhooks gates with Flagger’s payload: waits for confirm-rollout and confirm-traffic-increase, tells event and post-rollout',
    async () => {
      // confirm-rollout and confirm-traffic-increase refuse their first call; every other gate passes.
      const refusedOnce = ['/confirm', '/more'];
      const gates = await startGates((path, seen) => (refusedOnce.includes(path) && seen === 0 ? 403 : 200));
      const webhooks = [
        `confirm-rollout=${gates.url}/confirm`,
        `confirm-traffic-increase=${gates.url}/more`,
        `rollout=${gates.url}/load-test`,
        `event=${gates.url}/events`,
        `post-rollout=${gates.url}/done`,
      ].join(',');
      const run = demo(['--webhooks', webhooks]);
      await run.waitForLine(/Halt advancement of revision v2: waiting for approval \(confirm-rollout gate/);
      const { code, result } = await run.finished;
      expect(code).toBe(0);
      expect(result).toMatchObject({ result: 'promoted', phase: 'Succeeded' });
      const to = (path: string) => gates.calls.filter((c) => c.path === path).map((c) => c.body);
      const text = run.lines.join('\n');
      expect(text).toMatch(/Revision v2 approved by the confirm-rollout gates/);
      expect(text).toMatch(/Halt advancement at weight 0: waiting for approval to increase traffic/);
      // Asked before each of the 6 weights (the first twice), never after the last.
      expect(to('/more')).toHaveLength(7);

      expect(to('/confirm')).toHaveLength(2);
      expect(to('/confirm')[0]).toEqual({
        name: 'podinfo',
        namespace: 'demo',
        phase: 'Progressing',
        checksum: 'v2',
        metadata: {},
      });
      expect(to('/load-test').length).toBeGreaterThanOrEqual(6);
      expect(to('/done')).toEqual([expect.objectContaining({ phase: 'Succeeded', checksum: 'v2' })]);
      // Events arrive after the step that emitted them, in order: wait for the last one.
      await expect
        .poll(() => to('/events').map((e) => e.metadata['eventReason']), { timeout: 10_000 })
        .toContain('Promoted');
      const reasons = to('/events').map((e) => e.metadata['eventReason']);
      expect(reasons.slice(0, 3)).toEqual(['WaitingForApproval', 'Approved', 'CanaryStarted']);
      expect(to('/events')[0]?.metadata).toMatchObject({ eventType: 'Warning' });
    },
    WHOLE_RELEASE_MS,
  );
});
