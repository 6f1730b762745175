import type { AppProtocol } from '../annotations.js';
import type { Container, ContainerPort, PodTemplate } from '../pod-template.js';
import { PROXY_ENV, type ProxyRole } from '../proxy-env.js';
import {
  ADMIN_PORT_NAME,
  appPortName,
  INJECTED_ANNOTATION,
  PROXY_ADMIN_PORT,
  PROXY_CONTAINER,
  PROXY_LISTEN_PORT,
  proxyNodeOptions,
  ROLE_LABEL,
  SCRAPE_ANNOTATIONS,
  UNNAMED_PROXY_PORT_NAME,
  withPortRenamed,
} from './shape.js';

/**
 * Puts the proxy into a pod template (DESIGN.md, "Injection"). Pure; expects a template without the proxy
 * (see removeInjection), so that injecting is the same whatever version of the proxy was there before.
 */

export interface ProxySettings {
  image: string;
  controlUrl: string;
  /** Written to `sluice.dev/injected`, so that a newer webhook knows which proxy a template has. */
  version: string;
}

/** The object whose pod template the proxy goes into, as errors name it. */
export interface InjectionRef {
  kind: string;
  namespace: string | undefined;
  name: string;
}

/**
 * Why the proxy cannot go into a template. The webhook turns each into a denial of the change; the
 * controller, which injects the canary's template, reports it as the step's failure.
 */
export abstract class InjectionError extends Error {
  abstract readonly code: 'NoAppPort' | 'PortConflict';
  constructor(
    readonly ref: InjectionRef,
    /** What is wrong in the template, without the object's name: the denial names it in its own words. */
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(`the sluice proxy cannot be injected into ${describeRef(ref)}: ${detail}`, options);
    this.name = new.target.name;
  }
}

/** No container port to put the proxy in front of. */
export class NoAppPortError extends InjectionError {
  readonly code = 'NoAppPort';
}

/** A port of the template clashes with the proxy's ports or with the name the app's port is renamed to. */
export class PortConflictError extends InjectionError {
  readonly code = 'PortConflict';
}

function describeRef(ref: InjectionRef): string {
  const where = ref.namespace === undefined || ref.namespace === '' ? '' : ` in namespace ${ref.namespace}`;
  return `${ref.kind} ${ref.name}${where}`;
}

export interface InjectionTarget {
  ref: InjectionRef;
  /** `sluice.dev/port`: a port name or number; absent means the port named `http`, else the first port. */
  port: string | number | undefined;
  revision: string;
  /** What the app speaks on its port, handed to the proxy as `--app-protocol` [http]. */
  protocol?: AppProtocol;
  /** The proxy as a native sidecar: the last init container, `restartPolicy: Always` [false]. */
  nativeSidecar?: boolean;
  /** Whose pods these are: the primary's proxies split traffic, the canary's forward locally [primary]. */
  role?: ProxyRole;
}

interface AppPort {
  container: Container;
  number: number;
  name: string | undefined;
}

/**
 * The template with the proxy in it. The result shares with the argument every part it does not change:
 * only the containers array, the app's container (when its port is renamed) and the metadata maps are new.
 */
export function injectProxy(
  template: PodTemplate,
  target: InjectionTarget,
  settings: ProxySettings,
): PodTemplate {
  const containers = template.spec.containers;
  const app = findAppPort(containers, target);
  for (const container of containers) {
    for (const port of container.ports ?? []) {
      if (port.containerPort === PROXY_LISTEN_PORT || port.containerPort === PROXY_ADMIN_PORT) {
        throw new PortConflictError(
          target.ref,
          `container ${container.name} uses port ${port.containerPort}, which the proxy listens on`,
        );
      }
    }
  }
  let proxyPortName = UNNAMED_PROXY_PORT_NAME;
  let withApp = containers;
  if (app.name !== undefined) {
    const renamed = appPortName(app.name);
    const clash = containers.find((c) => c.ports?.some((p) => p.name === renamed));
    if (clash !== undefined) {
      throw new PortConflictError(
        target.ref,
        `the app's port ${app.name} is renamed ${renamed} so that the proxy can take its name, and container ${clash.name} already has a port named ${renamed}`,
      );
    }
    const from = app.name;
    withApp = containers.map((c) => (c === app.container ? withPortRenamed(c, from, renamed) : c));
    proxyPortName = app.name;
  }

  const meta = template.metadata ?? {};
  const annotations: Record<string, string> = {
    ...meta.annotations,
    [INJECTED_ANNOTATION]: settings.version,
  };
  if (annotations['prometheus.io/scrape'] === undefined) Object.assign(annotations, SCRAPE_ANNOTATIONS);
  const proxy = proxyContainer(target, settings, app.number, proxyPortName);
  const spec = { ...template.spec, containers: withApp };
  // Last among the init containers: the app's own init containers run first, and the app starts as soon
  // as the proxy is ready.
  if (target.nativeSidecar === true) spec.initContainers = [...(template.spec.initContainers ?? []), proxy];
  else spec.containers = [...withApp, proxy];
  return {
    ...template,
    spec,
    metadata: { ...meta, annotations, labels: { ...meta.labels, [ROLE_LABEL]: target.role ?? 'primary' } },
  };
}

function findAppPort(containers: readonly Container[], target: InjectionTarget): AppPort {
  const ports = containers.flatMap((container) =>
    (container.ports ?? []).map((port: ContainerPort) => ({ container, port })),
  );
  const found = (hit: { container: Container; port: ContainerPort } | undefined): AppPort | undefined =>
    hit && { container: hit.container, number: hit.port.containerPort, name: hit.port.name };
  const { port } = target;
  if (typeof port === 'string') {
    const hit = found(ports.find((p) => p.port.name === port));
    if (hit === undefined)
      throw new NoAppPortError(
        target.ref,
        `sluice.dev/port is ${port} and no container has a port of that name`,
      );
    return hit;
  }
  if (typeof port === 'number') {
    const first = containers[0];
    if (first === undefined) throw new NoAppPortError(target.ref, 'the pod template has no containers');
    // A port the app listens on without declaring it is still a port: the proxy forwards to it by number.
    return (
      found(ports.find((p) => p.port.containerPort === port)) ?? {
        container: first,
        number: port,
        name: undefined,
      }
    );
  }
  const hit = found(
    ports.find((p) => p.port.name === 'http') ?? ports.find((p) => p.container === containers[0]),
  );
  if (hit === undefined) {
    throw new NoAppPortError(target.ref, 'no port is named http and the first container declares no port');
  }
  return hit;
}

function proxyContainer(
  target: InjectionTarget,
  settings: ProxySettings,
  appPort: number,
  portName: string,
): Container {
  const env = (name: string, value: string) => ({ name, value });
  const probe = (path: string, periodSeconds: number) => ({
    httpGet: { path, port: ADMIN_PORT_NAME },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold: 3,
  });
  const protocol = target.protocol ?? 'http';
  return {
    name: PROXY_CONTAINER,
    image: settings.image,
    imagePullPolicy: 'IfNotPresent',
    args: ['proxy'],
    ...(target.nativeSidecar === true && { restartPolicy: 'Always' }),
    ports: [
      { name: portName, containerPort: PROXY_LISTEN_PORT, protocol: 'TCP' },
      { name: ADMIN_PORT_NAME, containerPort: PROXY_ADMIN_PORT, protocol: 'TCP' },
    ],
    env: [
      env(PROXY_ENV.appPort, String(appPort)),
      env(PROXY_ENV.listenPort, String(PROXY_LISTEN_PORT)),
      env(PROXY_ENV.adminPort, String(PROXY_ADMIN_PORT)),
      env(PROXY_ENV.controlUrl, settings.controlUrl),
      { name: PROXY_ENV.namespace, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      env(PROXY_ENV.deployment, target.ref.name),
      env(PROXY_ENV.role, target.role ?? 'primary'),
      env(PROXY_ENV.revision, target.revision),
      // Only when not the default, so that templates injected before the flag existed stay as they were.
      ...(protocol === 'http' ? [] : [env(PROXY_ENV.appProtocol, protocol)]),
      env('NODE_OPTIONS', proxyNodeOptions(protocol)),
    ],
    readinessProbe: probe('/readyz', 5),
    livenessProbe: probe('/livez', 10),
    // The kubelet starts the app only once a native sidecar's startup probe passes: once the proxy is ready.
    ...(target.nativeSidecar === true && {
      startupProbe: { ...probe('/readyz', 1), failureThreshold: 60 },
    }),
    // No CPU limit: CFS throttling would show up as canary latency and fail the analysis for nothing.
    // Memory as measured on the image's Node.js line (docs/proxy.md, "Memory"): the request about what
    // the proxy holds idle, the limit about 1.6 times its peak under 128 gRPC calls in flight.
    resources: { requests: { cpu: '10m', memory: '96Mi' }, limits: { memory: '320Mi' } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
  };
}
