import {
  ANNOTATION_PREFIX,
  APP_PROTOCOLS,
  LABELS,
  MANAGED_ANNOTATIONS,
  type AppProtocol,
} from './annotations.js';
import {
  PROBE_KINDS,
  type Container,
  type ObjectMeta,
  type PodTemplate,
  type Probe,
} from './pod-template.js';

/**
 * How the proxy sits in a pod template (DESIGN.md, "Injection"), and how to take it out again. Taking it out
 * is half of normalisation: a template with the proxy and the same template without it are one revision.
 */

export const PROXY_CONTAINER = 'sluice-proxy';
export const PROXY_LISTEN_PORT = 15080;
export const PROXY_ADMIN_PORT = 15090;
export const ADMIN_PORT_NAME = 'sluice-admin';
/** The proxy's port name when the app's port has no name to take over. */
export const UNNAMED_PROXY_PORT_NAME = 'sluice-proxy';
export const APP_PORT_ENV = 'SLUICE_APP_PORT';
/** The proxy's `--app-protocol`, set only when it is not the proxy's default, `http`. */
export const APP_PROTOCOL_ENV = 'SLUICE_APP_PROTOCOL';
/**
 * Node.js options of the proxy container. V8 lets each semi-space of the young generation grow to 16 MiB,
 * which under load took the proxy's peak RSS close to the container's 128 MiB limit; 4 MiB keeps it well
 * under, for more frequent young collections.
 */
export const PROXY_NODE_OPTIONS = '--max-semi-space-size=4';

export const ROLE_LABEL = LABELS.role;
export const INJECTED_ANNOTATION = MANAGED_ANNOTATIONS.injected;
/** `kubectl rollout restart`'s stamp on a pod template: not a change of version. */
export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

/** The scrape annotations added to the template, removed again only when they still point at the proxy. */
export const SCRAPE_ANNOTATIONS: Readonly<Record<string, string>> = {
  'prometheus.io/scrape': 'true',
  'prometheus.io/port': String(PROXY_ADMIN_PORT),
  'prometheus.io/path': '/metrics',
};

const MAX_PORT_NAME = 15;
const APP_SUFFIX = '-app';

/** The name the app's port gets when the proxy takes over its name: `http` → `http-app`, at most 15 chars. */
export function appPortName(name: string): string {
  return name.slice(0, MAX_PORT_NAME - APP_SUFFIX.length) + APP_SUFFIX;
}

/**
 * Where the proxy sits in a pod template: among the containers, or, as a Kubernetes native sidecar, among
 * the init containers with `restartPolicy: Always`, so that the app starts once the proxy is ready and the
 * proxy stops after the app.
 */
export interface InjectedProxy {
  container: Container;
  nativeSidecar: boolean;
}

export function findProxy(template: PodTemplate | undefined): InjectedProxy | undefined {
  const isProxy = (c: Container) => c.name === PROXY_CONTAINER;
  const container = template?.spec.containers.find(isProxy);
  if (container !== undefined) return { container, nativeSidecar: false };
  const init = template?.spec.initContainers?.find(isProxy);
  return init === undefined ? undefined : { container: init, nativeSidecar: true };
}

export function isInjected(template: PodTemplate): boolean {
  return findProxy(template) !== undefined;
}

/** What the injected proxy of a template speaks to the app: its `SLUICE_APP_PROTOCOL`, else `http`. */
export function appProtocolOf(proxy: Container): AppProtocol {
  const value = proxy.env?.find((e) => e.name === APP_PROTOCOL_ENV)?.['value'];
  return APP_PROTOCOLS.find((p) => p === value) ?? 'http';
}

/**
 * The template as the user wrote it: no proxy container, the app's port and probes under their own name
 * again, without the annotations and label sluice adds, and without `kubectl rollout restart`'s stamp.
 * Pure, as removeInjection.
 */
export function normaliseTemplate(template: PodTemplate): PodTemplate {
  const out = removeInjection(template);
  const annotations = out.metadata?.annotations;
  if (out.metadata === undefined || annotations?.[RESTARTED_AT] === undefined) return out;
  const { [RESTARTED_AT]: _restartedAt, ...rest } = annotations;
  const metadata = { ...out.metadata };
  setOrDrop(metadata, 'annotations', rest);
  return { ...out, metadata };
}

/**
 * The template without what injection added, and nothing else taken away. Pure: the argument is not changed,
 * and the result shares with it the parts that injection did not touch (the containers it did not rename a
 * port in, the volumes, ...), so whoever changes the result copies what it changes first.
 */
export function removeInjection(template: PodTemplate): PodTemplate {
  const out: PodTemplate = { ...template, spec: withoutProxy(template.spec) };
  if (template.metadata !== undefined) out.metadata = withoutOurMetadata(template.metadata);
  return out;
}

/** The metadata without sluice's annotations and label, and without the maps that leaves empty. */
function withoutOurMetadata(meta: ObjectMeta): ObjectMeta {
  const out = { ...meta };
  if (meta.annotations !== undefined) {
    const annotations = Object.fromEntries(
      Object.entries(meta.annotations).filter(
        ([key, value]) =>
          !key.startsWith(ANNOTATION_PREFIX) && !isOurScrapeAnnotation(key, value, meta.annotations),
      ),
    );
    setOrDrop(out, 'annotations', annotations);
  }
  if (meta.labels !== undefined) {
    const { [ROLE_LABEL]: _role, ...labels } = meta.labels;
    setOrDrop(out, 'labels', labels);
  }
  return out;
}

/**
 * The spec without the proxy, wherever it sits (in both lists, should a hand edit have put it in both). An
 * init container list that only the proxy was in goes with it, as the API server drops an empty one: either
 * placement normalises to the same template.
 */
function withoutProxy(spec: PodTemplate['spec']): PodTemplate['spec'] {
  const proxy = findProxy({ spec });
  if (proxy === undefined) return spec;
  const notProxy = (c: Container) => c.name !== PROXY_CONTAINER;
  const out = { ...spec };
  if (spec.containers.some((c) => !notProxy(c))) out.containers = spec.containers.filter(notProxy);
  if (spec.initContainers?.some((c) => !notProxy(c))) {
    const initContainers = spec.initContainers.filter(notProxy);
    if (initContainers.length === 0) delete out.initContainers;
    else out.initContainers = initContainers;
  }
  const taken = proxy.container.ports?.find((p) => p.name !== ADMIN_PORT_NAME)?.name;
  if (taken === undefined || taken === UNNAMED_PROXY_PORT_NAME) return out;
  return { ...out, containers: out.containers.map((c) => withPortRenamed(c, appPortName(taken), taken)) };
}

function isOurScrapeAnnotation(key: string, value: string, all: Record<string, string> | undefined): boolean {
  return (
    SCRAPE_ANNOTATIONS[key] === value &&
    all?.['prometheus.io/port'] === SCRAPE_ANNOTATIONS['prometheus.io/port']
  );
}

function setOrDrop(meta: ObjectMeta, key: 'annotations' | 'labels', value: Record<string, string>): void {
  const empty = Object.keys(value).length === 0;
  if (key === 'annotations') {
    if (empty) delete meta.annotations;
    else meta.annotations = value;
  } else if (empty) delete meta.labels;
  else meta.labels = value;
}

/** The container with its port renamed, and the probes that refer to the port by name. Pure. */
export function withPortRenamed(container: Container, from: string, to: string): Container {
  const out: Container = { ...container };
  if (container.ports !== undefined)
    out.ports = container.ports.map((p) => (p.name === from ? { ...p, name: to } : p));
  for (const kind of PROBE_KINDS) {
    const probe: Probe | undefined = container[kind];
    if (probe !== undefined) out[kind] = probeWithPortRenamed(probe, from, to);
  }
  return out;
}

function probeWithPortRenamed(probe: Probe, from: string, to: string): Probe {
  let out = probe;
  if (probe.httpGet?.port === from) out = { ...out, httpGet: { ...probe.httpGet, port: to } };
  if (probe.tcpSocket?.port === from) out = { ...out, tcpSocket: { ...probe.tcpSocket, port: to } };
  return out;
}
