import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PodTemplate } from '../src/pod-template.js';
import { canonicalJson } from '../src/canonical-json.js';
import { normaliseTemplate } from '../src/injection/remove.js';
import { dataDigest, dataRevision, revision } from '../src/revision.js';
import { injectProxy } from '../src/injection/inject.js';
import { seededRandom } from './support/random.js';
import { CONFIG } from './webhook/support.js';

const template = (): PodTemplate => ({
  metadata: { labels: { app: 'podinfo' } },
  spec: {
    containers: [
      {
        name: 'podinfo',
        image: 'example/podinfo:6.5.0',
        ports: [{ name: 'http', containerPort: 9898 }],
        readinessProbe: { httpGet: { port: 'http' } },
      },
    ],
  },
});

const injected = (t: PodTemplate): PodTemplate =>
  injectProxy(
    t,
    { ref: { kind: 'Deployment', namespace: 'shop', name: 'podinfo' }, port: undefined, revision: 'x' },
    CONFIG.proxy,
  );

describe('revisions', () => {
  it('are 10 hex characters', () => {
    expect(revision(template())).toMatch(/^[0-9a-f]{10}$/);
  });

  it('sort keys, so that the order fields come in does not matter', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: 2 } })).toBe(
      '{"a":{"c":2,"d":[1,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('do not change when the proxy is injected', () => {
    expect(revision(injected(template()))).toBe(revision(template()));
  });

  it('do not change when the proxy moves between a container and a native sidecar, or speaks another protocol', () => {
    const native = injectProxy(
      template(),
      {
        ref: { kind: 'Deployment', namespace: 'shop', name: 'podinfo' },
        port: undefined,
        revision: 'x',
        protocol: 'grpc',
        nativeSidecar: true,
      },
      CONFIG.proxy,
    );
    expect(native.spec.initContainers?.map((c) => c.name)).toEqual(['sluice-proxy']);
    expect(revision(native)).toBe(revision(injected(template())));
  });

  it('do not change on kubectl rollout restart', () => {
    const restarted = template();
    restarted.metadata = {
      ...restarted.metadata,
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-22T08:00:00Z' },
    };
    expect(revision(restarted)).toBe(revision(template()));
  });

  it('are the hash of the canonical JSON of the normalised template and the configs', () => {
    const config = { kind: 'ConfigMap' as const, name: 'a', data: { k: 'v' } };
    for (const t of [template(), injected(template()), { spec: { containers: [] } }]) {
      for (const configs of [[], [config]]) {
        const rev = revision(t, configs);
        const tracked = configs.map((c) => ({ ref: `${c.kind}/${c.name}`, digest: dataDigest(c) }));
        const hashed = canonicalJson({ template: normaliseTemplate(t), configs: tracked });
        expect(rev).toBe(createHash('sha256').update(hashed).digest('hex').slice(0, 10));
      }
    }
  });

  it('change with the image', () => {
    const changed = template();
    (changed.spec.containers[0] as { image: string }).image = 'example/podinfo:6.6.0';
    expect(revision(changed)).not.toBe(revision(template()));
  });

  it('keep a user-set scrape annotation that is not the proxy one', () => {
    const own = template();
    own.metadata = {
      ...own.metadata,
      annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9797' },
    };
    expect(revision(own)).not.toBe(revision(template()));
    expect(revision(injected(own))).toBe(revision(own));
  });

  it('include tracked configs in name order, whatever order they are given in', () => {
    const a = { kind: 'ConfigMap' as const, name: 'a', data: { k: 'v' } };
    const b = { kind: 'Secret' as const, name: 'b', data: { p: 'cw==' } };
    expect(revision(template(), [a, b])).toBe(revision(template(), [b, a]));
    expect(revision(template(), [a, b])).not.toBe(revision(template(), [a, { ...b, data: { p: 'dA==' } }]));
  });

  it('of data count binaryData and treat absent as empty', () => {
    expect(dataRevision({})).toBe(dataRevision({ data: {}, binaryData: {} }));
    expect(dataRevision({ data: { a: 'x' } })).not.toBe(dataRevision({ binaryData: { a: 'x' } }));
  });

  it('keep the canonical text they always had, for any JSON value', () => {
    // The serialiser revisions were first hashed with: a changed text would rename every running release.
    const first = (value: unknown): string =>
      JSON.stringify(value, (_key, v: unknown) =>
        v !== null && typeof v === 'object' && !Array.isArray(v)
          ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
          : v,
      );
    const random = seededRandom(20261122);
    for (let i = 0; i < 3000; i++) {
      const value = randomJson(random, 0) ?? null;
      expect(canonicalJson(value)).toBe(first(value));
    }
  });
});

const KEYS = [
  'a',
  'B',
  'name',
  'é',
  '\u{1F600}',
  '\ud800',
  '"',
  '\n',
  '',
  ' ',
  '0',
  '1',
  '9',
  '10',
  '01',
  '-1',
  '1.5',
  '9a',
  '4294967294',
  '4294967295',
  '__proto__',
  'toJSON',
];
const STRINGS = ['', 'x', 'é', '\u2028', '\ud800', '\u0000', '"\\', '</script>', '1e3'];
const NUMBERS = [0, -0, 1, -1, 1.5, 1e21, 1e-7, Number.MAX_SAFE_INTEGER, NaN, Infinity, -Infinity];

/** A JSON-like value, with what JSON.parse can give (own `__proto__`, index keys) and undefined in places. */
function randomJson(random: () => number, depth: number): unknown {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  switch (Math.floor(random() * (depth > 3 ? 5 : 8))) {
    case 0:
      return pick([null, true, false, undefined]);
    case 1:
      return pick(NUMBERS);
    case 2:
    case 3:
      return pick(STRINGS);
    case 4:
      return {};
    case 5:
      return Array.from({ length: Math.floor(random() * 4) }, () => randomJson(random, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      // Now and then an object with many keys.
      const wide = random() < 0.05;
      const size = wide ? 20 + Math.floor(random() * 20) : Math.floor(random() * 6);
      for (let i = 0; i < size; i++) {
        const key = wide && random() < 0.5 ? `k${Math.floor(random() * 1000)}` : pick(KEYS);
        Object.defineProperty(object, key, {
          value: randomJson(random, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return object;
    }
  }
}
