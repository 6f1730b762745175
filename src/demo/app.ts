import http from 'node:http';
import { closeServer, listen, sendJson, sendText } from '../server.js';

/**
 * The demo's sample app: answers every path with the version that served it, in the body and in an
 * `app-version` header (as podinfo and Iter8's samples do), and can be told to fail a share of requests
 * or to answer late, which is what the bad and slow scenarios release.
 */

export interface AppBehaviour {
  version: string;
  /** Share of requests answered 500, 0 … 1. */
  errorRate: number;
  /** Added to every answer. */
  latencyMs: number;
}

export interface SampleApp {
  port: number;
  url: string;
  behaviour(): AppBehaviour;
  /** Serves the next requests as another version: how the local platform rolls a primary forward. */
  setBehaviour(behaviour: AppBehaviour): void;
  close(): Promise<void>;
}

export const VERSION_HEADER = 'app-version';

export async function startSampleApp(
  initial: AppBehaviour,
  options: { host?: string; port?: number; random?: () => number } = {},
): Promise<SampleApp> {
  const random = options.random ?? Math.random;
  let current = Object.freeze({ ...initial });
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const behaviour = current;
    res.setHeader(VERSION_HEADER, behaviour.version);
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === '/livez' || path === '/readyz') return sendText(res, 200, 'ok\n');
    req.resume();
    const answer = (): void => {
      if (res.destroyed) return;
      if (random() < behaviour.errorRate) {
        sendJson(res, 500, { version: behaviour.version, error: 'injected failure' });
      } else {
        sendJson(res, 200, { version: behaviour.version, message: `hello from ${behaviour.version}` });
      }
    };
    if (behaviour.latencyMs > 0) setTimeout(answer, behaviour.latencyMs);
    else answer();
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);
  return {
    port,
    url: `http://${host}:${port}`,
    behaviour: () => current,
    setBehaviour(next) {
      current = Object.freeze({ ...next });
    },
    async close() {
      const closed = closeServer(server);
      server.closeIdleConnections();
      // Slow answers still pending are cut: the demo is over when the app is closed.
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
