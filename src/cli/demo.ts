import { z } from 'zod';
import { ANNOTATIONS, parseCanaryAnnotations, type CanaryConfig } from '../annotations.js';
import { defineCommand } from './command.js';
import { httpUrlSchema, UsageError } from './options.js';
import { createLogger } from '../log.js';
import { DirectProvider } from '../metrics/direct.js';
import { PrometheusProvider } from '../metrics/prometheus.js';
import { ReleaseLoop } from '../release/driver.js';
import { initialStatus } from '../release/status.js';
import type { AppBehaviour } from '../demo/app.js';
import { startLoad } from '../demo/load.js';
import { DEMO_DEPLOYMENT, DEMO_NAMESPACE, LocalPlatform } from '../demo/platform.js';

const SCENARIOS: Record<string, Omit<AppBehaviour, 'version'>> = {
  good: { errorRate: 0, latencyMs: 0 },
  bad: { errorRate: 0.3, latencyMs: 0 },
  slow: { errorRate: 0, latencyMs: 800 },
};

const annotationValue = z.string().min(1);

/**
 * The release options are the annotations' own, with demo defaults that finish in well under two
 * minutes, and are validated by the same schema (so a bad value reads as the webhook would deny it).
 * The first steps are small so that a bad version reaches few requests: the release's blast radius.
 */
const releaseOptions = {
  interval: { description: 'analysis interval (min 5s)', schema: annotationValue, default: '5s' },
  stepWeight: {
    description: 'weight step (instead of --step-weights)',
    schema: annotationValue,
    optional: true,
  },
  stepWeights: { description: 'explicit weights', schema: annotationValue, default: '5,10,25,50' },
  maxWeight: { description: 'weight at which to promote', schema: annotationValue, optional: true },
  threshold: { description: 'failed checks before rollback', schema: annotationValue, default: '2' },
  objectives: {
    description: 'what a check requires of the canary',
    schema: annotationValue,
    default: 'success-rate>=99%,p99-latency<=500ms',
  },
  minRequests: {
    description: 'canary requests for a conclusive check',
    schema: annotationValue,
    default: '20',
  },
  progressDeadline: { description: 'roll back after this long', schema: annotationValue, default: '2m' },
  iterations: {
    description:
      'A/B mode: weight 0, only --match traffic reaches v2, promote after this many passing checks',
    schema: annotationValue,
    optional: true,
  },
  match: {
    description: 'header matches that always reach the canary',
    schema: annotationValue,
    default: 'traffic=test',
  },
} as const;

export const demoCommand = defineCommand({
  summary:
    'A whole release on this machine, no cluster: a sample app v1 behind two primary proxies, v2 as the ' +
    'canary, the route server, the release engine and load. Prints each step, then one JSON line.',
  options: {
    scenario: {
      description: 'good (v2 is fine), bad (v2 fails 30%), slow (v2 adds 800 ms)',
      schema: z.enum(['good', 'bad', 'slow']),
      default: 'good',
    },
    rps: {
      description: 'requests per second of background load',
      schema: z
        .string()
        .regex(/^\d+$/)
        .transform(Number)
        .refine((n) => n >= 1 && n <= 2000, 'expected 1 to 2000'),
      default: '150',
    },
    prometheus: {
      description:
        'read metrics from this Prometheus (which must scrape the printed proxies) instead of directly',
      schema: httpUrlSchema,
      optional: true,
    },
    ...releaseOptions,
  },
  async run(options) {
    let config: CanaryConfig;
    try {
      config = releaseConfig(options);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      console.error(`sluice demo: ${err.message}`);
      return 2;
    }
    const started = Date.now();
    const print = (line: string) =>
      console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}`);
    const stable: AppBehaviour = { version: 'v1', errorRate: 0, latencyMs: 0 };
    const candidate: AppBehaviour = {
      version: 'v2',
      ...(SCENARIOS[options.scenario] ?? SCENARIOS['good']),
    } as AppBehaviour;

    const logger = createLogger('demo', process.env['SLUICE_LOG_LEVEL'] ?? 'silent');
    const platform = await LocalPlatform.start({
      stable,
      candidate,
      primaries: 2,
      logger,
      onEvent: (kind, reason, message) => print(`${kind === 'Warning' ? '! ' : ''}${reason}: ${message}`),
    });
    const target = { namespace: DEMO_NAMESPACE, deployment: DEMO_DEPLOYMENT };
    const provider =
      options.prometheus === undefined
        ? new DirectProvider({ discover: () => platform.metricsUrls() })
        : new PrometheusProvider({ url: options.prometheus });
    print(
      `scenario ${options.scenario}: v1 behind ${platform.servicePorts().length} primary proxies (ports ` +
        `${platform.servicePorts().join(', ')}), v2 held as the candidate; metrics: ${provider.name}`,
    );
    const load = startLoad({
      ports: () => platform.servicePorts(),
      rps: options.rps,
      testEveryMs: 500,
      testHeader: { traffic: 'test' },
      candidateVersion: candidate.version,
    });

    const loop = new ReleaseLoop({
      target,
      platform,
      provider,
      config: () => config,
      status: initialStatus(started),
    });
    try {
      while (loop.status.phase !== 'Succeeded' && loop.status.phase !== 'Failed') {
        await loop.tick();
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await load.stop();
      await platform.close();
    }

    const { tally } = load;
    const share = tally.requests === 0 ? 0 : (100 * tally.canaryFailures) / tally.requests;
    print(
      `v2 answered ${tally.canaryRequests} of ${tally.requests} requests and failed ${tally.canaryFailures} ` +
        `(${share.toFixed(2)}% of all requests); traffic: test requests answered by v2: ` +
        `${tally.testToCandidate}/${tally.testRequests}`,
    );
    console.log(
      JSON.stringify({
        result: loop.status.phase === 'Succeeded' ? 'promoted' : 'rolled-back',
        phase: loop.status.phase,
        seconds: Math.round((Date.now() - started) / 100) / 10,
        requests: tally.requests,
        canaryRequests: tally.canaryRequests,
        canaryFailures: tally.canaryFailures,
      }),
    );
    return 0;
  },
});

function releaseConfig(options: Record<keyof typeof releaseOptions, string | undefined>): CanaryConfig {
  const annotations: Record<string, string> = { [ANNOTATIONS.canary]: 'enabled' };
  for (const name of Object.keys(releaseOptions) as (keyof typeof releaseOptions)[]) {
    const value = options[name];
    // --step-weight replaces the default list rather than clashing with it.
    const replaced = name === 'stepWeights' && options.stepWeight !== undefined;
    if (value !== undefined && !replaced) annotations[ANNOTATIONS[name]] = value;
  }
  const result = parseCanaryAnnotations(annotations);
  if (!result.ok) throw new UsageError(result.errors.map((e) => e.message).join('\n'));
  return result.config;
}
