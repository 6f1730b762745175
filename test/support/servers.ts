import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { createLogger } from '../../src/log.js';
import { RouteStore, createRouteHandler } from '../../src/routes/server.js';
import { listen } from '../../src/server.js';
import { startProxy, type ProxyConfig, type RunningProxy } from '../../proxy/proxy.js';

/** Real servers on loopback for component tests; each test starts what it needs on port 0 and stops it. */

export interface Upstream {
  name: string;
  port: number;
  url: string;
  server: http.Server;
  /** Requests seen, and TCP connections accepted. */
  requests: number;
  connections: number;
  close(): Promise<void>;
}

export type UpstreamHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  upstream: Upstream,
) => void;

/** An app that answers its own name, unless given another handler. */
export async function startUpstream(name: string, handler?: UpstreamHandler): Promise<Upstream> {
  const upstream: Upstream = {
    name,
    port: 0,
    url: '',
    requests: 0,
    connections: 0,
    server: http.createServer((req, res) => {
      upstream.requests++;
      if (handler) return handler(req, res, upstream);
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-app': name });
        res.end(name);
      });
    }),
    close: () => closeAll(upstream.server),
  };
  upstream.server.on('connection', () => upstream.connections++);
  upstream.port = await listen(upstream.server, 0, '127.0.0.1');
  upstream.url = `http://127.0.0.1:${upstream.port}`;
  return upstream;
}

export function closeAll(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export const quietLogger = createLogger('test', process.env['SLUICE_LOG_LEVEL'] ?? 'silent');

export async function startTestProxy(
  overrides: Partial<ProxyConfig> & { appPort: number },
): Promise<RunningProxy> {
  return startProxy({
    appHost: '127.0.0.1',
    listenHost: '127.0.0.1',
    listenPort: 0,
    adminPort: 0,
    controlUrl: undefined,
    namespace: 'shop',
    deployment: 'podinfo',
    role: 'primary',
    revision: 'abc123',
    routeTtlMs: 60_000,
    upstreamTimeoutMs: 10_000,
    drainDelayMs: 0,
    logger: quietLogger,
    ...overrides,
  });
}

export interface RouteServer {
  store: RouteStore;
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

/** The controller's route server, as the controller mounts it. */
export async function startRouteServer(holdMs?: number): Promise<RouteServer> {
  const store = new RouteStore();
  const handle = createRouteHandler(store, holdMs);
  const server = http.createServer((req, res) => {
    if (!handle(req, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  const port = await listen(server, 0, '127.0.0.1');
  return { store, url: `http://127.0.0.1:${port}`, server, close: () => closeAll(server) };
}

export interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export const keepAlive = new Agent({ keepAliveTimeout: 10_000, connections: 64 });

export async function get(
  url: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Answer> {
  const res = await request(url, { method: method as 'GET', headers, dispatcher: keepAlive });
  return { status: res.statusCode, body: await res.body.text(), headers: res.headers };
}

/** Sends `count` requests, `concurrency` at a time; returns how many each upstream answered. */
export async function load(
  url: string,
  count: number,
  concurrency: number,
  headersFor: (i: number) => Record<string, string> = () => ({}),
): Promise<{ byBody: Map<string, number>; statuses: Map<number, number> }> {
  const byBody = new Map<string, number>();
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const answer = await get(url, headersFor(i));
      byBody.set(answer.body, (byBody.get(answer.body) ?? 0) + 1);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { byBody, statuses };
}

export async function metricsText(proxy: RunningProxy): Promise<string> {
  return (await get(`http://127.0.0.1:${proxy.adminPort}/metrics`)).body;
}

/** The value of one series in Prometheus text, by metric name and a subset of its labels. */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

export function portOf(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}

/**
 * Per-test cleanup: what a test starts through `defer` or `app` is stopped after it, last first.
 * Call once at the top of a test file.
 */
export function cleanupAfterEach(afterEach: (fn: () => Promise<void>) => void) {
  const stops: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    while (stops.length > 0) await stops.pop()?.();
  });
  return {
    defer(stop: () => Promise<unknown>): void {
      stops.push(stop);
    },
    async app(name: string, handler?: UpstreamHandler): Promise<Upstream> {
      const upstream = await startUpstream(name, handler);
      stops.push(() => upstream.close());
      return upstream;
    },
  };
}
