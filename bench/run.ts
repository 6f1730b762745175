import { benchMatch } from './match.js';
import { benchGrpc, type GrpcBenchResult, type GrpcVariant } from './grpc.js';
import { benchProxy, type ProxyBenchResult } from './proxy.js';
import { MissingToolError, requireTools } from './tools.js';
import { benchWebhook, type WebhookVariant } from './webhook.js';

/**
 * `npm run bench`: every figure is measured against a baseline in the same run. Not a test: it never
 * fails on timing. BENCH_QUICK=1 runs one short round, to check that the benchmark itself works;
 * BENCH_ONLY=proxy, BENCH_ONLY=grpc, BENCH_ONLY=match or BENCH_ONLY=webhook runs one section; BENCH_ROUNDS
 * sets the rounds of the interleaved sections.
 * BENCH_PROXY_BEFORE=<another build's bin/sluice.js> runs that build as one more path of the proxy section,
 * in the same rounds; BENCH_GRPC_PROXIES (a JSON list of `{ "name", "bin", "nodeOptions" }`) runs more sluice
 * proxies in the gRPC section's rounds.
 */
const quick = process.env['BENCH_QUICK'] === '1';
const only = process.env['BENCH_ONLY'];
const SECTIONS = ['proxy', 'grpc', 'match', 'webhook'];
if (only !== undefined && !SECTIONS.includes(only))
  throw new Error(`BENCH_ONLY is ${SECTIONS.join(', ')}, not ${only}`);
const log = (line: string) => console.log(line);
/** BENCH_ROUNDS [3]: more rounds give a steadier median of the p99s, which single stalls move. */
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1)
  throw new Error(`BENCH_ROUNDS is a whole number ≥ 1, not ${ROUNDS}`);

/**
 * Every server the benchmark starts runs on the Node.js that runs it. The image ships the newest supported
 * line (Dockerfile), and V8 versions differ in ways that show here (docs/benchmarks.md): run it there.
 */
log(`Node.js ${process.version}`);

const NGINX = { command: 'nginx', debianPackage: 'nginx-light' };

/** A section's tools, or exit 2 naming the Debian packages that have them. */
function requireOrExit(tools: { command: string; debianPackage: string }[]): void {
  try {
    requireTools(tools);
  } catch (err) {
    if (!(err instanceof MissingToolError)) throw err;
    console.error(`npm run bench: ${err.message}`);
    process.exit(2);
  }
}

let proxyFigures: (ProxyBenchResult & { nginxUpstream: ProxyBenchResult }) | undefined;
if (only === undefined || only === 'proxy') {
  requireOrExit([NGINX, { command: 'wrk', debianPackage: 'wrk' }]);
  const proxyOptions = {
    rounds: quick ? 1 : ROUNDS,
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
  requireOrExit([NGINX, { command: 'h2load', debianPackage: 'nghttp2-client' }]);
  grpc = await benchGrpc({
    rounds: quick ? 1 : ROUNDS,
    seconds: quick ? 2 : 10,
    clients: 8,
    streams: 16,
    probeRate: 500,
    probeSeconds: quick ? 2 : 10,
    variants: JSON.parse(process.env['BENCH_GRPC_PROXIES'] ?? '[]') as GrpcVariant[],
    log,
  });
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
        rounds: quick ? 1 : ROUNDS,
        warmupSeconds: quick ? 1 : 5,
        probeRate: 500,
        lowProbeRate: 100,
        probeSeconds: quick ? 2 : 10,
        variants,
        log,
      });

console.log(
  JSON.stringify({
    ...proxyFigures,
    ...(grpc && { grpc }),
    ...(match && { match }),
    ...(webhook && { webhook }),
  }),
);
