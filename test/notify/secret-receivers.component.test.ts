import { afterEach, describe, expect, it } from 'vitest';
import { KubeRest, loadKubeConfig } from '../../src/kube/rest.js';
import { SecretReceivers } from '../../src/notify/secret-receivers.js';
import { startApiStub, type ApiStub } from '../support/api-stub.js';
import { capturedLogger } from '../support/chat-receivers.js';

// The receivers as the controller reads them, from a real HTTPS server in the API server's place.

const PATH = '/api/v1/namespaces/sluice-system/secrets/sluice-notifications';
const b64 = (text: string): string => Buffer.from(text).toString('base64');
const secret = (data: Record<string, string>) => ({
  status: 200,
  body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sluice-notifications' }, data },
});

let api: ApiStub | undefined;
let rest: KubeRest | undefined;
afterEach(async () => {
  rest?.close();
  await api?.close();
});

describe('the receivers from the notifications Secret', () => {
  it('follows the Secret as it appears, changes and becomes unreadable, and logs no URL', async () => {
    const answers = [
      { status: 404, body: { kind: 'Status', reason: 'NotFound', code: 404 } },
      secret({ slack: b64('https://hooks.invalid/T0/B0/secret-token'), discord: b64('https://x.invalid/t') }),
      { status: 500, body: { kind: 'Status', reason: 'InternalError', code: 500 } },
    ];
    const notFound = { status: 404, body: {} };
    api = await startApiStub((method, path) =>
      method === 'GET' && path === PATH ? (answers.shift() ?? notFound) : notFound,
    );
    rest = new KubeRest(loadKubeConfig(api.kubeconfigPath));
    let now = 0;
    const { logger, lines } = capturedLogger();
    const receivers = new SecretReceivers({
      rest,
      namespace: 'sluice-system',
      name: 'sluice-notifications',
      logger,
      refreshMs: 30_000,
      now: () => now,
    });

    await receivers.refresh();
    expect(receivers.current()).toEqual([]);

    now += 30_000;
    await receivers.refresh();
    expect(receivers.current().map((r) => r.name)).toEqual(['slack']);

    now += 30_000;
    await receivers.refresh();
    expect(receivers.current().map((r) => r.name)).toEqual(['slack']);

    const messages = lines().map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toEqual([
      'notificationSecretNotFoundNoNotifications',
      'notificationReceiverInvalid',
      'notificationReceiversLoaded',
      'notificationSecretUnreadable',
    ]);
    expect(lines().join('\n')).not.toContain('secret-token');
    expect(lines().join('\n')).toContain('key discord: the key must be a format');
  });

  it('reads again only when the last read is older than the refresh interval', async () => {
    api = await startApiStub(() => secret({ json: b64('http://audit.invalid/') }));
    rest = new KubeRest(loadKubeConfig(api.kubeconfigPath));
    let now = 0;
    const receivers = new SecretReceivers({
      rest,
      namespace: 'sluice-system',
      name: 'sluice-notifications',
      logger: capturedLogger().logger,
      refreshMs: 30_000,
      now: () => now,
    });
    await receivers.refresh();
    receivers.current();
    now += 29_000;
    receivers.current();
    expect(api.requests).toHaveLength(1);
    now += 1_000;
    receivers.current();
    await receivers.refresh();
    expect(api.requests).toHaveLength(2);
  });
});
