import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiPath, KubeRest, loadKubeConfig } from '../../src/kube/rest.js';
import { useCluster } from '../support/kube.js';

// KubeRest against the real kube-apiserver: how many TLS connections its requests take, counted from the
// sockets Node.js gives them. ('net.client.socket' would be simpler, but Node.js 20 does not publish TLS
// sockets on it; 'http.client.request.start' carries every request on 20 to 26.)

const NS = 'rest';

/** The distinct sockets that carried this process's HTTP requests to `port`, from now until `stop()`. */
function socketsTo(port: string): { count(): number; stop(): void } {
  const sockets = new Set<Socket>();
  const onStart = (message: unknown): void => {
    const { request } = message as { request: ClientRequest };
    const host = request.getHeader('host');
    if (typeof host !== 'string' || !host.endsWith(`:${port}`)) return;
    if (request.socket) sockets.add(request.socket);
    else request.once('socket', (socket) => sockets.add(socket));
  };
  subscribe('http.client.request.start', onStart);
  return { count: () => sockets.size, stop: () => unsubscribe('http.client.request.start', onStart) };
}

describe('KubeRest connections to a real API server', () => {
  const started = useCluster();
  let port: string;

  beforeAll(async () => {
    const c = started();
    port = new URL(c.server).port;
    await c.kubectl(['create', 'namespace', NS]);
    await c.kubectl(['create', 'configmap', 'x', '-n', NS]);
  });

  let sockets: ReturnType<typeof socketsTo> | undefined;
  afterAll(() => sockets?.stop());

  it('sends one request after another over one kept-alive TLS connection, each with the token', async () => {
    const rest = new KubeRest(loadKubeConfig(started().kubeconfigPath));
    sockets = socketsTo(port);
    const users: string[] = [];
    for (let i = 0; i < 20; i++) {
      // The API server says whom each request came as: one without the token would be system:anonymous.
      const review = await rest.create<{ status?: { userInfo?: { username?: string } } }>(
        '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      );
      users.push(review.status?.userInfo?.username ?? 'none');
    }
    for (let i = 0; i < 5; i++) {
      await rest.patch(apiPath('v1', 'configmaps', NS, 'x'), 'merge', { data: { n: String(i) } });
    }
    rest.close();
    sockets.stop();
    // A handshake per request, as before, made 25 connections here: with hundreds of releases that was
    // most of the controller's CPU.
    expect(sockets.count()).toBe(1);
    expect(users).toEqual(Array.from({ length: 20 }, () => 'sluice-test-admin'));
  });

  it('opens no more connections than its pool of 16, however many requests are under way', async () => {
    const rest = new KubeRest(loadKubeConfig(started().kubeconfigPath));
    sockets = socketsTo(port);
    await Promise.all(Array.from({ length: 40 }, () => rest.get(apiPath('v1', 'configmaps', NS, 'x'))));
    rest.close();
    sockets.stop();
    // The 40 requests start together, so the pool fills: exactly 16, never more.
    expect(sockets.count()).toBe(16);
  });
});
