import { request } from 'node:http';

// Bounded HTTP load against a Service's ClusterIP, from this machine: every request on a new connection, so
// each one is routed afresh by kube-proxy (a kept-alive connection would stay on the pod it first reached),
// and every failure (a status of 500 or more that was not asked for, a reset, a timeout) is counted.

export interface LoadTarget {
  path: string;
  headers?: Record<string, string>;
}

export interface LoadStats {
  sent: number;
  /** By status code. */
  statuses: Map<number, number>;
  /** By the proxy's `x-sluice-route` answer header (`primary`, `canary`, or `none`). */
  routes: Map<string, number>;
  /** By podinfo's `message` field, which tells the release that answered. */
  messages: Map<string, number>;
  /** Requests that got no answer: the error, with the request's path. */
  errors: string[];
}

export interface Load {
  stats: LoadStats;
  /** Stops sending, waits for the requests in flight, and returns what they got. */
  stop(): Promise<LoadStats>;
  /** False once every worker has ended: on `stop()`, or at the request or time bound. */
  running(): boolean;
}

interface Answer {
  status: number;
  route: string;
  message: string | undefined;
}

export function getOnce(baseUrl: string, target: LoadTarget, timeoutMs = 10_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${baseUrl}${target.path}`,
      { headers: target.headers ?? {}, agent: false, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          let message: string | undefined;
          try {
            message = (JSON.parse(Buffer.concat(chunks).toString()) as { message?: string }).message;
          } catch {
            message = undefined;
          }
          const route = res.headers['x-sluice-route'];
          resolve({
            status: res.statusCode ?? 0,
            route: typeof route === 'string' ? route : 'none',
            message,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

const bump = <K>(map: Map<K, number>, key: K): void => {
  map.set(key, (map.get(key) ?? 0) + 1);
};

/**
 * Sends the targets in turn, `concurrency` at a time, until `stop()`, `maxRequests` or `maxMs`, whichever
 * comes first.
 */
export function startLoad(
  baseUrl: string,
  targets: readonly LoadTarget[],
  bounds: { concurrency: number; maxRequests: number; maxMs: number; pauseMs?: number },
): Load {
  const stats: LoadStats = {
    sent: 0,
    statuses: new Map(),
    routes: new Map(),
    messages: new Map(),
    errors: [],
  };
  const deadline = Date.now() + bounds.maxMs;
  let stopped = false;
  let ended = false;
  const worker = async (): Promise<void> => {
    while (!stopped && stats.sent < bounds.maxRequests && Date.now() < deadline) {
      const target = targets[stats.sent % targets.length] ?? { path: '/' };
      stats.sent++;
      try {
        const answer = await getOnce(baseUrl, target);
        bump(stats.statuses, answer.status);
        bump(stats.routes, answer.route);
        if (answer.message !== undefined) bump(stats.messages, answer.message);
      } catch (err) {
        stats.errors.push(`${target.path}: ${(err as Error).message}`);
      }
      if (bounds.pauseMs) await new Promise((r) => setTimeout(r, bounds.pauseMs));
    }
  };
  const done = Promise.all(Array.from({ length: bounds.concurrency }, worker)).then(() => {
    ended = true;
    return stats;
  });
  return {
    stats,
    running: () => !ended,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}
