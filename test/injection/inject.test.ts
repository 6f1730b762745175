import { describe, expect, it } from 'vitest';
import {
  injectProxy,
  InjectionError,
  NoAppPortError,
  PortConflictError,
  type InjectionTarget,
} from '../../src/injection/inject.js';
import { setProxyRole } from '../../src/injection/read.js';
import type { PodTemplate } from '../../src/pod-template.js';
import { CONFIG } from '../webhook/support.js';
import { fixtureTemplate } from '../kube/support.js';

const target = (overrides: Partial<InjectionTarget> = {}): InjectionTarget => ({
  ref: { kind: 'Deployment', namespace: 'shop', name: 'podinfo' },
  port: undefined,
  revision: 'r1',
  ...overrides,
});

const thrown = (run: () => unknown): unknown => {
  try {
    run();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
};

describe('injecting the proxy', () => {
  it("gives the canary's proxy and pods the canary role, as relabelling a primary's would", () => {
    for (const nativeSidecar of [false, true]) {
      const template = fixtureTemplate('create-opts-in');
      const asCanary = injectProxy(template, target({ role: 'canary', nativeSidecar }), CONFIG.proxy);
      const relabelled = structuredClone(injectProxy(template, target({ nativeSidecar }), CONFIG.proxy));
      setProxyRole(relabelled, 'canary');
      expect(asCanary).toEqual(relabelled);
    }
  });

  it('throws NoAppPortError, naming the object, when no container port is there to front', () => {
    const template: PodTemplate = { spec: { containers: [{ name: 'worker', image: 'worker:1' }] } };
    const err = thrown(() => injectProxy(template, target(), CONFIG.proxy));
    expect(err).toBeInstanceOf(NoAppPortError);
    expect(err).toBeInstanceOf(InjectionError);
    expect((err as NoAppPortError).code).toBe('NoAppPort');
    expect((err as NoAppPortError).message).toContain('Deployment podinfo in namespace shop');
  });

  it("throws PortConflictError when a container already uses the proxy's port", () => {
    const template: PodTemplate = {
      spec: {
        containers: [
          { name: 'app', image: 'app:1', ports: [{ name: 'http', containerPort: 8080 }] },
          { name: 'admin', image: 'admin:1', ports: [{ containerPort: 15090 }] },
        ],
      },
    };
    const err = thrown(() => injectProxy(template, target(), CONFIG.proxy));
    expect(err).toBeInstanceOf(PortConflictError);
    expect((err as PortConflictError).ref).toEqual(target().ref);
  });
});
