import net from 'node:net';
import type { Logger } from '../src/log.js';
import { localOnlyTable, type RouteTable } from '../src/routes/table.js';
import { closeServer, createAdminServer, listen, sendJson } from '../src/server.js';
import { ClientConnection, type ForwardContext } from './connection.js';
import { ProxyMetrics } from './metrics.js';
import { RouteClient } from './route-client.js';
import { chooseDestination, compileRoute, rawHeaderReader, type CompiledRoute, type Role } from './router.js';
import { forwardUpgrade } from './upgrade.js';
import { UpstreamPool } from './upstream.js';

export interface ProxyConfig {
  appPort: number;
  /** Where the app listens: the same pod, so loopback. */
  appHost: string;
  listenHost: string;
  listenPort: number;
  adminPort: number;
  controlUrl: string | undefined;
  namespace: string;
  deployment: string;
  role: Role;
  revision: string;
  routeTtlMs: number;
  upstreamTimeoutMs: number;
  /** After SIGTERM, how long to keep accepting while endpoints are withdrawn, before closing the listener. */
  drainDelayMs: number;
  /**
   * A client connection with nothing under way (or a client that takes none of its answer) is closed
   * after this long [65 s: longer than the usual load balancer's and client's idle timeouts, so that
   * they, not the proxy, end a kept-alive connection].
   */
  clientIdleMs?: number;
  /** Longest time a client may take to send a request head [60 s, as Node's server]. */
  headersTimeoutMs?: number;
  logger: Logger;
  random?: () => number;
}

export interface RunningProxy {
  port: number;
  adminPort: number;
  metrics: ProxyMetrics;
  route(): RouteTable;
  /** Applies a route table as if the controller had sent it (the demo and tests use it). */
  applyRoute(table: RouteTable, stale?: boolean): void;
  /** Stops accepting after the drain delay, finishes in-flight requests, closes everything. */
  drain(): Promise<void>;
}

const UPSTREAM_KEEPALIVE_MS = 4_000;
const CLIENT_IDLE_MS = 65_000;
const HEADERS_TIMEOUT_MS = 60_000;
const UPSTREAM_CONNECT_TIMEOUT_MS = 5_000;

export async function startProxy(config: ProxyConfig): Promise<RunningProxy> {
  const { logger, role } = config;
  const random = config.random ?? Math.random;
  const metrics = new ProxyMetrics(config);
  const local = newPool(config.appHost, config.appPort, config.upstreamTimeoutMs);
  const canaryPools = new Map<string, UpstreamPool>();
  const connections = new Set<ClientConnection>();
  let route: CompiledRoute = compileRoute(localOnlyTable());
  let draining = false;
  metrics.route(route.table.version, 0, false);

  const applyRoute = (table: RouteTable, stale = false): void => {
    let compiled: CompiledRoute;
    try {
      compiled = compileRoute(table);
    } catch (err) {
      logger.error({ err, version: table.version }, 'routeTableRejected');
      return;
    }
    route = compiled;
    const origin = compiled.canary?.origin;
    for (const [key, pool] of canaryPools) {
      if (key !== origin) {
        canaryPools.delete(key);
        pool.close();
      }
    }
    if (compiled.canary !== null && origin !== undefined && !canaryPools.has(origin)) {
      const { hostname, port } = compiled.canary;
      canaryPools.set(origin, newPool(hostname, port, config.upstreamTimeoutMs));
    }
    metrics.route(table.version, table.canary?.weight ?? 0, stale);
    logger.info(
      { version: table.version, weight: table.canary?.weight ?? 0, canary: table.canary?.url ?? null, stale },
      'routeApplied',
    );
  };

  const context: ForwardContext = {
    role,
    clientIdleMs: config.clientIdleMs ?? CLIENT_IDLE_MS,
    appAuthority: `${config.appHost.includes(':') ? `[${config.appHost}]` : config.appHost}:${config.appPort}`,
    metrics,
    logger,
    route(rawHeaders) {
      const current = route;
      return {
        destination: chooseDestination(current, role, rawHeaderReader(rawHeaders), random),
        route: current,
      };
    },
    pool: (destination, current) =>
      destination === 'canary' ? (canaryPools.get(current.canary?.origin ?? '') ?? local) : local,
    isDraining: () => draining,
    upgrade(socket, request, head, clientAddress) {
      const { destination, route: current } = context.route(request.headers);
      const target =
        destination === 'canary' && current.canary !== null
          ? { host: current.canary.hostname, port: current.canary.port, destination }
          : { host: config.appHost, port: config.appPort, destination: 'local' as const };
      forwardUpgrade(socket, request, head, clientAddress, target, {
        timeoutMs: config.upstreamTimeoutMs,
        logger,
        metrics,
      });
    },
    forget: (connection) => connections.delete(connection),
  };

  // allowHalfOpen: a client's FIN is handled by the connection (the request under way is dropped, as
  // Node's server does), not by net closing the socket under it.
  const headersTimeoutMs = config.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
  const headSweep = setInterval(
    () => {
      const now = performance.now();
      for (const connection of connections) connection.checkHeadDeadline(now, headersTimeoutMs);
    },
    Math.max(10, Math.min(5_000, headersTimeoutMs / 4)),
  );
  headSweep.unref();

  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    connections.add(new ClientConnection(socket, context));
  });

  const routeClient =
    config.controlUrl === undefined
      ? undefined
      : new RouteClient({
          controlUrl: config.controlUrl,
          namespace: config.namespace,
          deployment: config.deployment,
          ttlMs: config.routeTtlMs,
          logger,
          apply: applyRoute,
        });

  const admin = createAdminServer({
    host: config.listenHost,
    port: config.adminPort,
    registry: metrics.registry,
    isReady: () => server.listening && !draining,
    routes: {
      '/routes': (_req, res) =>
        sendJson(res, 200, {
          ...route.table,
          lastContact: routeClient?.lastContact ?? null,
          controlUrl: config.controlUrl ?? null,
        }),
    },
  });

  const port = await listen(server, config.listenPort, config.listenHost);
  const adminPort = await listen(admin, config.adminPort, config.listenHost);
  routeClient?.start();
  logger.info(
    { port, adminPort, appPort: config.appPort, role, controlUrl: config.controlUrl },
    'proxyListening',
  );

  return {
    port,
    adminPort,
    metrics,
    route: () => route.table,
    applyRoute,
    async drain() {
      if (draining) return;
      draining = true;
      await new Promise((resolve) => setTimeout(resolve, config.drainDelayMs));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const connection of connections) connection.closeWhenIdle();
      });
      clearInterval(headSweep);
      await routeClient?.stop();
      local.close();
      for (const pool of canaryPools.values()) pool.close();
      await closeServer(admin);
    },
  };
}

function newPool(host: string, port: number, timeoutMs: number): UpstreamPool {
  return new UpstreamPool({
    host,
    port,
    // Shorter than the usual app server's idle timeout (Node's default is 5 s), so that we close an idle
    // connection before the app does and never send a request into a socket being reset.
    keepAliveMs: UPSTREAM_KEEPALIVE_MS,
    connectTimeoutMs: Math.min(UPSTREAM_CONNECT_TIMEOUT_MS, timeoutMs),
    timeoutMs,
  });
}
