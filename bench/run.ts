import { benchProxy } from './proxy.js';

/**
 * `npm run bench`: every figure is measured against a baseline in the same run. Not a test: it never
 * fails on timing. BENCH_QUICK=1 runs one short round, to check that the benchmark itself works.
 */
const quick = process.env['BENCH_QUICK'] === '1';
const log = (line: string) => console.log(line);

const proxyOptions = {
  rounds: quick ? 1 : 3,
  seconds: quick ? 2 : 10,
  connections: 50,
  probeRate: 500,
  probeSeconds: quick ? 2 : 5,
  log,
};
const proxy = await benchProxy({ ...proxyOptions, upstream: 'node' });
const proxyBound = await benchProxy({ ...proxyOptions, upstream: 'nginx' });

console.log(JSON.stringify({ ...proxy, nginxUpstream: proxyBound }));
