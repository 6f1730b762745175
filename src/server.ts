import http from 'node:http';
import type net from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './log.js';

/**
 * What every sluice process shares (DESIGN.md, "Logs, health, shutdown"): an admin server with
 * /livez, /readyz and /metrics, and a SIGTERM handler that drains before exiting 0.
 */

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface AdminServerOptions {
  host: string;
  port: number;
  /** Ready to take traffic: caches synced, certificates loaded, not draining. */
  isReady: () => boolean;
  registry?: Registry;
  /** Extra read-only endpoints by exact path, e.g. the proxy's /routes. */
  routes?: Record<string, Handler>;
}

export function createAdminServer(options: AdminServerOptions): http.Server {
  return http.createServer(createAdminHandler(options));
}

/** The admin endpoints as a request handler, for a server that serves more than them. */
export function createAdminHandler(options: Omit<AdminServerOptions, 'host' | 'port'>): Handler {
  const { registry, isReady, routes = {} } = options;
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'method not allowed\n');
    if (path === '/livez') return sendText(res, 200, 'ok\n');
    if (path === '/readyz') return isReady() ? sendText(res, 200, 'ok\n') : sendText(res, 503, 'not ready\n');
    if (path === '/metrics' && registry !== undefined) {
      registry.metrics().then(
        (body) => sendText(res, 200, body, registry.contentType),
        (err: unknown) => sendText(res, 500, `metrics failed: ${String(err)}\n`),
      );
      return;
    }
    const route = routes[path];
    if (route !== undefined) return route(req, res);
    sendText(res, 404, 'not found\n');
  };
}

export function sendText(
  res: http.ServerResponse,
  status: number,
  body: string,
  contentType = 'text/plain',
): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  sendText(res, status, JSON.stringify(value), 'application/json');
}

/** Listens on host:port (0 picks a free port) and resolves with the port actually bound. */
export function listen(server: net.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/**
 * Stops accepting, lets in-flight requests finish, and resolves once every connection is gone.
 * Idle keep-alive connections are closed at once (Node does that in close()); busy ones close after
 * their response, which the caller marks `Connection: close` while draining.
 */
export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

export interface ShutdownOptions {
  logger: Logger;
  /** Stops accepting and finishes in-flight work. */
  drain: () => Promise<void>;
  /** After this long the process exits anyway, with code 1: work was cut short. */
  graceMs: number;
  exit?: (code: number) => void;
}

/** On SIGTERM or SIGINT: drain, then exit 0. A second signal, or the grace period running out, exits 1. */
export function exitOnSignal(options: ShutdownOptions): void {
  const { logger, drain, graceMs, exit = (code) => process.exit(code) } = options;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'secondSignalExiting');
      return exit(1);
    }
    stopping = true;
    logger.info({ signal, graceMs }, 'draining');
    const timer = setTimeout(() => {
      logger.error({ graceMs }, 'drainTimedOut');
      exit(1);
    }, graceMs);
    timer.unref();
    drain().then(
      () => {
        logger.info('drained');
        exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'drainFailed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
