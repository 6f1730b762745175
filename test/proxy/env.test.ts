import { describe, expect, it } from 'vitest';
import { envName, parseOptions } from '../../src/command/options.js';
import { injectProxy } from '../../src/injection/inject.js';
import { findProxy } from '../../src/injection/read.js';
import type { PodTemplate } from '../../src/pod-template.js';
import { PROXY_ENV } from '../../src/proxy-env.js';
import { revision } from '../../src/revision.js';
import { proxyCommand } from '../../proxy/command.js';
import { CONFIG } from '../webhook/support.js';
import { fixtureTemplate, injected } from '../kube/support.js';

/** The env of an injected proxy as the kubelet hands it over, the namespace filled in from the pod. */
function proxyEnv(template: PodTemplate, namespace: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of findProxy(template)?.container.env ?? []) {
    const value = entry['value'];
    if (typeof value === 'string') env[entry.name] = value;
    else if (entry.name === PROXY_ENV.namespace) env[entry.name] = namespace;
  }
  return env;
}

describe("the injected proxy's env", () => {
  it('names each option as the command framework reads it from the env', () => {
    for (const [option, name] of Object.entries(PROXY_ENV)) expect(name).toBe(envName(option));
  });

  it('sets every option the proxy needs, which the proxy command reads back', () => {
    const original = fixtureTemplate('create-opts-in');
    const template = injected(original, 'podinfo');
    const options = parseOptions(proxyCommand.options, [], proxyEnv(template, 'shop'));
    expect(options).toMatchObject({
      appPort: 9898,
      listenPort: 15080,
      adminPort: 15090,
      controlUrl: CONFIG.proxy.controlUrl,
      namespace: 'shop',
      deployment: 'podinfo',
      role: 'primary',
      revision: revision(original),
    });
  });
});

describe("the canary's injected proxy", () => {
  it('reads its role as canary', () => {
    const template = injectProxy(
      fixtureTemplate('create-opts-in'),
      {
        ref: { kind: 'Deployment', namespace: 'shop', name: 'podinfo' },
        port: undefined,
        revision: 'r1',
        role: 'canary',
      },
      CONFIG.proxy,
    );
    expect(parseOptions(proxyCommand.options, [], proxyEnv(template, 'shop')).role).toBe('canary');
  });
});
