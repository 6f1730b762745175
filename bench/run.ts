import { benchMatch } from './match.js';
import { benchProxy, type ProxyBenchResult } from './proxy.js';
import { MissingToolError, requireTools } from './tools.js';
import { benchWebhook, type WebhookVariant } from './webhook.js';

/**
 * `npm run bench`: every figure is measured against a baseline in the same run. Not a test: it never
 * fails on timing. BENCH_QUICK=1 runs one short round, to check that the benchmark itself works;
 * BENCH_ONLY=proxy, BENCH_ONLY=match or BENCH_ONLY=webhook runs one section.
 */
const quick = process.env['BENCH_QUICK'] === '1';
const only = process.env['BENCH_ONLY'];
const SECTIONS = ['proxy', 'match', 'webhook'];
if (only !== undefined && !SECTIONS.includes(only))
  throw new Error(`BENCH_ONLY is ${SECTIONS.join(', ')}, not ${only}`);
const log = (line: string) => console.log(line);

let proxyFigures: (ProxyBenchResult & { nginxUpstream: ProxyBenchResult }) | undefined;
if (only === undefined || only === 'proxy') {
  try {
    requireTools([
      { command: 'nginx', debianPackage: 'nginx-light' },
      { command: 'wrk', debianPackage: 'wrk' },
    ]);
  } catch (err) {
    if (!(err instanceof MissingToolError)) throw err;
    console.error(`npm run bench: ${err.message}`);
    process.exit(2);
  }
  const proxyOptions = {
    rounds: quick ? 1 : 3,
    seconds: quick ? 2 : 10,
    connections: 50,
    probeRate: 500,
    probeSeconds: quick ? 2 : 10,
    log,
  };
  const proxy = await benchProxy({ ...proxyOptions, upstream: 'node' });
  const proxyBound = await benchProxy({ ...proxyOptions, upstream: 'nginx' });
  proxyFigures = { ...proxy, nginxUpstream: proxyBound };
}

const match =
  only === undefined || only === 'match'
    ? benchMatch({ rounds: quick ? 1 : 5, iterations: quick ? 20_000 : 200_000, log })
    : undefined;

/** BENCH_WEBHOOKS: more webhooks to run beside this build's, a JSON list (see bench/webhook.ts). */
const variants = JSON.parse(process.env['BENCH_WEBHOOKS'] ?? '[]') as WebhookVariant[];

const webhook =
  only !== undefined && only !== 'webhook'
    ? undefined
    : await benchWebhook({
        iterations: quick ? 1_000 : 5_000,
        warmup: quick ? 200 : 1_000,
        rounds: quick ? 1 : 3,
        warmupSeconds: quick ? 1 : 5,
        probeRate: 500,
        lowProbeRate: 100,
        probeSeconds: quick ? 2 : 10,
        variants,
        log,
      });

console.log(JSON.stringify({ ...proxyFigures, ...(match && { match }), ...(webhook && { webhook }) }));
