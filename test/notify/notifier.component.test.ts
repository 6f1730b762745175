import { afterEach, describe, expect, it } from 'vitest';
import { Notifier, type PostResult } from '../../src/notify/notifier.js';
import type { ReleaseNotice } from '../../src/notify/notices.js';
import { parseReceivers, type Receiver } from '../../src/notify/receivers.js';
import { capturedLogger, refusedUrl, startReceiver, type TestReceiver } from '../support/chat-receivers.js';
import { quietLogger } from '../support/servers.js';

// The Notifier against real HTTP receivers on loopback: ones that answer, one that never does, one that
// refuses connections.

const notice = (reason: ReleaseNotice['reason'], message: string): ReleaseNotice => ({
  namespace: 'shop',
  deployment: 'podinfo',
  reason,
  type: reason === 'RolledBack' ? 'Warning' : 'Normal',
  message,
  revision: '5f2c9a1b3d',
  stableRevision: '0a1b2c3d4e',
  phase: reason === 'Promoted' ? 'Succeeded' : 'Progressing',
  weight: 10,
  time: '2026-12-07T08:00:00.000Z',
});

/** Receivers as the controller reads them from the Secret's data. */
function receiversOf(urls: Record<string, string>): Receiver[] {
  const data = Object.fromEntries(
    Object.entries(urls).map(([key, url]) => [key, Buffer.from(url).toString('base64')]),
  );
  const parsed = parseReceivers('sluice-system/sluice-notifications', data);
  expect(parsed.errors).toEqual([]);
  return [...parsed.receivers];
}

const open: TestReceiver[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});
async function track<T extends TestReceiver>(receiver: Promise<T>): Promise<T> {
  const started = await receiver;
  open.push(started);
  return started;
}

describe('Notifier', () => {
  it('posts a Slack message, a Teams Adaptive Card and the generic JSON notice', async () => {
    const slack = await track(startReceiver());
    const teams = await track(startReceiver());
    const json = await track(startReceiver());
    const receivers = receiversOf({ slack: slack.url, 'teams-releases': teams.url, 'json-audit': json.url });
    const notifier = new Notifier({ receivers: () => receivers, logger: quietLogger });

    notifier.notify(notice('Promoted', 'Promotion completed: revision 5f2c9a1b3d is stable (took 5m)'));

    const [toSlack] = await slack.waitFor(1);
    expect(toSlack?.contentType).toBe('application/json');
    expect(toSlack?.body).toMatchObject({
      text: '*podinfo.shop: promoted*\nPromotion completed: revision 5f2c9a1b3d is stable (took 5m)',
      attachments: [
        {
          color: '#2eb67d',
          fields: expect.arrayContaining([
            { title: 'Revision', value: '5f2c9a1b3d', short: true },
          ]) as unknown,
        },
      ],
    });
    const [toTeams] = await teams.waitFor(1);
    expect(toTeams?.body).toMatchObject({
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          content: {
            type: 'AdaptiveCard',
            version: '1.4',
            body: [
              { type: 'TextBlock', text: 'podinfo.shop: promoted', color: 'Good' },
              { type: 'TextBlock', text: 'Promotion completed: revision 5f2c9a1b3d is stable (took 5m)' },
              {
                type: 'FactSet',
                facts: expect.arrayContaining([{ title: 'Weight', value: '10%' }]) as unknown,
              },
            ],
          },
        },
      ],
    });
    const [toJson] = await json.waitFor(1);
    expect(toJson?.body).toEqual({
      kind: 'ReleaseNotice',
      ...notice('Promoted', 'Promotion completed: revision 5f2c9a1b3d is stable (took 5m)'),
    });
  });

  it('keeps posting to a working receiver while another never answers or refuses, and logs no URL', async () => {
    const working = await track(startReceiver());
    const silent = await track(startReceiver(null));
    const refused = await refusedUrl();
    const receivers = receiversOf({ slack: working.url, 'slack-silent': silent.url, 'json-down': refused });
    const { logger, lines } = capturedLogger();
    const results: [string, PostResult][] = [];
    const notifier = new Notifier({
      receivers: () => receivers,
      logger,
      timeoutMs: 1500,
      onResult: (receiver, result) => results.push([receiver.name, result]),
    });

    notifier.notify(notice('CanaryStarted', 'New revision 5f2c9a1b3d detected: starting canary analysis'));
    notifier.notify(notice('RolledBack', 'Rolling back revision 5f2c9a1b3d: 5 failed checks'));

    // Both reach the working receiver while the silent one still holds the first post.
    const got = await working.waitFor(2);
    expect(got.map((r) => (r.body as { text: string }).text.split('\n')[0])).toEqual([
      '*podinfo.shop: release started*',
      '*podinfo.shop: rolled back*',
    ]);
    await notifier.idle();
    expect(results.filter(([, result]) => result === 'sent')).toEqual([
      ['slack', 'sent'],
      ['slack', 'sent'],
    ]);
    expect(results.filter(([name]) => name !== 'slack')).toEqual(
      expect.arrayContaining([
        ['slack-silent', 'failed'],
        ['json-down', 'failed'],
      ]),
    );

    const failures = lines()
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry['msg'] === 'notificationFailed');
    expect(failures).toHaveLength(4);
    expect(failures).toContainEqual(
      expect.objectContaining({
        receiver: 'slack-silent',
        namespace: 'shop',
        deployment: 'podinfo',
        why: 'no complete answer within 1500 ms',
      }),
    );
    expect(failures).toContainEqual(
      expect.objectContaining({ receiver: 'json-down', why: 'the connection failed (ECONNREFUSED)' }),
    );
    const log = lines().join('\n');
    for (const url of [working.url, silent.url, refused]) {
      expect(log).not.toContain(new URL(url).pathname);
      expect(log).not.toContain(new URL(url).host);
    }
  });

  it('drops the oldest messages of a receiver that falls behind, and keeps the newest', async () => {
    const silent = await track(startReceiver(null));
    const receivers = receiversOf({ json: silent.url });
    const results: PostResult[] = [];
    const weights: Record<string, number[]> = { dropped: [], failed: [] };
    const notifier = new Notifier({
      receivers: () => receivers,
      logger: quietLogger,
      timeoutMs: 200,
      queueSize: 2,
      onResult: (_receiver, result, posted) => {
        results.push(result);
        weights[result]?.push(posted.weight);
      },
    });
    for (let weight = 10; weight <= 50; weight += 10) {
      notifier.notify({ ...notice('WeightIncreased', `Advance canary weight ${weight}`), weight });
    }
    // One in flight, two waiting: the other two are dropped at once.
    expect(results).toEqual(['dropped', 'dropped']);
    await notifier.idle();
    expect(results).toEqual(['dropped', 'dropped', 'failed', 'failed', 'failed']);
    expect(weights).toEqual({ dropped: [20, 30], failed: [10, 40, 50] });
  });

  it('does not follow a redirect away from the URL in the Secret', async () => {
    const elsewhere = await track(startReceiver());
    const redirecting = await track(startReceiver(307, { location: elsewhere.url }));
    const receivers = receiversOf({ json: redirecting.url });
    const results: PostResult[] = [];
    const notifier = new Notifier({
      receivers: () => receivers,
      logger: quietLogger,
      onResult: (_receiver, result) => results.push(result),
    });
    notifier.notify(notice('Promoted', 'Promotion completed'));
    await notifier.idle();
    expect(results).toEqual(['failed']);
    expect(redirecting.received).toHaveLength(1);
    expect(elsewhere.received).toHaveLength(0);
  });
});
