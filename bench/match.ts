import {
  chooseDestination,
  compileRoute,
  rawHeaderReader,
  type CompiledRoute,
  type ValueTest,
} from '../proxy/router.js';
import { compileHeaderRegex } from '../src/match.js';
import { routeTableSchema, type RouteCanaryInput } from '../src/routes/table.js';
import { median } from './tools.js';

/**
 * The cost of header matching per request: the proxy's route choice (`chooseDestination`) as the proxy
 * compiles it (literal alternations on RegExp, the rest on RE2) against the same choice with every regex
 * on JavaScript's backtracking RegExp (what it ran before), for the patterns people write, in the same
 * process, interleaved round by round. Then the catastrophic pattern of issue 15 on both engines, RegExp
 * only at lengths it survives.
 */

export interface MatchBenchOptions {
  rounds: number;
  /** Route choices timed per case, engine and round. */
  iterations: number;
  log: (line: string) => void;
}

export interface MatchBenchResult {
  /** Per case: nanoseconds per route choice on each engine, and RE2's over RegExp's. */
  cases: Record<string, { regexpNs: number; proxyNs: number; ratio: number }>;
  /** The crafted request of issue 15 (4,000 `a`s and a `!` against `^(a+)+$`), on RE2, in ms. */
  craftedMs: number;
}

const USER_AGENT =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) ' +
  'Chrome/131.0.0.0 Safari/537.36';

/** A browser's request, as rawHeaders: what the header reader walks for every match. */
const REQUEST = [
  'Host',
  'shop.example.com',
  'User-Agent',
  USER_AGENT,
  'Accept',
  'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'Accept-Language',
  'en-GB,en;q=0.9',
  'Accept-Encoding',
  'gzip, deflate, br',
  'Cookie',
  'session=7f3a9c1e0b2d4e6f; theme=dark; canary=never',
  'X-User',
  'alice@example.com',
  'Country',
  'fr',
];

/** The route tables: an exact match (no regex: the control), then the regexes people write. */
const CASES: Record<string, Partial<RouteCanaryInput>> = {
  'exact header (no regex)': { match: [{ header: 'traffic', exact: 'test' }] },
  'prefix ^qa- (miss)': { match: [{ header: 'x-user', regex: '^qa-' }] },
  'suffix @example\\.com$ (hit)': { match: [{ header: 'x-user', regex: '@example\\.com$' }] },
  'cookie ^(always|beta)$ (miss)': { match: [{ cookie: 'canary', regex: '^(always|beta)$' }] },
  'segment ^(de|fr|it)$ (hit)': { weight: 10, segment: [{ header: 'country', regex: '^(de|fr|it)$' }] },
  'user-agent (iPhone|Android) (miss)': { match: [{ header: 'user-agent', regex: '(iPhone|Android)' }] },
  // Repetition, classes and flags: these run on RE2.
  'RE2: ^[a-z]+@example\\.com$ (hit)': { match: [{ header: 'x-user', regex: '^[a-z]+@example\\.com$' }] },
  'RE2: ^qa-[0-9]+ (miss)': { match: [{ header: 'x-user', regex: '^qa-[0-9]+' }] },
  'RE2: cookie ^(always|beta)\\b (miss)': { match: [{ cookie: 'canary', regex: '^(always|beta)\\b' }] },
  'RE2: user-agent iP(hone|ad)[ ;] (miss)': { match: [{ header: 'user-agent', regex: 'iP(hone|ad)[ ;]' }] },
};

function compile(canary: Partial<RouteCanaryInput>): CompiledRoute {
  return compileRoute(
    routeTableSchema.parse({ version: 'bench', canary: { url: 'http://canary:8080', weight: 0, ...canary } }),
  );
}

/** The same route with every regex on JavaScript's RegExp: the baseline, built only here. */
function onRegExp(route: CompiledRoute): CompiledRoute {
  const canary = route.canary;
  const sources = route.table.canary;
  if (canary === null || sources === null) return route;
  const swap = (entries: typeof canary.match, written: typeof sources.match) =>
    entries.map((e, i) => {
      const regex = written[i]?.regex;
      return { ...e, regex: regex === undefined ? undefined : (new RegExp(regex) as ValueTest) };
    });
  return {
    ...route,
    canary: {
      ...canary,
      match: swap(canary.match, sources.match),
      segment: swap(canary.segment, sources.segment),
    },
  };
}

function nsPerChoice(route: CompiledRoute, iterations: number): number {
  const random = () => 0.5;
  let canary = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    if (chooseDestination(route, 'primary', rawHeaderReader(REQUEST), random) === 'canary') canary++;
  }
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  // Keeps the loop's result alive, so that the optimiser cannot drop the work.
  if (canary < 0) throw new Error('unreachable');
  return ns;
}

function msFor(test: () => boolean): number {
  const start = process.hrtime.bigint();
  test();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export function benchMatch(options: MatchBenchOptions): MatchBenchResult {
  const { rounds, iterations, log } = options;
  log(
    `header matching in process: chooseDestination on a ${REQUEST.length / 2}-header browser request, ` +
      `${rounds} rounds × ${iterations} choices per case and engine, engines interleaved`,
  );
  const routes = Object.entries(CASES).map(([name, canary]) => {
    const proxy = compile(canary);
    return { name, proxy, regexp: onRegExp(proxy) };
  });
  const samples = new Map(routes.map((r) => [r.name, { regexp: [] as number[], proxy: [] as number[] }]));
  for (const r of routes) {
    nsPerChoice(r.proxy, iterations / 10);
    nsPerChoice(r.regexp, iterations / 10);
  }
  for (let round = 1; round <= rounds; round++) {
    for (const r of routes) {
      const s = samples.get(r.name) as { regexp: number[]; proxy: number[] };
      // The order turns each round, so that neither engine always runs on a warmer machine.
      if (round % 2 === 0) s.proxy.push(nsPerChoice(r.proxy, iterations));
      s.regexp.push(nsPerChoice(r.regexp, iterations));
      if (round % 2 === 1) s.proxy.push(nsPerChoice(r.proxy, iterations));
    }
  }
  const cases: MatchBenchResult['cases'] = {};
  for (const [name, s] of samples) {
    const regexpNs = median(s.regexp);
    const proxyNs = median(s.proxy);
    cases[name] = { regexpNs: Math.round(regexpNs), proxyNs: Math.round(proxyNs), ratio: proxyNs / regexpNs };
    log(
      `  ${name.padEnd(40)} RegExp ${regexpNs.toFixed(0).padStart(5)} ns, proxy ${proxyNs.toFixed(0).padStart(5)} ns ` +
        `(+${(proxyNs - regexpNs).toFixed(0)} ns, ${(proxyNs / regexpNs).toFixed(2)} ×)`,
    );
  }

  const crafted = (n: number) => `${'a'.repeat(n)}!`;
  const re2 = compileHeaderRegex('^(a+)+$');
  const regexp = /^(a+)+$/;
  const craftedMs = median([1, 2, 3].map(() => msFor(() => re2.test(crafted(4_000)))));
  log(
    `the crafted header against ^(a+)+$: RE2 ${craftedMs.toFixed(2)} ms at 4,000 a's, ` +
      `${msFor(() => re2.test(crafted(16_000))).toFixed(2)} ms at 16,000; RegExp ` +
      [16, 18, 20, 22]
        .map((n) => `${msFor(() => regexp.test(crafted(n))).toFixed(1)} ms at ${n}`)
        .join(', ') +
      ' (doubling with each a: 4,000 never ends)',
  );
  return { cases, craftedMs };
}
