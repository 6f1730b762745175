import { LABELS, MANAGED_ANNOTATIONS } from '../annotations.js';
import { setProxyRole } from '../injection/read.js';
import type { Container, PodTemplate } from '../pod-template.js';
import type { KubeObject, OwnerReference } from './rest.js';

/**
 * The objects a release creates, and what the controller reads off the ones it watches: pure functions
 * from objects to objects, so that each rule (relabelling, config copies, readiness) is tested without
 * an API server.
 */

export const CANARY_SUFFIX = '-canary';
/** On the canary's pods and objects: whose canary they are, so that two canaries never share a selector. */
export const CANARY_OF_LABEL = 'sluice.dev/canary-of';

export type ConfigKind = 'ConfigMap' | 'Secret';

/** The API's plural of a config kind, for its paths. */
export const configPlural = (kind: ConfigKind): string => (kind === 'ConfigMap' ? 'configmaps' : 'secrets');

export interface ConfigRef {
  readonly kind: ConfigKind;
  readonly name: string;
}

export interface DeploymentObject extends KubeObject {
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
    template?: PodTemplate;
    [key: string]: unknown;
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    [key: string]: unknown;
  };
}

export interface ConfigObject extends KubeObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
  type?: string;
}

export interface ServiceObject extends KubeObject {
  spec?: {
    selector?: Record<string, string>;
    ports?: { name?: string; port: number; targetPort?: number | string }[];
    [key: string]: unknown;
  };
}

export const canaryName = (name: string): string => `${name}${CANARY_SUFFIX}`;

export function ownerReference(deployment: KubeObject): OwnerReference {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    name: deployment.metadata?.name ?? '',
    uid: deployment.metadata?.uid ?? '',
    controller: true,
    // The garbage collector removes these with the Deployment; blocking its deletion on them gains nothing.
    blockOwnerDeletion: false,
  };
}

/** A Deployment has rolled out its latest spec, and every replica of it is available. */
export function rolloutComplete(deployment: DeploymentObject | undefined): boolean {
  if (deployment === undefined) return false;
  const want = deployment.spec?.replicas ?? 1;
  const status = deployment.status ?? {};
  return (
    (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 1) &&
    (status.updatedReplicas ?? 0) === want &&
    (status.availableReplicas ?? 0) === want &&
    (status.replicas ?? 0) === want
  );
}

/** The ConfigMaps and Secrets a pod template reads, each once, in name order. */
export function configRefs(template: PodTemplate): ConfigRef[] {
  const found = new Map<string, ConfigRef>();
  visitConfigRefs(template, (ref) => {
    found.set(`${ref.kind}/${ref.name}`, ref);
    return undefined;
  });
  return [...found.values()].sort((a, b) =>
    a.name === b.name ? a.kind.localeCompare(b.kind) : a.name < b.name ? -1 : 1,
  );
}

/** The template with its references to the given configs pointed at other names (their canary copies). */
export function renameConfigRefs(template: PodTemplate, renames: ReadonlyMap<string, string>): PodTemplate {
  const out = structuredClone(template);
  visitConfigRefs(out, (ref) => renames.get(`${ref.kind}/${ref.name}`));
  return out;
}

type Visit = (ref: ConfigRef) => string | undefined;

interface Named {
  name?: string;
  secretName?: string;
}

/** Calls `visit` on every config reference; a returned name replaces the reference's. */
function visitConfigRefs(template: PodTemplate, visit: Visit): void {
  const at = (kind: ConfigKind, holder: Named | undefined, key: 'name' | 'secretName' = 'name'): void => {
    const name = holder?.[key];
    if (holder === undefined || typeof name !== 'string' || name === '') return;
    const renamed = visit({ kind, name });
    if (renamed !== undefined) holder[key] = renamed;
  };
  const spec = template.spec as PodTemplate['spec'] & { initContainers?: Container[] };
  for (const volume of (spec.volumes ?? []) as Record<string, unknown>[]) {
    at('ConfigMap', volume['configMap'] as Named | undefined);
    at('Secret', volume['secret'] as Named | undefined, 'secretName');
    const sources = (volume['projected'] as { sources?: Record<string, unknown>[] } | undefined)?.sources;
    for (const source of sources ?? []) {
      at('ConfigMap', source['configMap'] as Named | undefined);
      at('Secret', source['secret'] as Named | undefined);
    }
  }
  for (const container of [...spec.containers, ...(spec.initContainers ?? [])]) {
    for (const env of (container.env ?? []) as { valueFrom?: Record<string, Named> }[]) {
      at('ConfigMap', env.valueFrom?.['configMapKeyRef']);
      at('Secret', env.valueFrom?.['secretKeyRef']);
    }
    for (const from of (container['envFrom'] ?? []) as Record<string, Named | undefined>[]) {
      at('ConfigMap', from['configMapRef']);
      at('Secret', from['secretRef']);
    }
  }
}

const LABEL_VALUE_MAX = 63;

/**
 * A label value for the canary's pods: the primary's value with `-canary` appended (shortened to fit), so
 * that a selector which matches the primary's pods, which must name at least one of their labels, cannot
 * match the canary's.
 */
export function canaryLabelValue(value: string): string {
  if (value === '') return CANARY_SUFFIX.slice(1);
  const room = LABEL_VALUE_MAX - CANARY_SUFFIX.length;
  const trim = (text: string): string => text.replace(/[^A-Za-z0-9]+$/, '');
  const out = `${trim(value.slice(0, room))}${CANARY_SUFFIX}`;
  // A full-length value that already ends in -canary would come out as itself: shorten it by one more.
  return out === value ? `${trim(value.slice(0, room - 1))}${CANARY_SUFFIX}` : out;
}

export interface CanaryPlan {
  /** The primary Deployment, as the API has it. */
  primary: DeploymentObject;
  /** The candidate template, with the proxy injected and the config references pointed at the copies. */
  template: PodTemplate;
  revision: string;
  replicas: number;
}

/** The `<name>-canary` Deployment: the candidate, relabelled so that no Service of the primary selects it. */
export function canaryDeployment(plan: CanaryPlan): DeploymentObject {
  const { primary, revision, replicas } = plan;
  const name = primary.metadata?.name ?? '';
  const ownLabels = { [LABELS.role]: 'canary', [CANARY_OF_LABEL]: name };
  const template = structuredClone(plan.template);
  const meta = (template.metadata ??= {});
  meta.labels = {
    ...Object.fromEntries(Object.entries(meta.labels ?? {}).map(([k, v]) => [k, canaryLabelValue(v)])),
    ...ownLabels,
  };
  setProxyRole(template, 'canary');
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: canaryName(name),
      namespace: primary.metadata?.namespace ?? 'default',
      labels: ownLabels,
      annotations: { [MANAGED_ANNOTATIONS.candidateRevision]: revision },
      ownerReferences: [ownerReference(primary)],
    },
    spec: {
      replicas,
      selector: { matchLabels: ownLabels },
      template,
      ...(primary.spec?.['minReadySeconds'] !== undefined && {
        minReadySeconds: primary.spec['minReadySeconds'],
      }),
    },
  };
}

/** The candidate revision a canary Deployment runs, as it was created with. */
export const canaryRevisionOf = (deployment: DeploymentObject | undefined): string | undefined =>
  deployment?.metadata?.annotations?.[MANAGED_ANNOTATIONS.candidateRevision];

/** The `<name>-canary` Service the primaries' proxies send the canary's share to. */
export function canaryService(
  primary: DeploymentObject,
  ports: { appPort: number; portName: string },
): ServiceObject {
  const name = primary.metadata?.name ?? '';
  const selector = { [LABELS.role]: 'canary', [CANARY_OF_LABEL]: name };
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: canaryName(name),
      namespace: primary.metadata?.namespace ?? 'default',
      labels: selector,
      ownerReferences: [ownerReference(primary)],
    },
    spec: {
      selector,
      ports: [{ name: 'http', port: ports.appPort, targetPort: ports.portName }],
    },
  };
}

/** The `<name>-canary` copy of a ConfigMap or Secret with the held data, which only the canary mounts. */
export function configCopy(
  primary: DeploymentObject,
  original: ConfigObject,
  kind: ConfigKind,
  data: { data: Record<string, string>; binaryData: Record<string, string> },
): ConfigObject {
  const name = primary.metadata?.name ?? '';
  const copy: ConfigObject = {
    apiVersion: 'v1',
    kind,
    metadata: {
      name: canaryName(original.metadata?.name ?? ''),
      namespace: original.metadata?.namespace ?? 'default',
      labels: { [LABELS.role]: 'canary', [CANARY_OF_LABEL]: name },
      ownerReferences: [ownerReference(primary)],
    },
    data: data.data,
  };
  if (kind === 'ConfigMap') copy.binaryData = data.binaryData;
  if (original.type !== undefined) copy.type = original.type;
  return copy;
}

/**
 * Services in the Deployment's namespace that select its pods but send traffic to the app's port, by
 * number or by its renamed name (`http-app`), past the proxy: their traffic is never split, and analysis
 * never sees it.
 */
export function servicesBypassingProxy(
  services: readonly ServiceObject[],
  podLabels: Readonly<Record<string, string>>,
  appPort: number,
  appPortNames: readonly string[] = [],
): string[] {
  return services
    .filter((service) => {
      const selector = service.spec?.selector ?? {};
      const keys = Object.keys(selector);
      if (keys.length === 0 || keys.some((k) => podLabels[k] !== selector[k])) return false;
      return (service.spec?.ports ?? []).some((p) => {
        const target = p.targetPort ?? p.port;
        return target === appPort || (typeof target === 'string' && appPortNames.includes(target));
      });
    })
    .map((service) => service.metadata?.name ?? '')
    .sort();
}

/** The canary's URL from `--canary-url-template`, e.g. `http://{name}-canary.{namespace}:{port}`. */
export function canaryUrl(
  template: string,
  target: { name: string; namespace: string; port: number },
): string {
  return template
    .replaceAll('{name}', target.name)
    .replaceAll('{namespace}', target.namespace)
    .replaceAll('{port}', String(target.port));
}
