import net from 'node:net';
import type { Logger } from '../src/log.js';
import { localOnlyTable, type RouteTable } from '../src/routes/table.js';
import { closeServer, createAdminServer, listen, sendJson } from '../src/server.js';
import { ClientConnection, type ForwardContext } from './connection.js';
import type { AppProtocol, CallContext } from './h2/call.js';
import { H2Front } from './h2/front.js';
import { detectProtocol } from './h2/preface.js';
import { H2Origin } from './h2/sessions.js';
import { ProxyMetrics } from './metrics.js';
import { Mirror } from './mirror.js';
import { RouteClient } from './route-client.js';
import {
  chooseDestination,
  compileRoute,
  rawHeaderReader,
  shouldMirror,
  type CompiledRoute,
  type Role,
} from './router.js';
import { forwardUpgrade } from './upgrade.js';
import { UpstreamPool } from './upstream.js';

export interface ProxyConfig {
  appPort: number;
  /**
   * What the app and the canary speak [http]: `http` is HTTP/1.1; `h2c` and `grpc` are HTTP/2 over
   * cleartext with prior knowledge. Clients may use either on the listening port, whatever the app speaks.
   */
  appProtocol?: AppProtocol;
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
  /** Copies to the canary under way at once before more are dropped [MIRROR_MAX_IN_FLIGHT]. */
  mirrorMaxInFlight?: number;
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
  const appProtocol = config.appProtocol ?? 'http';
  const local = newPool(config.appHost, config.appPort, config.upstreamTimeoutMs);
  const canaryPools = new Map<string, UpstreamPool>();
  // Copies have connections of their own, so that a canary slow to answer them holds none a user's
  // request to the canary could have taken.
  const mirrorPools = new Map<string, UpstreamPool>();
  const mirror = new Mirror(metrics, config.mirrorMaxInFlight);
  const appAuthority = `${config.appHost.includes(':') ? `[${config.appHost}]` : config.appHost}:${config.appPort}`;
  // An app that speaks HTTP/2 is reached over one HTTP/2 connection per origin, the canary's too.
  const h2Options = { connectTimeoutMs: Math.min(UPSTREAM_CONNECT_TIMEOUT_MS, config.upstreamTimeoutMs) };
  const localH2 = new H2Origin(`http://${appAuthority}`, h2Options);
  const canaryH2 = new Map<string, H2Origin>();
  const connections = new Set<ClientConnection>();
  /** Connections whose first bytes have not yet said which protocol they speak. */
  const undecided = new Set<net.Socket>();
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
    const mirrorOrigin = (compiled.canary?.mirrorThreshold ?? 0) > 0 ? origin : undefined;
    for (const [key, pool] of mirrorPools) {
      if (key !== mirrorOrigin) {
        mirrorPools.delete(key);
        pool.close();
      }
    }
    for (const [key, h2] of canaryH2) {
      if (key !== origin) {
        canaryH2.delete(key);
        h2.close();
      }
    }
    if (compiled.canary !== null && origin !== undefined) {
      const { hostname, port } = compiled.canary;
      if (appProtocol === 'http' && !canaryPools.has(origin))
        canaryPools.set(origin, newPool(hostname, port, config.upstreamTimeoutMs));
      if (appProtocol !== 'http' && !canaryH2.has(origin))
        canaryH2.set(origin, new H2Origin(origin, h2Options));
      if (appProtocol === 'http' && mirrorOrigin !== undefined && !mirrorPools.has(mirrorOrigin))
        mirrorPools.set(mirrorOrigin, newPool(hostname, port, config.upstreamTimeoutMs));
    }
    metrics.route(table.version, table.canary?.weight ?? 0, stale);
    logger.info(
      {
        version: table.version,
        weight: table.canary?.weight ?? 0,
        mirror: table.canary?.mirror ?? 0,
        canary: table.canary?.url ?? null,
        stale,
      },
      'routeApplied',
    );
  };

  const context: ForwardContext = {
    role,
    clientIdleMs: config.clientIdleMs ?? CLIENT_IDLE_MS,
    appAuthority,
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
    mirror(request, lines, hasBody, current) {
      const pool = mirrorPools.get(current.canary?.origin ?? '');
      if (pool === undefined || draining) return;
      if (shouldMirror(current, role, request.method, hasBody, rawHeaderReader(request.headers), random))
        mirror.copy(pool, request.method, request.url, lines);
    },
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

  const callContext: CallContext = {
    role,
    appProtocol,
    appAuthority,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    metrics,
    logger,
    route(header) {
      const current = route;
      return { destination: chooseDestination(current, role, header, random), route: current };
    },
    h2Origin: (destination, current) =>
      destination === 'canary' ? (canaryH2.get(current.canary?.origin ?? '') ?? localH2) : localH2,
    h1Pool: (destination, current) => context.pool(destination, current),
  };
  const front = new H2Front(callContext, { clientIdleMs: context.clientIdleMs, headersTimeoutMs });

  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    undecided.add(socket);
    socket.once('close', () => undecided.delete(socket));
    detectProtocol(socket, headersTimeoutMs, (protocol) => {
      undecided.delete(socket);
      if (protocol === 'http2') front.acceptHttp2(socket);
      else if (front.takesHttp1) front.acceptHttp1(socket);
      else {
        connections.add(new ClientConnection(socket, context));
        socket.resume();
      }
    });
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
    { port, adminPort, appPort: config.appPort, appProtocol, role, controlUrl: config.controlUrl },
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
        for (const socket of undecided) socket.destroy();
        front.drain();
      });
      clearInterval(headSweep);
      await routeClient?.stop();
      local.close();
      for (const pool of canaryPools.values()) pool.close();
      for (const pool of mirrorPools.values()) pool.close();
      localH2.close();
      for (const h2 of canaryH2.values()) h2.close();
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
