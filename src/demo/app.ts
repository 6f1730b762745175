import http from 'node:http';
import { listen } from '../server.js';

/** How a version of the sample app behaves. */
export interface AppBehaviour {
  readonly version: string;
  /** Share of requests answered 500, 0 to 1. */
  readonly errorRate: number;
  /** Added to every answer. */
  readonly latencyMs: number;
}

export interface SampleApp {
  readonly port: number;
  behaviour: AppBehaviour;
  close(): Promise<void>;
}

/**
 * The demo's app: answers which version it is, after a few milliseconds of work, and fails or lags as its
 * behaviour says. Failures are spread evenly (every n-th request) rather than random, so that a short
 * demo shows the configured rate.
 */
export async function startSampleApp(behaviour: AppBehaviour): Promise<SampleApp> {
  let served = 0;
  const app: SampleApp = {
    port: 0,
    behaviour,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server = http.createServer((req, res) => {
    req.resume();
    const { version, errorRate, latencyMs } = app.behaviour;
    served++;
    const failed = errorRate > 0 && Math.floor(served * errorRate) !== Math.floor((served - 1) * errorRate);
    setTimeout(
      () => {
        res.writeHead(failed ? 500 : 200, { 'content-type': 'application/json', 'x-app-version': version });
        res.end(JSON.stringify({ version, ok: !failed }));
      },
      2 + Math.random() * 6 + latencyMs,
    );
  });
  server.keepAliveTimeout = 10_000;
  Object.assign(app, { port: await listen(server, 0, '127.0.0.1') });
  return app;
}
