import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeRest, loadKubeConfig } from '../../src/kube/rest.js';
import { API_STUB_TOKEN, startApiStub, type ApiStub } from '../support/api-stub.js';

// KubeRest against a real HTTPS server standing in for the API server: what goes over the wire, and how many
// connections it takes.

describe('KubeRest connections', () => {
  let api: ApiStub;

  beforeAll(async () => {
    api = await startApiStub();
  });

  afterAll(async () => {
    await api.close();
  });

  it('sends one request after another over one kept-alive TLS connection, each with the token', async () => {
    const rest = new KubeRest(loadKubeConfig(api.kubeconfigPath));
    const before = api.connections();
    api.requests.length = 0;
    for (let i = 0; i < 20; i++) await rest.get('/api/v1/namespaces/default/configmaps/x');
    for (let i = 0; i < 5; i++) await rest.patch('/api/v1/namespaces/default/configmaps/x', 'merge', {});
    rest.close();
    // A handshake per request, as before, made 25 connections here: with hundreds of releases that was
    // most of the controller's CPU.
    expect(api.connections() - before).toBe(1);
    expect(api.requests.map((r) => r.authorization)).toEqual(
      Array.from({ length: 25 }, () => `Bearer ${API_STUB_TOKEN}`),
    );
  });

  it('opens no more connections than requests at once, up to its pool of 16', async () => {
    const rest = new KubeRest(loadKubeConfig(api.kubeconfigPath));
    const before = api.connections();
    await Promise.all(Array.from({ length: 40 }, () => rest.get('/api/v1/namespaces/default/configmaps/x')));
    rest.close();
    expect(api.connections() - before).toBeLessThanOrEqual(16);
  });
});
