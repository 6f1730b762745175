import {
  ADMIN_PORT_NAME,
  APP_PORT_ENV,
  APP_PROTOCOL_ENV,
  appPortName,
  INJECTED_ANNOTATION,
  PROXY_ADMIN_PORT,
  PROXY_CONTAINER,
  PROXY_LISTEN_PORT,
  PROXY_NODE_OPTIONS,
  ROLE_LABEL,
  SCRAPE_ANNOTATIONS,
  UNNAMED_PROXY_PORT_NAME,
  withPortRenamed,
} from '../src/injection.js';
import type { AppProtocol } from '../src/annotations.js';
import type { Container, ContainerPort, PodTemplate } from '../src/pod-template.js';
import { NoAppPortDenial, PortConflictDenial, type ObjectRef } from './denials.js';

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

export interface InjectionTarget {
  ref: ObjectRef;
  /** `sluice.dev/port`: a port name or number; absent means the port named `http`, else the first port. */
  port: string | number | undefined;
  revision: string;
  /** What the app speaks on its port, handed to the proxy as `--app-protocol` [http]. */
  protocol?: AppProtocol;
  /** The proxy as a native sidecar: the last init container, `restartPolicy: Always` [false]. */
  nativeSidecar?: boolean;
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
        throw new PortConflictDenial(
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
      throw new PortConflictDenial(
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
    metadata: { ...meta, annotations, labels: { ...meta.labels, [ROLE_LABEL]: 'primary' } },
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
      throw new NoAppPortDenial(
        target.ref,
        `sluice.dev/port is ${port} and no container has a port of that name`,
      );
    return hit;
  }
  if (typeof port === 'number') {
    const first = containers[0];
    if (first === undefined) throw new NoAppPortDenial(target.ref, 'the pod template has no containers');
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
    throw new NoAppPortDenial(target.ref, 'no port is named http and the first container declares no port');
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
      env(APP_PORT_ENV, String(appPort)),
      env('SLUICE_LISTEN_PORT', String(PROXY_LISTEN_PORT)),
      env('SLUICE_ADMIN_PORT', String(PROXY_ADMIN_PORT)),
      env('SLUICE_CONTROL_URL', settings.controlUrl),
      { name: 'SLUICE_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      env('SLUICE_DEPLOYMENT', target.ref.name),
      env('SLUICE_ROLE', 'primary'),
      env('SLUICE_REVISION', target.revision),
      // Only when not the default, so that templates injected before the flag existed stay as they were.
      ...(protocol === 'http' ? [] : [env(APP_PROTOCOL_ENV, protocol)]),
      env('NODE_OPTIONS', PROXY_NODE_OPTIONS),
    ],
    readinessProbe: probe('/readyz', 5),
    livenessProbe: probe('/livez', 10),
    // The kubelet starts the app only once a native sidecar's startup probe passes: once the proxy is ready.
    ...(target.nativeSidecar === true && {
      startupProbe: { ...probe('/readyz', 1), failureThreshold: 60 },
    }),
    // No CPU limit: CFS throttling would show up as canary latency and fail the analysis for nothing.
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
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
