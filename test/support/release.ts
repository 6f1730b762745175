import type { RunningProxy } from '../../proxy/proxy.js';
import { routeTable } from '../../src/routes/table.js';
import { get, startTestProxy, startUpstream, type Upstream } from './servers.js';

/**
 * A release on loopback: a primary app behind `primaries` primary proxies, and a canary app, which fails
 * every `failEvery`-th request with a 500 and sleeps `delayMs` before each answer, behind a canary proxy.
 * The primaries send `weight` percent to the canary.
 */
export interface ReleaseRig {
  primaryApp: Upstream;
  canaryApp: Upstream;
  canaryProxy: RunningProxy;
  primaries: RunningProxy[];
  /** The admin /metrics URLs of every proxy. */
  metricsUrls(): string[];
  addPrimary(): Promise<RunningProxy>;
  removePrimary(proxy: RunningProxy): Promise<void>;
  /** Sends `count` GETs round-robin over the primaries, `concurrency` at a time, and tallies the answers. */
  load(count: number, concurrency?: number): Promise<Tally>;
  close(): Promise<void>;
}

export interface Tally {
  canary: number;
  canaryFailed: number;
  primary: number;
}

export async function startReleaseRig(options: {
  primaries: number;
  weight: number;
  failEvery: number;
  delayMs: number;
  /** Percent of the primaries' GETs also copied to the canary. */
  mirror?: number;
}): Promise<ReleaseRig> {
  let canaryServed = 0;
  const primaryApp = await startUpstream('v1');
  const canaryApp = await startUpstream('v2', (req, res) => {
    const n = ++canaryServed;
    req.resume();
    setTimeout(() => {
      const failed = n % options.failEvery === 0;
      res.writeHead(failed ? 500 : 200, { 'content-type': 'text/plain' });
      res.end(failed ? 'v2 failed' : 'v2');
    }, options.delayMs);
  });
  const canaryProxy = await startTestProxy({ appPort: canaryApp.port, role: 'canary', revision: 'v2' });
  const table = routeTable({
    url: `http://127.0.0.1:${canaryProxy.port}`,
    weight: options.weight,
    match: [],
    segment: [],
    sticky: null,
    ...(options.mirror !== undefined && { mirror: options.mirror }),
  });
  const primaries: RunningProxy[] = [];
  const addPrimary = async () => {
    const proxy = await startTestProxy({ appPort: primaryApp.port, revision: 'v1' });
    proxy.applyRoute(table);
    primaries.push(proxy);
    return proxy;
  };
  for (let i = 0; i < options.primaries; i++) await addPrimary();

  return {
    primaryApp,
    canaryApp,
    canaryProxy,
    primaries,
    metricsUrls: () => [canaryProxy, ...primaries].map((p) => `http://127.0.0.1:${p.adminPort}/metrics`),
    addPrimary,
    async removePrimary(proxy) {
      primaries.splice(primaries.indexOf(proxy), 1);
      await proxy.drain();
    },
    async load(count, concurrency = 8) {
      const tally: Tally = { canary: 0, canaryFailed: 0, primary: 0 };
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const proxy = primaries[next++ % primaries.length] as RunningProxy;
          const answer = await get(`http://127.0.0.1:${proxy.port}/`);
          if (answer.headers['x-sluice-route'] === 'canary') {
            tally.canary++;
            if (answer.status >= 500) tally.canaryFailed++;
          } else tally.primary++;
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      return tally;
    },
    async close() {
      for (const proxy of [...primaries, canaryProxy]) await proxy.drain();
      await Promise.all([primaryApp.close(), canaryApp.close()]);
    },
  };
}
