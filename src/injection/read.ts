import { APP_PROTOCOLS, type AppProtocol } from '../annotations.js';
import type { Container, PodTemplate } from '../pod-template.js';
import { PROXY_ENV, type ProxyRole } from '../proxy-env.js';
import {
  ADMIN_PORT_NAME,
  INJECTED_ANNOTATION,
  PROXY_ADMIN_PORT,
  PROXY_CONTAINER,
  ROLE_LABEL,
} from './shape.js';

/**
 * What an injected pod template says about its proxy: where it sits, what it forwards to, and the settings
 * to inject the same proxy again (into the canary).
 */

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

const envValue = (proxy: Container | undefined, name: string): unknown =>
  proxy?.env?.find((e) => e.name === name)?.['value'];

/** What the injected proxy of a template speaks to the app: its `SLUICE_APP_PROTOCOL`, else `http`. */
export function appProtocolOf(proxy: Container): AppProtocol {
  const value = envValue(proxy, PROXY_ENV.appProtocol);
  return APP_PROTOCOLS.find((p) => p === value) ?? 'http';
}

/** Marks the injected proxy of a template as the primary's or the canary's (its role label and env). */
export function setProxyRole(template: PodTemplate, role: ProxyRole): void {
  ((template.metadata ??= {}).labels ??= {})[ROLE_LABEL] = role;
  const proxy = findProxy(template)?.container;
  for (const env of proxy?.env ?? []) if (env.name === PROXY_ENV.role) env['value'] = role;
}

/** Where the proxy of an injected template forwards to, and under which port name it takes traffic. */
export function proxyPorts(template: PodTemplate | undefined): { appPort: number; portName: string } | null {
  const proxy = findProxy(template)?.container;
  const env = envValue(proxy, PROXY_ENV.appPort);
  const portName = proxy?.ports?.find((p) => p.name !== ADMIN_PORT_NAME)?.name;
  const appPort = Number(env);
  if (!Number.isInteger(appPort) || portName === undefined) return null;
  return { appPort, portName };
}

export interface InjectedProxySettings {
  image: string;
  controlUrl: string;
  version: string;
  protocol: AppProtocol;
  nativeSidecar: boolean;
}

/** The proxy of an injected template as the webhook put it there, to inject the same proxy into the canary. */
export function proxySettingsOf(template: PodTemplate | undefined): InjectedProxySettings | null {
  const found = findProxy(template);
  const proxy = found?.container;
  const controlUrl = envValue(proxy, PROXY_ENV.controlUrl);
  if (found === undefined || proxy?.image === undefined || typeof controlUrl !== 'string') return null;
  const version = template?.metadata?.annotations?.[INJECTED_ANNOTATION] ?? 'unknown';
  return {
    image: proxy.image,
    controlUrl,
    version,
    protocol: appProtocolOf(proxy),
    nativeSidecar: found.nativeSidecar,
  };
}

/** The names the app's containers give the port the proxy forwards to. */
export function appPortNames(template: PodTemplate, appPort: number): string[] {
  return template.spec.containers
    .filter((c) => c.name !== PROXY_CONTAINER)
    .flatMap((c) => c.ports ?? [])
    .filter((p) => p.containerPort === appPort && p.name !== undefined)
    .map((p) => p.name as string);
}

/** The proxies' /metrics of the primary's pods, for the direct provider. */
export function proxyMetricsUrl(podIp: string): string {
  return `http://${podIp.includes(':') ? `[${podIp}]` : podIp}:${PROXY_ADMIN_PORT}/metrics`;
}
