import { afterEach, describe, expect, it } from 'vitest';
import type { ReleaseNotice } from '../../src/notify/notices.js';
import { refusedUrl, startReceiver, type TestReceiver } from '../support/chat-receivers.js';
import { RELEASE_ANNOTATIONS, useReleaseScenarios } from '../support/podinfo-release.js';

// Release notices from the controller on a real control plane: it reads the receivers from the Secret
// under its own identity and RBAC, posts to real receivers on loopback, and a receiver that never answers
// and one that refuses do not hold up the release.

describe('release notifications', () => {
  // At the most verbose level, so that the search for the URLs covers every line the controller could log.
  const scenario = useReleaseScenarios({ logLevel: 'trace' });
  const c = scenario.cluster;
  const receivers: TestReceiver[] = [];
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((r) => r.close()));
    await c().tryKubectl(['delete', 'secret', 'sluice-notifications', '-n', 'sluice-system']);
  });

  it('posts each step of a release and finishes it while two receivers are down', async () => {
    const ns = 'notify';
    const working = await startReceiver();
    const silent = await startReceiver(null);
    receivers.push(working, silent);
    const refused = await refusedUrl();
    await c().kubectl([
      'create',
      'secret',
      'generic',
      'sluice-notifications',
      '-n',
      'sluice-system',
      `--from-literal=json=${working.url}`,
      `--from-literal=slack-down=${silent.url}`,
      `--from-literal=teams-refused=${refused}`,
    ]);
    await scenario.setUp(ns, {
      annotations: { ...RELEASE_ANNOTATIONS, 'sluice.dev/notifications': 'steps' },
      controllerArgs: ['--notifications-secret', 'sluice-notifications', '--notification-timeout', '2s'],
    });

    await c().kubectl(['set', 'image', 'deployment/podinfo', '-n', ns, 'podinfo=example/podinfo:2.0']);
    await c().kubectl(['wait', '--for=condition=Promoted', 'canary/podinfo', '-n', ns, '--timeout=120s'], {
      timeoutMs: 130_000,
    });

    const notices = (await working.waitFor(4)).map((r) => r.body as ReleaseNotice);
    expect(notices.map((n) => [n.reason, n.weight])).toEqual([
      ['CanaryStarted', 0],
      ['WeightIncreased', 20],
      ['WeightIncreased', 50],
      ['Promoted', 0],
    ]);
    expect(notices.at(-1)).toMatchObject({ namespace: ns, deployment: 'podinfo', phase: 'Succeeded' });
    expect(notices.at(-1)?.message).toMatch(/^Promotion completed: revision [0-9a-f]{10} is stable/);

    const controller = scenario.controller();
    const failed = await controller.waitForLog('notificationFailed');
    expect(failed).toMatchObject({ namespace: ns, deployment: 'podinfo' });
    const failures = controller.logs.filter((l) => l['msg'] === 'notificationFailed');
    expect(new Set(failures.map((l) => l['receiver']))).toEqual(new Set(['slack-down', 'teams-refused']));

    const metrics = await (await fetch(`http://127.0.0.1:${controller.port}/metrics`)).text();
    expect(metrics).toContain(
      `sluice_releases_total{namespace="${ns}",deployment="podinfo",result="promoted"} 1`,
    );
    expect(metrics).toMatch(/sluice_notifications_total\{receiver="json",result="sent"\} 4/);

    // The URLs are credentials: not in a log line, an Event or the Canary.
    const events = await c().kubectl(['get', 'events', '-n', ns, '-o', 'json']);
    const canary = await c().kubectl(['get', 'canary/podinfo', '-n', ns, '-o', 'json']);
    for (const url of [working.url, silent.url, refused]) {
      const { pathname } = new URL(url);
      expect(controller.output()).not.toContain(pathname);
      expect(events).not.toContain(pathname);
      expect(canary).not.toContain(pathname);
    }
  });
});
