import { describe, expect, it } from 'vitest';
import { injectProxy } from '../../src/injection/inject.js';
import {
  appPortNames,
  findProxy,
  proxyPorts,
  proxySettingsOf,
  setProxyRole,
} from '../../src/injection/read.js';
import { removeInjection } from '../../src/injection/remove.js';
import {
  canaryDeployment,
  canaryLabelValue,
  canaryRevisionOf,
  canaryService,
  canaryUrl,
  configCopy,
  configRefs,
  renameConfigRefs,
  rolloutComplete,
  servicesBypassingProxy,
  type CanaryPlan,
  type ConfigObject,
  type DeploymentObject,
  type ServiceObject,
} from '../../src/kube/objects.js';
import type { Container, PodTemplate } from '../../src/pod-template.js';
import { CONFIG } from '../webhook/support.js';
import { admittedDeployment, fixtureTemplate, injected } from './support.js';
import { seededRandom } from '../support/random.js';

/** Kubernetes' rule for a label value: at most 63 characters, alphanumeric at both ends. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const isLabelValue = (value: string): boolean => value.length <= 63 && LABEL_VALUE.test(value);

/** A Service-style (equality) selector matches when every one of its labels is on the pod. */
const selects = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

/** Every non-empty selector that matches pods with these labels. */
function selectorsOf(labels: Record<string, string>): Record<string, string>[] {
  const entries = Object.entries(labels);
  const out: Record<string, string>[] = [];
  for (let mask = 1; mask < 1 << entries.length; mask++) {
    out.push(Object.fromEntries(entries.filter((_, i) => (mask & (1 << i)) !== 0)));
  }
  return out;
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const INNER = `${ALNUM}-_.`;

/** A valid label value of any length, often long enough that the canary's must be shortened. */
function labelValue(next: () => number): string {
  const pick = (alphabet: string): string => alphabet[Math.floor(next() * alphabet.length)] ?? 'a';
  const length = next() < 0.4 ? 50 + Math.floor(next() * 14) : 1 + Math.floor(next() * 20);
  if (length === 1) return pick(ALNUM);
  let value = pick(ALNUM);
  for (let i = 1; i < length - 1; i++) value += pick(next() < 0.3 ? '-_.' : INNER);
  return value + pick(ALNUM);
}

const podinfo = (): PodTemplate => fixtureTemplate('hold-image');

const container = (template: PodTemplate, name: string): Container => {
  const found = template.spec.containers.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no container ${name}`);
  return found;
};

const initContainer = (template: PodTemplate, name: string): Container => {
  const found = template.spec.initContainers?.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no init container ${name}`);
  return found;
};

const proxyOf = (template: PodTemplate): Container => {
  const found = findProxy(template);
  if (found === undefined) throw new Error('no proxy');
  return found.container;
};

const envOf = (c: Container, name: string): unknown => c.env?.find((e) => e.name === name)?.['value'];

/** A template that reads configs in every way a pod can. */
const readingConfigs = (): PodTemplate => ({
  metadata: { labels: { app: 'shop' } },
  spec: {
    volumes: [
      { name: 'settings', configMap: { name: 'shop-settings' } },
      { name: 'tls', secret: { secretName: 'shop-tls' } },
      {
        name: 'bundle',
        projected: {
          sources: [
            { configMap: { name: 'ca-bundle' } },
            { secret: { name: 'api-keys' } },
            { serviceAccountToken: { path: 'token' } },
          ],
        },
      },
      { name: 'scratch', emptyDir: {} },
    ],
    initContainers: [
      { name: 'migrate', image: 'example/migrate:1', envFrom: [{ secretRef: { name: 'db-credentials' } }] },
    ],
    containers: [
      {
        name: 'shop',
        image: 'example/shop:3.1',
        ports: [{ name: 'http', containerPort: 8080 }],
        env: [
          { name: 'PLAIN', value: 'x' },
          { name: 'COLOR', valueFrom: { configMapKeyRef: { name: 'shop-settings', key: 'color' } } },
          { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'api-keys', key: 'token' } } },
          { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        ],
        envFrom: [
          { configMapRef: { name: 'feature-flags' } },
          { prefix: 'DB_', secretRef: { name: 'db-credentials' } },
        ],
      },
    ],
  },
});

describe('the configs a pod template reads', () => {
  it('are found in volumes, projected volumes, env, envFrom and init containers', () => {
    expect(configRefs(readingConfigs())).toEqual([
      { kind: 'Secret', name: 'api-keys' },
      { kind: 'ConfigMap', name: 'ca-bundle' },
      { kind: 'Secret', name: 'db-credentials' },
      { kind: 'ConfigMap', name: 'feature-flags' },
      { kind: 'ConfigMap', name: 'shop-settings' },
      { kind: 'Secret', name: 'shop-tls' },
    ]);
  });

  it('are named once each, however many times the template reads them', () => {
    const refs = configRefs(readingConfigs()).map((r) => `${r.kind}/${r.name}`);
    expect(new Set(refs).size).toBe(refs.length);
  });

  it('come in name order, a ConfigMap before a Secret of the same name', () => {
    const template: PodTemplate = {
      spec: {
        volumes: [
          { name: 'b', secret: { secretName: 'shop' } },
          { name: 'c', configMap: { name: 'zeta' } },
          { name: 'a', configMap: { name: 'shop' } },
          { name: 'd', configMap: { name: 'alpha' } },
        ],
        containers: [{ name: 'shop' }],
      },
    };
    expect(configRefs(template)).toEqual([
      { kind: 'ConfigMap', name: 'alpha' },
      { kind: 'ConfigMap', name: 'shop' },
      { kind: 'Secret', name: 'shop' },
      { kind: 'ConfigMap', name: 'zeta' },
    ]);
  });

  it('are none for a template that reads no config, with or without the proxy', () => {
    expect(configRefs(podinfo())).toEqual([]);
    expect(configRefs(injected(podinfo()))).toEqual([]);
  });

  it('leave out references without a name', () => {
    const template: PodTemplate = {
      spec: {
        volumes: [
          { name: 'a', configMap: { name: '' } },
          { name: 'b', secret: {} },
        ],
        containers: [{ name: 'shop', envFrom: [{ configMapRef: {} }] }],
      },
    };
    expect(configRefs(template)).toEqual([]);
  });
});

describe('pointing a template at the canary copies of its configs', () => {
  const renames = new Map([
    ['ConfigMap/shop-settings', 'shop-settings-canary'],
    ['Secret/api-keys', 'api-keys-canary'],
  ]);

  it('renames every reference to the given configs, wherever the template reads them', () => {
    const renamed = renameConfigRefs(readingConfigs(), renames);
    expect(configRefs(renamed)).toEqual([
      { kind: 'Secret', name: 'api-keys-canary' },
      { kind: 'ConfigMap', name: 'ca-bundle' },
      { kind: 'Secret', name: 'db-credentials' },
      { kind: 'ConfigMap', name: 'feature-flags' },
      { kind: 'ConfigMap', name: 'shop-settings-canary' },
      { kind: 'Secret', name: 'shop-tls' },
    ]);
    const shop = container(renamed, 'shop');
    expect(shop.env?.find((e) => e.name === 'COLOR')?.['valueFrom']).toEqual({
      configMapKeyRef: { name: 'shop-settings-canary', key: 'color' },
    });
    expect(shop.env?.find((e) => e.name === 'TOKEN')?.['valueFrom']).toEqual({
      secretKeyRef: { name: 'api-keys-canary', key: 'token' },
    });
    expect(renamed.spec.volumes?.[0]).toEqual({
      name: 'settings',
      configMap: { name: 'shop-settings-canary' },
    });
  });

  it('leaves a config of the other kind with the same name alone', () => {
    const template: PodTemplate = {
      spec: {
        volumes: [
          { name: 'a', configMap: { name: 'shop' } },
          { name: 'b', secret: { secretName: 'shop' } },
        ],
        containers: [{ name: 'shop' }],
      },
    };
    const renamed = renameConfigRefs(template, new Map([['ConfigMap/shop', 'shop-canary']]));
    expect(renamed.spec.volumes).toEqual([
      { name: 'a', configMap: { name: 'shop-canary' } },
      { name: 'b', secret: { secretName: 'shop' } },
    ]);
  });

  it('changes nothing else in the template', () => {
    const original = readingConfigs();
    const renamed = renameConfigRefs(original, renames);
    const back = renameConfigRefs(
      renamed,
      new Map([
        ['ConfigMap/shop-settings-canary', 'shop-settings'],
        ['Secret/api-keys-canary', 'api-keys'],
      ]),
    );
    expect(back).toEqual(original);
  });

  it('does not change the template it is given', () => {
    const original = readingConfigs();
    const before = structuredClone(original);
    const renamed = renameConfigRefs(original, renames);
    expect(original).toEqual(before);
    expect(renamed).not.toBe(original);
  });
});

describe('the canary label value', () => {
  it('is the primary value with -canary appended', () => {
    expect(canaryLabelValue('podinfo')).toBe('podinfo-canary');
  });

  it('is shortened to fit the 63 characters a label value may have', () => {
    const value = canaryLabelValue('a'.repeat(63));
    expect(value).toBe(`${'a'.repeat(56)}-canary`);
    expect(value).toHaveLength(63);
  });

  it('is not shortened when the suffix just fits', () => {
    expect(canaryLabelValue('b'.repeat(56))).toBe(`${'b'.repeat(56)}-canary`);
  });

  it('drops the separators the cut leaves before the suffix', () => {
    expect(canaryLabelValue(`${'a'.repeat(55)}-bcdef`)).toBe(`${'a'.repeat(55)}-canary`);
    expect(canaryLabelValue(`${'a'.repeat(53)}.-_xyz`)).toBe(`${'a'.repeat(53)}-canary`);
  });

  it('is a valid label value for any valid, non-empty primary value', () => {
    const next = seededRandom(20261122);
    for (let i = 0; i < 2000; i++) {
      const value = labelValue(next);
      expect(isLabelValue(value), value).toBe(true);
      expect(isLabelValue(canaryLabelValue(value)), value).toBe(true);
    }
  });

  // Known bug (see the report): '' is a valid label value, and '-canary' is not. Make this `it` once fixed.
  it('is a valid label value when the primary value is empty', () => {
    expect(isLabelValue(canaryLabelValue(''))).toBe(true);
  });
});

describe('the canary Deployment', () => {
  const primary = (): DeploymentObject => admittedDeployment('hold-image');
  const plan = (over: Partial<CanaryPlan> = {}): CanaryPlan => {
    const p = over.primary ?? primary();
    const template = p.spec?.template;
    if (template === undefined) throw new Error('no template');
    return { primary: p, template, revision: '7f3a9c2b1d', replicas: 1, ...over };
  };
  const podLabels = (d: DeploymentObject): Record<string, string> => d.spec?.template?.metadata?.labels ?? {};

  it('is named <name>-canary, next to the primary', () => {
    const canary = canaryDeployment(plan());
    expect(canary.apiVersion).toBe('apps/v1');
    expect(canary.kind).toBe('Deployment');
    expect(canary.metadata?.name).toBe('podinfo-canary');
    expect(canary.metadata?.namespace).toBe('shop');
  });

  it('selects its pods by role canary and the name of its primary', () => {
    const canary = canaryDeployment(plan());
    const own = { 'sluice.dev/role': 'canary', 'sluice.dev/canary-of': 'podinfo' };
    expect(canary.spec?.selector).toEqual({ matchLabels: own });
    expect(canary.metadata?.labels).toEqual(own);
    expect(selects(own, podLabels(canary))).toBe(true);
    expect(selects(own, podLabels(primary()))).toBe(false);
  });

  it('suffixes every label value of its pods', () => {
    const template = injected({
      ...podinfo(),
      metadata: { labels: { app: 'podinfo', tier: 'web', version: 'v6' } },
    });
    const canary = canaryDeployment(plan({ template }));
    expect(podLabels(canary)).toEqual({
      app: 'podinfo-canary',
      tier: 'web-canary',
      version: 'v6-canary',
      'sluice.dev/role': 'canary',
      'sluice.dev/canary-of': 'podinfo',
    });
  });

  it('relabels the canary so that no selector of the primary selects it', () => {
    const next = seededRandom(42);
    const base = primary();
    const keys = ['app', 'app.kubernetes.io/name', 'tier', 'team'];
    const selecting: { primary: Record<string, string>; selector: Record<string, string> }[] = [];
    for (let i = 0; i < 300; i++) {
      const count = 1 + Math.floor(next() * keys.length);
      const labels = Object.fromEntries(keys.slice(0, count).map((k) => [k, labelValue(next)]));
      const template = injected({ ...podinfo(), metadata: { labels } });
      const p = { ...base, spec: { ...base.spec, template } };
      const canaryPods = podLabels(canaryDeployment(plan({ primary: p, template })));
      for (const selector of selectorsOf(podLabels(p))) {
        if (selects(selector, canaryPods)) selecting.push({ primary: podLabels(p), selector });
      }
    }
    expect(selecting).toEqual([]);
  }, 60_000); // thousands of generated cases: slow when the machine is busy, not a timing check

  // Known bug (see the report): a 63-character value that already ends in -canary is its own canary value,
  // so a Service selecting the primary by that label selects the canary too. Make this `it` once fixed.
  it('relabels the canary even when a label value is 63 characters ending in -canary', () => {
    const value = `${'a'.repeat(56)}-canary`;
    const template = injected({ ...podinfo(), metadata: { labels: { app: value } } });
    const p = { ...primary(), spec: { ...primary().spec, template } };
    const canaryPods = podLabels(canaryDeployment(plan({ primary: p, template })));
    expect(selects({ app: value }, canaryPods)).toBe(false);
  });

  it('gives the canaries of two Deployments selectors that never overlap', () => {
    const other = primary();
    other.metadata = { ...other.metadata, name: 'checkout' };
    const a = canaryDeployment(plan());
    const b = canaryDeployment(plan({ primary: other }));
    expect(selects(a.spec?.selector?.matchLabels ?? {}, podLabels(b))).toBe(false);
    expect(selects(b.spec?.selector?.matchLabels ?? {}, podLabels(a))).toBe(false);
  });

  it('tells its proxy that it is the canary, and leaves the app container as it was', () => {
    const p = plan();
    const canary = canaryDeployment(p);
    const template = canary.spec?.template;
    if (template === undefined) throw new Error('no template');
    expect(envOf(container(template, 'sluice-proxy'), 'SLUICE_ROLE')).toBe('canary');
    expect(container(template, 'podinfo')).toEqual(container(p.template, 'podinfo'));
  });

  it('is owned by the primary, so that it is deleted with it', () => {
    const canary = canaryDeployment(plan());
    expect(canary.metadata?.ownerReferences).toEqual([
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'podinfo',
        uid: '5d1c2a8e-0b7e-4f1e-9d7a-3a1f0c9e2b11',
        controller: true,
        blockOwnerDeletion: false,
      },
    ]);
  });

  it('records the candidate revision it runs', () => {
    const canary = canaryDeployment(plan({ revision: '0a1b2c3d4e' }));
    expect(canary.metadata?.annotations).toEqual({ 'sluice.dev/candidate-revision': '0a1b2c3d4e' });
    expect(canaryRevisionOf(canary)).toBe('0a1b2c3d4e');
    expect(canaryRevisionOf(undefined)).toBeUndefined();
  });

  it('runs the replicas it is given, and the primary minReadySeconds when it has one', () => {
    expect(canaryDeployment(plan({ replicas: 3 })).spec?.replicas).toBe(3);
    expect(canaryDeployment(plan()).spec).not.toHaveProperty('minReadySeconds');
    const p = primary();
    p.spec = { ...p.spec, minReadySeconds: 10 };
    expect(canaryDeployment(plan({ primary: p })).spec?.['minReadySeconds']).toBe(10);
  });

  it('does not change the template it is given', () => {
    const p = plan();
    const before = structuredClone(p.template);
    canaryDeployment(p);
    expect(p.template).toEqual(before);
  });
});

describe('a finished rollout', () => {
  const deployment = (
    generation: number,
    replicas: number | undefined,
    status: DeploymentObject['status'],
  ): DeploymentObject => ({
    metadata: { name: 'podinfo', generation },
    spec: replicas === undefined ? {} : { replicas },
    ...(status !== undefined && { status }),
  });
  const settled = {
    observedGeneration: 4,
    replicas: 3,
    updatedReplicas: 3,
    readyReplicas: 3,
    availableReplicas: 3,
  };

  it('is one where the latest spec is observed and every replica is updated and available', () => {
    expect(rolloutComplete(deployment(4, 3, settled))).toBe(true);
  });

  it('is not one whose latest spec the Deployment controller has not seen yet', () => {
    expect(rolloutComplete(deployment(5, 3, settled))).toBe(false);
  });

  it('is not one while new pods replace old ones', () => {
    // Surge: a new pod is up, an old one still runs.
    expect(rolloutComplete(deployment(4, 3, { ...settled, replicas: 4, updatedReplicas: 1 }))).toBe(false);
    // All updated, one not available yet.
    expect(rolloutComplete(deployment(4, 3, { ...settled, availableReplicas: 2, readyReplicas: 2 }))).toBe(
      false,
    );
    // All updated and available, an old pod still terminating.
    expect(rolloutComplete(deployment(4, 3, { ...settled, replicas: 4 }))).toBe(false);
  });

  it('is not one that has no status yet, or no Deployment at all', () => {
    expect(rolloutComplete(deployment(1, 3, undefined))).toBe(false);
    expect(rolloutComplete(undefined)).toBe(false);
  });

  it('counts one replica when the spec names none', () => {
    const one = { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 };
    expect(rolloutComplete(deployment(1, undefined, one))).toBe(true);
    expect(rolloutComplete(deployment(1, undefined, { ...one, updatedReplicas: 0 }))).toBe(false);
  });
});

const SIDECAR_GRPC = { protocol: 'grpc', nativeSidecar: true } as const;

describe('the proxy of an injected template', () => {
  it('forwards to the app port, under the name it took over', () => {
    expect(proxyPorts(injected(podinfo()))).toEqual({ appPort: 9898, portName: 'http' });
    expect(proxyPorts(injected(fixtureTemplate('several-containers'), 'shop'))).toEqual({
      appPort: 8080,
      portName: 'http',
    });
    expect(proxyPorts(injected(fixtureTemplate('several-containers'), 'shop', 'grpc'))).toEqual({
      appPort: 9000,
      portName: 'grpc',
    });
  });

  it('takes traffic under its own port name when the app port has none', () => {
    expect(proxyPorts(injected(fixtureTemplate('port-numeric'), 'api'))).toEqual({
      appPort: 8080,
      portName: 'sluice-proxy',
    });
  });

  it('is absent from a template without the proxy', () => {
    expect(proxyPorts(podinfo())).toBeNull();
    expect(proxyPorts(undefined)).toBeNull();
    expect(proxySettingsOf(podinfo())).toBeNull();
    expect(proxySettingsOf(undefined)).toBeNull();
  });

  it('has the settings it was injected with', () => {
    expect(proxySettingsOf(injected(podinfo()))).toEqual({
      ...CONFIG.proxy,
      protocol: 'http',
      nativeSidecar: false,
    });
    expect(proxySettingsOf(injected(podinfo(), 'podinfo', undefined, SIDECAR_GRPC))).toEqual({
      ...CONFIG.proxy,
      ...SIDECAR_GRPC,
    });
  });

  for (const shape of [{}, SIDECAR_GRPC]) {
    it(`is injected again the same from its own settings, so that the canary gets the same proxy (${JSON.stringify(shape)})`, () => {
      const live = injected(podinfo(), 'podinfo', undefined, shape);
      const settings = proxySettingsOf(live);
      if (settings === null) throw new Error('no proxy');
      const again = injectProxy(
        removeInjection(live),
        {
          ref: { kind: 'Deployment', namespace: 'shop', name: 'podinfo' },
          port: undefined,
          revision: envOf(proxyOf(live), 'SLUICE_REVISION') as string,
          protocol: settings.protocol,
          nativeSidecar: settings.nativeSidecar,
        },
        settings,
      );
      expect(again).toEqual(live);
    });
  }

  it('is found among the init containers when it runs as a native sidecar', () => {
    const live = injected(podinfo(), 'podinfo', undefined, SIDECAR_GRPC);
    expect(live.spec.containers.map((c) => c.name)).toEqual(['podinfo']);
    expect(proxyPorts(live)).toEqual({ appPort: 9898, portName: 'http' });
    expect(appPortNames(live, 9898)).toEqual(['http-app']);
    setProxyRole(live, 'canary');
    expect(envOf(initContainer(live, 'sluice-proxy'), 'SLUICE_ROLE')).toBe('canary');
  });

  it('has an unknown version when the injected annotation was removed', () => {
    const live = injected(podinfo());
    delete live.metadata?.annotations?.['sluice.dev/injected'];
    expect(proxySettingsOf(live)?.version).toBe('unknown');
  });
});

describe('the canary Service', () => {
  const primary = admittedDeployment('hold-image');
  const template = primary.spec?.template;
  if (template === undefined) throw new Error('no template');
  const ports = proxyPorts(template) ?? { appPort: 0, portName: '' };
  const service = canaryService(primary, ports);
  const canary = canaryDeployment({ primary, template, revision: '7f3a9c2b1d', replicas: 1 });

  it('is named <name>-canary, next to the primary, and owned by it', () => {
    expect(service.metadata?.name).toBe('podinfo-canary');
    expect(service.metadata?.namespace).toBe('shop');
    expect(service.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Deployment', name: 'podinfo' });
  });

  it('selects the canary pods and none of the primary pods', () => {
    const selector = service.spec?.selector ?? {};
    expect(selects(selector, canary.spec?.template?.metadata?.labels ?? {})).toBe(true);
    expect(selects(selector, template.metadata?.labels ?? {})).toBe(false);
  });

  it('serves the app port and sends it to the canary proxy by port name', () => {
    expect(service.spec?.ports).toEqual([{ name: 'http', port: 9898, targetPort: 'http' }]);
  });
});

describe('the canary copy of a config', () => {
  const primary = admittedDeployment('hold-image');
  const held = { data: { color: 'green' }, binaryData: { 'logo.png': 'iVBORw0KGgo=' } };
  const original = (kind: 'ConfigMap' | 'Secret', extra: Partial<ConfigObject> = {}): ConfigObject => ({
    apiVersion: 'v1',
    kind,
    metadata: {
      name: 'podinfo-config',
      namespace: 'shop',
      labels: { 'sluice.dev/tracked': 'true' },
      annotations: { 'sluice.dev/candidate': 'H4sI', 'sluice.dev/candidate-revision': '0a1b2c3d4e' },
    },
    data: { color: 'blue' },
    ...extra,
  });

  it('of a ConfigMap holds the held data and binaryData', () => {
    const copy = configCopy(primary, original('ConfigMap'), 'ConfigMap', held);
    expect(copy).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'podinfo-config-canary',
        namespace: 'shop',
        labels: { 'sluice.dev/role': 'canary', 'sluice.dev/canary-of': 'podinfo' },
        ownerReferences: [expect.objectContaining({ kind: 'Deployment', name: 'podinfo' })],
      },
      data: { color: 'green' },
      binaryData: { 'logo.png': 'iVBORw0KGgo=' },
    });
  });

  it('of a Secret keeps its type', () => {
    const copy = configCopy(primary, original('Secret', { type: 'kubernetes.io/tls' }), 'Secret', {
      data: { 'tls.crt': 'Y2VydA==', 'tls.key': 'a2V5' },
      binaryData: {},
    });
    expect(copy.kind).toBe('Secret');
    expect(copy.type).toBe('kubernetes.io/tls');
    expect(copy.data).toEqual({ 'tls.crt': 'Y2VydA==', 'tls.key': 'a2V5' });
    expect(copy).not.toHaveProperty('binaryData');
  });

  it('is not tracked, and carries none of the held change annotations', () => {
    const copy = configCopy(primary, original('ConfigMap'), 'ConfigMap', held);
    expect(copy.metadata?.labels).not.toHaveProperty(['sluice.dev/tracked']);
    expect(copy.metadata).not.toHaveProperty('annotations');
  });
});

describe('Services that bypass the proxy', () => {
  const pods = { app: 'podinfo', 'sluice.dev/role': 'primary' };
  const service = (
    name: string,
    selector: Record<string, string> | undefined,
    ports: NonNullable<NonNullable<ServiceObject['spec']>['ports']>,
  ): ServiceObject => ({
    metadata: { name, namespace: 'shop' },
    spec: { ...(selector !== undefined && { selector }), ports },
  });

  it('are those that select the pods and target the app port by number', () => {
    const services = [
      service('by-number', { app: 'podinfo' }, [{ port: 80, targetPort: 9898 }]),
      service('by-name', { app: 'podinfo' }, [{ port: 80, targetPort: 'http' }]),
      service('to-proxy-number', { app: 'podinfo' }, [{ port: 80, targetPort: 15080 }]),
    ];
    expect(servicesBypassingProxy(services, pods, 9898)).toEqual(['by-number']);
  });

  it('include one with no targetPort whose port is the app port', () => {
    expect(
      servicesBypassingProxy([service('implicit', { app: 'podinfo' }, [{ port: 9898 }])], pods, 9898),
    ).toEqual(['implicit']);
  });

  it('leave out one whose port is the app port but whose targetPort is a name', () => {
    expect(
      servicesBypassingProxy(
        [service('named', { app: 'podinfo' }, [{ port: 9898, targetPort: 'http' }])],
        pods,
        9898,
      ),
    ).toEqual([]);
  });

  it('are found among several ports of one Service', () => {
    const both = service('both', { app: 'podinfo' }, [
      { name: 'web', port: 80, targetPort: 'http' },
      { name: 'direct', port: 8080, targetPort: 9898 },
    ]);
    expect(servicesBypassingProxy([both], pods, 9898)).toEqual(['both']);
  });

  it('leave out Services whose selector is not a subset of the pod labels', () => {
    const services = [
      service('other-app', { app: 'checkout' }, [{ port: 9898 }]),
      service('extra-key', { app: 'podinfo', tier: 'web' }, [{ port: 9898 }]),
      service('whole', { app: 'podinfo', 'sluice.dev/role': 'primary' }, [{ port: 9898 }]),
    ];
    expect(servicesBypassingProxy(services, pods, 9898)).toEqual(['whole']);
  });

  it('never include a Service with an empty or no selector', () => {
    const services = [service('empty', {}, [{ port: 9898 }]), service('none', undefined, [{ port: 9898 }])];
    expect(servicesBypassingProxy(services, pods, 9898)).toEqual([]);
  });

  it("include one that targets the app port under its renamed name, and the names come from the app's containers", () => {
    const template = injected(fixtureTemplate('replicas-change'));
    const names = appPortNames(template, 9898);
    expect(names).toEqual(['http-app']);
    const services = [service('renamed', { app: 'podinfo' }, [{ port: 80, targetPort: 'http-app' }])];
    expect(servicesBypassingProxy(services, pods, 9898, names)).toEqual(['renamed']);
  });

  it('come in name order', () => {
    const services = ['zeta', 'alpha', 'mid'].map((n) => service(n, { app: 'podinfo' }, [{ port: 9898 }]));
    expect(servicesBypassingProxy(services, pods, 9898)).toEqual(['alpha', 'mid', 'zeta']);
  });
});

describe('the canary URL', () => {
  it('fills in the name, namespace and port', () => {
    expect(
      canaryUrl('http://{name}-canary.{namespace}:{port}', {
        name: 'podinfo',
        namespace: 'shop',
        port: 9898,
      }),
    ).toBe('http://podinfo-canary.shop:9898');
  });

  it('fills in each placeholder wherever it appears', () => {
    expect(
      canaryUrl('http://{name}-canary.{namespace}.svc.{namespace}.example:{port}', {
        name: 'podinfo',
        namespace: 'shop',
        port: 80,
      }),
    ).toBe('http://podinfo-canary.shop.svc.shop.example:80');
  });

  it('keeps a template without placeholders as it is', () => {
    expect(canaryUrl('http://127.0.0.1:19898', { name: 'podinfo', namespace: 'shop', port: 9898 })).toBe(
      'http://127.0.0.1:19898',
    );
  });
});
