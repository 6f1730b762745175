import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProxyProcess } from '../support/processes.js';
import { hostileRequests, sendHostile, SMUGGLED_PATH, type Outcome } from '../support/hostile-http.js';
import { seededRandom } from '../support/random.js';
import { get, startUpstream, type Upstream } from '../support/servers.js';

/**
 * Malformed and hostile HTTP/1.1 requests (issue 17): framing, header sizes, smuggling shapes, slow
 * clients and early closes, each on its own connection, with a good request after each on a kept-alive
 * one. The proxy must answer each with the right status and close, or forward what is well framed; never
 * hand the app a smuggled second request; and keep answering the good ones. FUZZ_COUNT sets how many
 * hostile requests (`npm run fuzz` runs 10,000); FUZZ_SEED replays a run.
 */

const count = Number(process.env['FUZZ_COUNT'] ?? 1_000);
const seed = Number(process.env['FUZZ_SEED'] ?? Date.now() % 1_000_000);

let app: Upstream;
let proxy: Awaited<ReturnType<typeof runProxyProcess>>;
const pathsSeen: string[] = [];

beforeAll(async () => {
  app = await startUpstream('v1', (req, res) => {
    pathsSeen.push(req.url ?? '');
    req.resume();
    req.on('end', () => res.end('v1'));
  });
  proxy = await runProxyProcess(['--app-port', String(app.port), '--drain-delay', '0s']);
});

afterAll(async () => {
  await proxy?.stop();
  await app?.close();
});

describe('fuzzing the proxy with hostile requests', () => {
  it(
    `answers ${count} hostile requests right and keeps serving good ones (seed ${seed})`,
    async () => {
      const next = hostileRequests(seededRandom(seed));
      const tally = new Map<string, number>();
      const wrong: string[] = [];
      const goodFailures: string[] = [];
      const started = performance.now();
      let sent = 0;
      const worker = async () => {
        while (sent < count) {
          sent++;
          const request = next();
          const outcome: Outcome = await sendHostile(proxy.port, request);
          const key = `${request.kind} | ${request.shape} | ${outcome}`;
          tally.set(key, (tally.get(key) ?? 0) + 1);
          if (request.expect.length > 0 && !request.expect.includes(outcome))
            wrong.push(
              `${key}, expected ${request.expect.join(' or ')}: ${JSON.stringify(request.pieces.join('').slice(0, 200))}`,
            );
          const good = await get(`http://127.0.0.1:${proxy.port}/good`, { 'x-user': 'qa-1' }).catch(
            (err: Error) => ({ status: 0, body: err.message }),
          );
          if (good.status !== 200 || good.body !== 'v1') goodFailures.push(`${good.status} ${good.body}`);
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      const seconds = (performance.now() - started) / 1000;

      const lines = [...tally].sort().map(([key, n]) => `  ${String(n).padStart(6)}  ${key}`);
      console.log(
        `hostile-request fuzz, seed ${seed}: ${count} hostile and ${count} good requests in ${seconds.toFixed(1)} s\n` +
          `  count  class | shape | outcome\n${lines.join('\n')}`,
      );
      expect(wrong).toEqual([]);
      expect(goodFailures).toEqual([]);
      expect(pathsSeen.filter((p) => p.startsWith(SMUGGLED_PATH))).toEqual([]);
      expect(proxy.child.exitCode).toBeNull();
      expect((await get(`http://127.0.0.1:${proxy.adminPort}/livez`)).status).toBe(200);
    },
    Math.max(60_000, count * 30),
  );
});
