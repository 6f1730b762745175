import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiPath, KubeRest, loadKubeConfig } from '../../src/kube/rest.js';
import { SecretReceivers } from '../../src/notify/secret-receivers.js';
import { capturedLogger } from '../support/chat-receivers.js';
import { useCluster } from '../support/kube.js';
import { manifestsDir, readYaml } from '../support/manifests.js';
import { eventually } from '../support/eventually.js';

// The receivers as the controller reads them from the real kube-apiserver, as the controller's own
// ServiceAccount with the Role and RoleBinding of manifests/rbac.yaml that let it get this one Secret.

const NS = 'sluice-system';
const SECRET = 'sluice-notifications';
const ACCOUNT = 'sluice-controller';
const NOTIFICATIONS_RBAC = 'sluice-controller-notifications';

/** The GETs of `path` this process sends to the API server at `port`, from now until `stop()`. */
function secretGets(port: string, path: string): { count(): number; stop(): void } {
  let count = 0;
  const onStart = (message: unknown): void => {
    const { request } = message as { request: ClientRequest };
    const host = request.getHeader('host');
    if (typeof host !== 'string' || !host.endsWith(`:${port}`)) return;
    if (request.method === 'GET' && request.path === path) count++;
  };
  subscribe('http.client.request.start', onStart);
  return { count: () => count, stop: () => unsubscribe('http.client.request.start', onStart) };
}

describe('the receivers from the notifications Secret, on a real API server', () => {
  const started = useCluster();
  let kubeconfigPath: string;

  beforeAll(async () => {
    const c = started();
    await c.kubectl(['create', 'namespace', NS]);
    await c.kubectl(['create', 'serviceaccount', ACCOUNT, '-n', NS]);
    const rbac = readYaml(join(manifestsDir, 'rbac.yaml')).filter(
      (o) => (o.kind === 'Role' || o.kind === 'RoleBinding') && o.metadata.name === NOTIFICATIONS_RBAC,
    );
    expect(rbac.map((o) => o.kind)).toEqual(['Role', 'RoleBinding']);
    await c.apply(
      ...rbac.map(({ source: _source, ...o }) => ({ ...o, metadata: { ...o.metadata, namespace: NS } })),
    );
    kubeconfigPath = await c.serviceAccountKubeconfig(NS, ACCOUNT);
  });

  let rest: KubeRest | undefined;
  let gets: ReturnType<typeof secretGets> | undefined;
  afterEach(() => {
    rest?.close();
    gets?.stop();
  });

  it('follows the Secret as it appears and becomes unreadable, and logs no URL', async () => {
    const c = started();
    rest = new KubeRest(loadKubeConfig(kubeconfigPath));
    const { logger, lines } = capturedLogger();
    const receivers = new SecretReceivers({ rest, namespace: NS, name: SECRET, logger });
    const messages = (): string[] => lines().map((line) => (JSON.parse(line) as { msg: string }).msg);

    await receivers.refresh();
    expect(receivers.current()).toEqual([]);
    expect(messages()).toEqual(['notificationSecretNotFoundNoNotifications']);

    await c.kubectl([
      'create',
      'secret',
      'generic',
      SECRET,
      '-n',
      NS,
      '--from-literal=slack=https://hooks.invalid/T0/B0/secret-token',
      '--from-literal=discord=https://x.invalid/t',
    ]);
    await receivers.refresh();
    expect(receivers.current().map((r) => r.name)).toEqual(['slack']);

    // Without its RoleBinding the ServiceAccount is refused (403); the receivers last read are kept. The
    // authorizer follows RBAC objects from its own cache, so wait until it says no.
    await c.kubectl(['delete', 'rolebinding', NOTIFICATIONS_RBAC, '-n', NS]);
    await eventually(
      `${ACCOUNT} may no longer get the Secret`,
      async () =>
        (
          await c.tryKubectl(['auth', 'can-i', 'get', `secret/${SECRET}`, '-n', NS], {
            kubeconfig: kubeconfigPath,
          })
        ).stdout.trim() === 'no',
      { timeoutMs: 30_000 },
    );
    await receivers.refresh();
    expect(receivers.current().map((r) => r.name)).toEqual(['slack']);

    expect(messages()).toEqual([
      'notificationSecretNotFoundNoNotifications',
      'notificationReceiverInvalid',
      'notificationReceiversLoaded',
      'notificationSecretUnreadable',
    ]);
    const unreadable = JSON.parse(lines()[3] ?? '{}') as { err?: { status?: number } };
    expect(unreadable.err?.status).toBe(403);
    const log = lines().join('\n');
    expect(log).toContain('key discord: the key must be a format');
    // Neither a receiver's URL nor any other: not the API server's either.
    expect(log).not.toMatch(/https?:\/\//);
    expect(log).not.toContain('secret-token');
  });

  it('reads again only when the last read is older than the refresh interval', async () => {
    const c = started();
    const name = 'refreshed-notifications';
    await c.kubectl([
      'create',
      'secret',
      'generic',
      name,
      '-n',
      NS,
      '--from-literal=json=http://audit.invalid/',
    ]);
    // As cluster-admin: what is counted here is the reads, not who may make them.
    rest = new KubeRest(loadKubeConfig(c.kubeconfigPath));
    gets = secretGets(new URL(c.server).port, apiPath('v1', 'secrets', NS, name));
    let now = 0;
    const receivers = new SecretReceivers({
      rest,
      namespace: NS,
      name,
      logger: capturedLogger().logger,
      refreshMs: 30_000,
      now: () => now,
    });

    await receivers.refresh();
    expect(receivers.current().map((r) => r.name)).toEqual(['json']);
    now += 29_000;
    receivers.current();
    expect(gets.count()).toBe(1);
    now += 1_000;
    receivers.current();
    // The read `current()` started in the background is the one `refresh()` waits for, not a third.
    await receivers.refresh();
    expect(gets.count()).toBe(2);
  });
});
