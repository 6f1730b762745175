import { benchGrpc, type GrpcBenchResult } from './grpc.js';
import { benchProxy, type ProxyBenchResult } from './proxy.js';
import { benchWebhook, type WebhookVariant } from './webhook.js';

/**
 * `npm run bench`: every figure is measured against a baseline in the same run. Not a test: it never
 * fails on timing. BENCH_QUICK=1 runs one short round, to check that the benchmark itself works;
 * BENCH_ONLY=proxy, BENCH_ONLY=grpc or BENCH_ONLY=webhook runs one section. BENCH_PROXY_BEFORE=<another
 * build's bin/sluice.js> runs that build as one more path of the proxy section, in the same rounds.
 */
const quick = process.env['BENCH_QUICK'] === '1';
const only = process.env['BENCH_ONLY'];
if (only !== undefined && only !== 'proxy' && only !== 'grpc' && only !== 'webhook')
  throw new Error(`BENCH_ONLY is proxy, grpc or webhook, not ${only}`);
const log = (line: string) => console.log(line);

let proxyFigures: (ProxyBenchResult & { nginxUpstream: ProxyBenchResult }) | undefined;
if (only === undefined || only === 'proxy') {
  const proxyOptions = {
    rounds: quick ? 1 : 3,
    seconds: quick ? 2 : 10,
    connections: 50,
    probeRate: 500,
    probeSeconds: quick ? 2 : 10,
    beforeBin: process.env['BENCH_PROXY_BEFORE'],
    log,
  };
  const proxy = await benchProxy({ ...proxyOptions, upstream: 'node' });
  const proxyBound = await benchProxy({ ...proxyOptions, upstream: 'nginx' });
  proxyFigures = { ...proxy, nginxUpstream: proxyBound };
}

let grpc: GrpcBenchResult | undefined;
if (only === undefined || only === 'grpc') {
  grpc = await benchGrpc({
    rounds: quick ? 1 : 3,
    seconds: quick ? 2 : 10,
    clients: 8,
    streams: 16,
    probeRate: 500,
    probeSeconds: quick ? 2 : 10,
    log,
  });
}

/** BENCH_WEBHOOKS: more webhooks to run beside this build's, a JSON list (see bench/webhook.ts). */
const variants = JSON.parse(process.env['BENCH_WEBHOOKS'] ?? '[]') as WebhookVariant[];

const webhook =
  only === 'proxy' || only === 'grpc'
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

console.log(JSON.stringify({ ...proxyFigures, ...(grpc && { grpc }), ...(webhook && { webhook }) }));
