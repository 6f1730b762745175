import { describe, expect, it } from 'vitest';
import { normaliseTemplate, removeInjection } from '../src/injection.js';
import type { PodTemplate } from '../src/pod-template.js';
import { injectProxy } from '../webhook/inject.js';
import { CONFIG, deepFreeze } from './webhook/support.js';

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
});
