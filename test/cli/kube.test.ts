import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, FetchError } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import {
  apiError,
  ApiStatusError,
  ApiUnreachableError,
  connect,
  KubeconfigError,
} from '../../src/cli/kube.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

function kubeconfigFile(namespace?: string): string {
  const path = join(dir, `config-${++files}`);
  const context = { cluster: 'c', user: 'u', ...(namespace && { namespace }) };
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443' } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'dev', context }],
      'current-context': 'dev',
    }),
  );
  return path;
}

describe('the operator commands reach a cluster as kubectl does', () => {
  it("takes -n, else the context's namespace, else default", () => {
    const withNamespace = kubeconfigFile('shop');
    expect(connect({ kubeconfig: withNamespace }).namespace).toBe('shop');
    expect(connect({ kubeconfig: withNamespace, namespace: 'api' }).namespace).toBe('api');
    expect(connect({ kubeconfig: kubeconfigFile() }).namespace).toBe('default');
  });

  it('names a kubeconfig it cannot read', () => {
    expect(() => connect({ kubeconfig: '/nonexistent/kubeconfig' })).toThrow(KubeconfigError);
    expect(() => connect({ kubeconfig: '/nonexistent/kubeconfig' })).toThrow(
      /cannot read \/nonexistent\/kubeconfig: ENOENT/,
    );
  });
});

describe('API failures, in one line', () => {
  const connection = connect({ kubeconfig: kubeconfigFile('shop') });

  it("gives the API server's own reason for a refusal", () => {
    const body = JSON.stringify({
      kind: 'Status',
      status: 'Failure',
      reason: 'Forbidden',
      code: 403,
      message: 'deployments.apps "podinfo" is forbidden: User "dev" cannot patch resource "deployments"',
    });
    const err = apiError(
      new ApiException(403, 'Unknown API Status Code!', body, {}),
      'annotate deployment shop/podinfo',
      connection,
    );
    expect(err).toBeInstanceOf(ApiStatusError);
    expect((err as ApiStatusError).status).toBe(403);
    expect(err.message).toBe(
      'cannot annotate deployment shop/podinfo: deployments.apps "podinfo" is forbidden: User "dev" cannot patch resource "deployments"',
    );
  });

  it('says which credentials a 401 rejected', () => {
    const err = apiError(new ApiException(401, 'Unauthorized', undefined, {}), 'list canaries', connection);
    expect(err.message).toBe(
      'cannot list canaries: Unauthorized (the credentials of context "dev" were not accepted by https://127.0.0.1:6443)',
    );
  });

  it('names the server it could not reach', () => {
    const cause = new FetchError(
      'request to https://127.0.0.1:6443/apis failed, reason: connect ECONNREFUSED 127.0.0.1:6443',
      'system',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }),
    );
    const err = apiError(cause, 'list canaries', connection);
    expect(err).toBeInstanceOf(ApiUnreachableError);
    expect(err.message).toBe(
      'cannot list canaries: the Kubernetes API at https://127.0.0.1:6443 did not answer (connect ECONNREFUSED 127.0.0.1:6443)',
    );
    expect(err.cause).toBe(cause);
  });

  it('keeps only the first line of anything else', () => {
    const err = apiError(new Error('exec plugin failed\n  at somewhere'), 'list canaries', connection);
    expect(err.message).toBe('cannot list canaries: exec plugin failed');
  });
});
