import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../src/server.js';
import { routeTableSchema } from '../../src/routes/table.js';
import { jsonFuzzer } from '../support/json-fuzz.js';
import { runProxyProcess } from '../support/processes.js';
import { seededRandom } from '../support/random.js';
import { closeAll, get, startUpstream, type Upstream } from '../support/servers.js';
import { eventually } from '../support/eventually.js';

/**
 * Malformed route tables (issue 17), through the proxy's real route client: a route server that answers
 * each long-poll at once with the next table of a seeded stream of garbage, partial, huge, wrong-typed
 * and unsupported JSON, valid tables among them, while good requests flow. The proxy must apply exactly
 * the valid ones (the table schema is the oracle), never crash, and answer every good request.
 * FUZZ_COUNT sets how many tables (`npm run fuzz` runs 10,000); FUZZ_SEED replays a run.
 */

const count = Number(process.env['FUZZ_COUNT'] ?? 1_000);
const seed = Number(process.env['FUZZ_SEED'] ?? Date.now() % 1_000_000);

type Answer = { kind: string; status: number; body: string; cut?: boolean };

function tableStream(random: () => number, canaryUrl: string) {
  const { pick, mutate } = jsonFuzzer(random);
  const int = (n: number) => Math.floor(random() * n);
  let serial = 0;
  const valid = () => ({
    version: `v${++serial}`,
    canary: {
      url: canaryUrl,
      weight: pick([0, 1, 10, 50, 100, 33.3]),
      match: random() < 0.5 ? [{ header: 'traffic', exact: 'test' }] : [],
      segment: random() < 0.3 ? [{ header: 'x-user', regex: pick(['^qa-', '^[a-z]+$', '(a|b)+c']) }] : [],
      sticky: pick([null, 'x-user', 'cookie:session']),
    },
  });
  const json = (kind: string, value: unknown): Answer => ({ kind, status: 200, body: JSON.stringify(value) });
  // Versions are unique, so that a table is never the one the proxy already has; a mutated version keeps
  // its type (and so its fault) but gets a unique suffix.
  const unique = (value: unknown): unknown => {
    const v = value as { version?: unknown } | null;
    if (v !== null && typeof v === 'object' && typeof v.version === 'string') v.version += `-${++serial}`;
    return value;
  };
  let lastWasError = false;
  const next = (): Answer => {
    const r = random();
    // Answers the client takes as failures back off (0.25 s and up): rare, and never two in a row.
    if (r < 0.01 && !lastWasError) {
      lastWasError = true;
      return pick<Answer>([
        { kind: 'http error', status: pick([500, 404, 429]), body: 'no' },
        { kind: 'cut mid-body', status: 200, body: JSON.stringify(valid()), cut: true },
        { kind: 'over 1 MiB', status: 200, body: JSON.stringify({ ...valid(), pad: 'x'.repeat(1_100_000) }) },
      ]);
    }
    lastWasError = false;
    if (r < 0.25) return json('valid', valid());
    if (r < 0.55) return json('mutated', unique(mutate(valid())));
    if (r < 0.65) {
      const t = valid();
      return json(
        'wrong type',
        pick<unknown>([
          { ...t, version: 7 },
          { ...t, canary: 'http://x' },
          { ...t, canary: { ...t.canary, weight: '10' } },
          { ...t, canary: { ...t.canary, match: { header: 'a', exact: 'b' } } },
          { ...t, canary: { ...t.canary, sticky: 5 } },
          [t],
          null,
          'table',
          42,
        ]),
      );
    }
    if (r < 0.75) {
      const text = JSON.stringify(valid());
      return {
        kind: 'not JSON',
        status: 200,
        body: pick([
          text.slice(0, int(text.length)),
          '',
          '{',
          '\u0000\u0001\u00ff',
          text.replace(':', '='),
          `${text}}`,
          Array.from({ length: int(200) }, () => String.fromCharCode(int(256))).join(''),
        ]),
      };
    }
    if (r < 0.76) {
      const depth = 1 + int(100_000);
      return { kind: 'huge', status: 200, body: `${'['.repeat(depth)}${']'.repeat(depth)}` };
    }
    if (r < 0.85) {
      const t = valid();
      const entries = (n: number, regex: string) =>
        Array.from({ length: n }, () => ({ header: 'x-a', regex }));
      return json(
        'huge',
        pick<unknown>([
          { ...t, canary: { ...t.canary, match: entries(32, `^${'a'.repeat(1_020)}`) } },
          { ...t, canary: { ...t.canary, match: entries(33, '^a') } },
          { ...t, canary: { ...t.canary, segment: entries(20_000, '^a') } },
          { ...t, version: 'v'.repeat(129) },
          { ...t, canary: { ...t.canary, match: entries(1, 'a'.repeat(1_025)) } },
        ]),
      );
    }
    if (r < 0.93) {
      const t = valid();
      const regex = pick(['^(?!bot)', '(a)\\1', '(?<=x)y', '\\u0041', '(', 'a{1001}', '[^]']);
      return json('unsupported regex', {
        ...t,
        canary: { ...t.canary, segment: [{ header: 'x-user', regex }] },
      });
    }
    if (r < 0.97) return { kind: 'not modified', status: 304, body: '' };
    const t = valid();
    return json(
      'bad value',
      pick<unknown>([
        { ...t, canary: { ...t.canary, url: pick(['ftp://x', 'http://x/path', 'not a url', 'http://u@x']) } },
        { ...t, canary: { ...t.canary, weight: pick([-1, 100.5, Number.POSITIVE_INFINITY, null]) } },
        { ...t, canary: { ...t.canary, match: [{ header: 'bad header', exact: 'x' }] } },
        { ...t, canary: { ...t.canary, match: [{ header: 'a', exact: 'b', regex: 'c' }] } },
        { ...t, version: '' },
      ]),
    );
  };
  return next;
}

let primary: Upstream;
let canary: Upstream;
let routeServer: http.Server;
let proxy: Awaited<ReturnType<typeof runProxyProcess>>;
let serve: (res: http.ServerResponse) => void = () => undefined;

beforeAll(async () => {
  primary = await startUpstream('v1');
  canary = await startUpstream('v2');
  routeServer = http.createServer((_req, res) => serve(res));
  const routePort = await listen(routeServer, 0, '127.0.0.1');
  proxy = await runProxyProcess([
    '--app-port',
    String(primary.port),
    '--control-url',
    `http://127.0.0.1:${routePort}`,
    '--route-ttl',
    '1h',
    '--drain-delay',
    '0s',
  ]);
});

afterAll(async () => {
  await proxy?.stop();
  if (routeServer) await closeAll(routeServer);
  await primary?.close();
  await canary?.close();
});

describe('fuzzing the proxy with route tables', () => {
  it(
    `applies exactly the valid ones of ${count} malformed route tables, serving throughout (seed ${seed})`,
    async () => {
      const next = tableStream(seededRandom(seed), canary.url);
      const expectedApplied: string[] = [];
      const tally = new Map<string, number>();
      let served = 0;
      let finished!: () => void;
      const allServed = new Promise<void>((resolve) => (finished = resolve));
      const last = {
        version: 'final',
        canary: { url: canary.url, weight: 0, match: [{ header: 'traffic', exact: 'final' }] },
      };
      serve = (res) => {
        if (served === count) {
          served++;
          res.end(JSON.stringify(last));
          return finished();
        }
        if (served > count) return; // Held: the client waits here until the test ends.
        served++;
        const answer = next();
        tally.set(answer.kind, (tally.get(answer.kind) ?? 0) + 1);
        if (answer.status === 200 && answer.cut !== true && answer.body.length <= 1024 * 1024) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(answer.body);
          } catch {
            parsed = undefined;
          }
          const table = routeTableSchema.safeParse(parsed);
          if (table.success) expectedApplied.push(table.data.version);
        }
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        if (answer.cut === true) {
          res.write(answer.body.slice(0, answer.body.length / 2));
          return void res.destroy();
        }
        res.end(answer.body);
      };

      const started = performance.now();
      const goodFailures: string[] = [];
      let good = 0;
      let stop = false;
      const traffic = async () => {
        while (!stop) {
          good++;
          const answer = await get(`http://127.0.0.1:${proxy.port}/`, { traffic: 'test' }).catch(
            (err: Error) => ({ status: 0, body: err.message }),
          );
          if (answer.status !== 200) goodFailures.push(`${answer.status} ${answer.body}`);
        }
      };
      const flows = Array.from({ length: 4 }, traffic);
      await allServed;
      await eventually(
        'the final table applied',
        () => proxy.logs.some((l) => l['msg'] === 'routeApplied' && l['version'] === 'final'),
        { timeoutMs: 10_000 },
      );
      stop = true;
      await Promise.all(flows);
      const seconds = (performance.now() - started) / 1000;

      const applied = proxy.logs
        .filter((l) => l['msg'] === 'routeApplied' && l['stale'] === false && l['version'] !== 'final')
        .map((l) => l['version']);
      const rejected = proxy.logs.filter((l) => l['msg'] === 'routeTableRejected').length;
      console.log(
        `route-table fuzz, seed ${seed}: ${count} answers in ${seconds.toFixed(1)} s, ${applied.length} applied, ` +
          `${rejected} rejected, ${good} good requests meanwhile\n` +
          [...tally]
            .sort()
            .map(([kind, n]) => `  ${String(n).padStart(6)}  ${kind}`)
            .join('\n'),
      );
      expect(applied).toEqual(expectedApplied);
      expect(goodFailures).toEqual([]);
      expect(proxy.child.exitCode).toBeNull();
      // The final table routes: its match goes to the canary.
      expect((await get(`http://127.0.0.1:${proxy.port}/`, { traffic: 'final' })).body).toBe('v2');
    },
    Math.max(60_000, count * 20),
  );
});
