import { describe, expect, it } from 'vitest';
import { normaliseTemplate, removeInjection } from '../../src/injection/remove.js';
import type { PodTemplate } from '../../src/pod-template.js';
import { injectProxy } from '../../src/injection/inject.js';
import { CONFIG, deepFreeze } from '../webhook/support.js';

const template = (): PodTemplate => ({
  metadata: {
    labels: { app: 'podinfo' },
    annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-22T08:00:00Z' },
  },
  spec: {
    containers: [
      {
        name: 'podinfo',
        image: 'example/podinfo:6.5.0',
        ports: [
          { name: 'http', containerPort: 9898 },
          { name: 'grpc', containerPort: 9999 },
        ],
        readinessProbe: { httpGet: { port: 'http' } },
        livenessProbe: { tcpSocket: { port: 'http' } },
        startupProbe: { tcpSocket: { port: 'grpc' } },
      },
      { name: 'sidecar', image: 'example/sidecar', ports: [{ name: 'metrics', containerPort: 9102 }] },
    ],
    volumes: [{ name: 'cache', emptyDir: {} }],
  },
});

const target = {
  ref: { kind: 'Deployment', namespace: 'shop', name: 'podinfo' },
  port: undefined,
  revision: 'x',
};

describe('injection', () => {
  it('leaves the template it injects into as it was', () => {
    const before = template();
    const injected = injectProxy(deepFreeze(template()), target, CONFIG.proxy);
    expect(injected.spec.containers.map((c) => c.name)).toEqual(['podinfo', 'sidecar', 'sluice-proxy']);
    expect(injected.spec.containers[0]?.ports?.[0]?.name).toBe('http-app');
    expect(before).toEqual(template());
  });

  it('leaves the template it takes the proxy out of, or normalises, as it was', () => {
    const injected = deepFreeze(injectProxy(template(), target, CONFIG.proxy));
    const copy = structuredClone(injected);
    expect(normaliseTemplate(injected)).toEqual({ ...template(), metadata: { labels: { app: 'podinfo' } } });
    expect(removeInjection(injected)).toEqual(template());
    expect(injected).toEqual(copy);
  });

  it('gives back a template without injection unchanged, and drops the maps that are empty', () => {
    const bare = template();
    expect(removeInjection(bare)).toEqual(bare);
    expect(removeInjection(removeInjection(injectProxy(template(), target, CONFIG.proxy)))).toEqual(bare);
    const foreign = {
      ...bare,
      metadata: { labels: { app: 'podinfo' }, annotations: { 'example.com/x': '1' } },
    };
    expect(removeInjection(foreign)).toEqual(foreign);
    const emptyMaps = { ...bare, metadata: { labels: {}, annotations: {} } };
    expect(removeInjection(emptyMaps)).toEqual({ ...bare, metadata: {} });
    const ours = { ...bare, metadata: { labels: { app: 'podinfo', 'sluice.dev/role': 'canary' } } };
    expect(removeInjection(ours)).toEqual({ ...bare, metadata: { labels: { app: 'podinfo' } } });
  });

  it('puts a native sidecar last among the init containers, and takes out only it', () => {
    const withInit = {
      ...template(),
      spec: { ...template().spec, initContainers: [{ name: 'migrate', image: 'example/migrate' }] },
    };
    const native = { ...target, nativeSidecar: true, protocol: 'h2c' } as const;
    for (const before of [template(), withInit]) {
      const injected = injectProxy(deepFreeze(structuredClone(before)), native, CONFIG.proxy);
      const init = injected.spec.initContainers ?? [];
      expect(init.map((c) => c.name)).toEqual(
        [...(before.spec.initContainers ?? []), { name: 'sluice-proxy' }].map((c) => c.name),
      );
      expect(init.at(-1)).toMatchObject({
        restartPolicy: 'Always',
        startupProbe: { httpGet: { path: '/readyz', port: 'sluice-admin' } },
      });
      expect(init.at(-1)?.env).toContainEqual({ name: 'SLUICE_APP_PROTOCOL', value: 'h2c' });
      expect(injected.spec.containers.map((c) => c.name)).toEqual(['podinfo', 'sidecar']);
      expect(removeInjection(injected)).toEqual(before);
    }
  });

  it('takes the proxy out of both lists when a hand edit put it in both', () => {
    const ordinary = injectProxy(template(), target, CONFIG.proxy);
    const proxy = ordinary.spec.containers.at(-1);
    if (proxy === undefined) throw new Error('no proxy');
    const both = {
      ...ordinary,
      spec: { ...ordinary.spec, initContainers: [{ ...proxy, restartPolicy: 'Always' }] },
    };
    expect(removeInjection(both)).toEqual(template());
  });

  it('normalises either placement of the proxy to the same template', () => {
    const ordinary = injectProxy(template(), target, CONFIG.proxy);
    const native = injectProxy(template(), { ...target, nativeSidecar: true }, CONFIG.proxy);
    expect(normaliseTemplate(native)).toEqual(normaliseTemplate(ordinary));
  });

  it('tells the proxy the app protocol only when it is not http', () => {
    const envNames = (t: PodTemplate) => t.spec.containers.flatMap((c) => c.env ?? []).map((e) => e.name);
    expect(envNames(injectProxy(template(), target, CONFIG.proxy))).not.toContain('SLUICE_APP_PROTOCOL');
    expect(envNames(injectProxy(template(), { ...target, protocol: 'http' }, CONFIG.proxy))).not.toContain(
      'SLUICE_APP_PROTOCOL',
    );
    expect(envNames(injectProxy(template(), { ...target, protocol: 'grpc' }, CONFIG.proxy))).toContain(
      'SLUICE_APP_PROTOCOL',
    );
  });
});
