import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { Pool } from './upstream-pool.js';
import type { Logger } from '../src/log.js';
import { localOnlyTable, type RouteTable } from '../src/routes/table.js';
import { closeServer, createAdminServer, listen, sendJson } from '../src/server.js';
import { requestHeaders, responseHeaders } from './headers.js';
import { ProxyMetrics } from './metrics.js';
import { RouteClient } from './route-client.js';
import {
  chooseDestination,
  compileRoute,
  rawHeaderReader,
  type CompiledRoute,
  type Destination,
  type Role,
} from './router.js';
import { forwardUpgrade } from './upgrade.js';

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
const UPSTREAM_CONNECT_TIMEOUT_MS = 5_000;

/** Status codes of our own: the client went away (nginx's convention), the upstream failed or timed out. */
const CLIENT_CLOSED = 499;
const BAD_GATEWAY = 502;
const GATEWAY_TIMEOUT = 504;

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

class ClientClosedError extends Error {
  readonly code = 'ClientClosed';
  constructor() {
    super('the client closed the connection before the response ended');
    this.name = 'ClientClosedError';
  }
}

export async function startProxy(config: ProxyConfig): Promise<RunningProxy> {
  const { logger, role } = config;
  const random = config.random ?? Math.random;
  const metrics = new ProxyMetrics(config);
  const local = newPool(`http://${config.appHost}:${config.appPort}`, config.upstreamTimeoutMs);
  const canaryPools = new Map<string, Pool>();
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
        void pool.close();
      }
    }
    if (origin !== undefined && !canaryPools.has(origin)) {
      canaryPools.set(origin, newPool(origin, config.upstreamTimeoutMs));
    }
    metrics.route(table.version, table.canary?.weight ?? 0, stale);
    logger.info(
      { version: table.version, weight: table.canary?.weight ?? 0, canary: table.canary?.url ?? null, stale },
      'routeApplied',
    );
  };

  const poolFor = (destination: Destination, current: CompiledRoute): Pool =>
    destination === 'canary' ? (canaryPools.get(current.canary?.origin ?? '') ?? local) : local;

  /** Forwards one attempt; a canary attempt that fails before any response byte falls back to local. */
  const forward = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    destination: Destination,
    current: CompiledRoute,
  ): void => {
    const start = performance.now();
    const method = req.method ?? 'GET';
    const { headers, hasBody } = requestHeaders(
      req.rawHeaders,
      req.socket.remoteAddress,
      destination === 'canary',
    );
    let responded = false;
    let abortUpstream: ((err: Error) => void) | undefined;
    let resume: (() => void) | undefined;
    let status = 0;
    const onClientClose = (): void => {
      if (!res.writableFinished) abortUpstream?.(new ClientClosedError());
    };
    res.on('close', onClientClose);
    const finish = (code: number): void => {
      res.off('close', onClientClose);
      metrics.request(destination, code, method, (performance.now() - start) / 1000);
    };
    const handler: Dispatcher.DispatchHandler = {
      onConnect(abort) {
        abortUpstream = abort;
        if (res.destroyed) abort(new ClientClosedError());
      },
      onHeaders(statusCode, rawHeaders, resumeUpstream) {
        // 1xx informational: Node's server already answered 100-continue for the client.
        if (statusCode < 200) return true;
        responded = true;
        status = statusCode;
        resume = resumeUpstream;
        res.writeHead(statusCode, responseHeaders(rawHeaders, destination, role, draining));
        return true;
      },
      onData(chunk) {
        if (res.write(chunk)) return true;
        res.once('drain', resume as () => void);
        return false;
      },
      onComplete() {
        res.end();
        finish(status);
      },
      onError(err) {
        if (err instanceof ClientClosedError || res.destroyed) {
          finish(CLIENT_CLOSED);
          if (!res.destroyed) res.destroy();
          return;
        }
        const code = TIMEOUT_CODES.has((err as { code?: string }).code ?? '') ? GATEWAY_TIMEOUT : BAD_GATEWAY;
        finish(code);
        if (responded) {
          // The response was under way: cut it, so that the client sees a broken body, not a short one.
          res.destroy(err);
          return;
        }
        const bodyUntouched = !hasBody || !req.readableDidRead;
        if (destination === 'canary' && bodyUntouched) {
          metrics.fallback();
          forward(req, res, 'local', current);
          return;
        }
        logger.warn({ err, destination, method }, 'upstreamFailed');
        const upstream = destination === 'canary' ? (current.canary?.origin ?? 'canary') : 'local app';
        res.setHeader('x-sluice-route', destination === 'canary' ? 'canary' : role);
        if (draining) res.setHeader('connection', 'close');
        sendJson(res, code, {
          error: code === GATEWAY_TIMEOUT ? 'upstream timed out' : 'upstream failed',
          upstream,
          reason: (err as { code?: string }).code ?? err.name,
        });
      },
    };
    poolFor(destination, current).dispatch(
      {
        path: req.url ?? '/',
        method: method as Dispatcher.HttpMethod,
        headers,
        body: hasBody ? req : null,
        headersTimeout: config.upstreamTimeoutMs,
        bodyTimeout: config.upstreamTimeoutMs,
      },
      handler,
    );
  };

  const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
    const current = route;
    const destination = chooseDestination(current, role, rawHeaderReader(req.rawHeaders), random);
    forward(req, res, destination, current);
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const current = route;
    const destination = chooseDestination(current, role, rawHeaderReader(req.rawHeaders), random);
    const target =
      destination === 'canary' && current.canary !== null ? current.canary.origin : localOrigin(config);
    forwardUpgrade(req, socket, head, target, destination === 'canary', logger);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
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
      await closeServer(server);
      await routeClient?.stop();
      await Promise.all([local.close(), ...[...canaryPools.values()].map((p) => p.close())]);
      await closeServer(admin);
    },
  };
}

function newPool(origin: string, timeoutMs: number): Pool {
  return new Pool(origin, {
    // Shorter than the usual app server's idle timeout (Node's default is 5 s), so that we close an idle
    // connection before the app does and never send a request into a socket being reset.
    keepAliveTimeout: UPSTREAM_KEEPALIVE_MS,
    connect: { timeout: Math.min(UPSTREAM_CONNECT_TIMEOUT_MS, timeoutMs) },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
}

function localOrigin(config: ProxyConfig): string {
  return `http://${config.appHost}:${config.appPort}`;
}
