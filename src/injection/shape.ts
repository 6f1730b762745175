import { LABELS, MANAGED_ANNOTATIONS, type AppProtocol } from '../annotations.js';
import { PROBE_KINDS, type Container, type Probe } from '../pod-template.js';

/**
 * How the proxy sits in a pod template (DESIGN.md, "Injection"): its container's name and ports, the
 * label and annotations it comes with, and the renaming of the app's port that it takes over. Injecting
 * (inject.ts), reading (read.ts) and removing (remove.ts) the proxy all go by these.
 */

export const PROXY_CONTAINER = 'sluice-proxy';
export const PROXY_LISTEN_PORT = 15080;
export const PROXY_ADMIN_PORT = 15090;
export const ADMIN_PORT_NAME = 'sluice-admin';
/** The proxy's port name when the app's port has no name to take over. */
export const UNNAMED_PROXY_PORT_NAME = 'sluice-proxy';
/**
 * Node.js options of the proxy container, by what the app speaks: the largest semi-space V8's young
 * generation may grow to. In front of HTTP/1.1, 4 MiB kept the peak RSS low for the same CPU per request.
 * In front of HTTP/2, where Node's http2 keeps a call's objects reachable until a collection looks at
 * them, 16 MiB (fewer, longer young collections) gave the lower p99 on Node.js 26, for a higher peak RSS
 * that the container's memory limit allows for (docs/benchmarks.md, "gRPC").
 */
export function proxyNodeOptions(protocol: AppProtocol): string {
  return protocol === 'http' ? '--max-semi-space-size=4' : '--max-semi-space-size=16';
}

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
