import { z } from 'zod';
import { defineCommand } from '../command/command.js';
import { durationSchema, httpUrlSchema, listenPortSchema } from '../command/options.js';
import { createLogger } from '../log.js';
import { createMetricsProvider } from '../metrics/index.js';
import { DEFAULTS } from '../annotations.js';
import { GATE_TYPES, type GateType } from '../gates.js';
import {
  defaultTestRate,
  DEMO_STEP_WEIGHTS,
  demoReleaseConfig,
  InvalidReleaseOptionError,
  RELEASE_FLAGS,
  SCENARIOS,
  type ReleaseFlags,
} from './config.js';
import { runDemo } from './demo.js';

const count = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, `expected a number from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `expected a number from ${min} to ${max}`);

/** A release flag: its value is checked by the annotation schema, all of them at once, in run(). */
const releaseFlag = (annotation: string, description: string, defaultValue?: string) => ({
  description: `${description} (as ${annotation})`,
  schema: z.string(),
  ...(defaultValue === undefined ? { optional: true as const } : { default: defaultValue }),
});

const EXIT_USAGE = 2;

/** The gate types a release asks (post-rollout and event are only told), comma-separated. */
const HELD_GATE_TYPES = GATE_TYPES.filter((t) => t !== 'post-rollout' && t !== 'event');
const gateTypesSchema = z.string().transform((text, ctx) => {
  const types = text.split(',').map((t) => t.trim());
  const unknown = types.filter((t) => !(HELD_GATE_TYPES as readonly string[]).includes(t));
  if (unknown.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `unknown gate type ${unknown.join(', ')}: expected ${HELD_GATE_TYPES.join(', ')}`,
    });
    return z.NEVER;
  }
  return types as GateType[];
});

export const demoCommand = defineCommand({
  summary:
    'A whole release on this machine, no cluster: the sample app v1 behind two primary proxies, v2 behind a ' +
    'canary proxy, the route server, the release runner and a load generator. Prints each step and, last, ' +
    'one JSON line with the result. The live page is served while it runs.',
  options: {
    scenario: {
      description: 'good: v2 is healthy; bad: v2 fails 30% of requests; slow: v2 adds 800 ms',
      schema: z.enum(SCENARIOS),
      default: 'good',
    },
    interval: {
      description: 'analysis interval (as sluice.dev/interval, but down to 1s)',
      schema: durationSchema(1_000),
      default: '5s',
    },
    stepWeight: releaseFlag('sluice.dev/step-weight', 'weight step'),
    stepWeights: releaseFlag(
      'sluice.dev/step-weights',
      `explicit weights; without this or --step-weight: ${DEMO_STEP_WEIGHTS}`,
    ),
    maxWeight: releaseFlag('sluice.dev/max-weight', 'weight at which to promote'),
    threshold: releaseFlag('sluice.dev/threshold', 'failed checks before rollback', '2'),
    objectives: releaseFlag(
      'sluice.dev/objectives',
      'what a check requires of the canary',
      DEFAULTS.objectives,
    ),
    minRequests: releaseFlag('sluice.dev/min-requests', 'fewer canary requests: inconclusive', '10'),
    progressDeadline: releaseFlag('sluice.dev/progress-deadline', 'max time for the release', '100s'),
    match: releaseFlag('sluice.dev/match', 'requests that always reach the canary', 'traffic=test'),
    segment: releaseFlag('sluice.dev/segment', 'requests that take part in the weight'),
    sticky: releaseFlag('sluice.dev/sticky', 'header or cookie:NAME that pins a client'),
    iterations: releaseFlag('sluice.dev/iterations', 'A/B mode: passing checks before promotion'),
    skipAnalysis: releaseFlag('sluice.dev/skip-analysis', 'true: promote without analysis'),
    mirror: releaseFlag(
      'sluice.dev/mirror',
      'percent of GETs copied to the canary, answers discarded, before any user reaches it',
    ),
    mirrorChecks: releaseFlag(
      'sluice.dev/mirror-checks',
      'passing checks of the copies before the steps [2]',
    ),
    webhooks: releaseFlag('sluice.dev/webhooks', 'gates, comma-separated type=url (Flagger webhooks)'),
    webhookTimeout: releaseFlag('sluice.dev/webhook-timeout', 'time a gate has to answer', '10s'),
    gate: {
      description:
        'gate types, comma-separated, that the built-in demo gate holds until `curl -X POST <live page>/gate/open`: ' +
        'e.g. confirm-promotion',
      schema: gateTypesSchema,
      optional: true,
    },
    rate: { description: 'requests per second of ordinary traffic', schema: count(1, 500), default: '50' },
    testRate: {
      description:
        'requests per second carrying the first exact --match header [enough for --min-requests per interval]',
      schema: count(0, 100),
      optional: true,
    },
    replicas: {
      description: 'primary replicas, each the app behind a proxy',
      schema: count(1, 8),
      default: '2',
    },
    prometheus: {
      description: 'read the metrics from this Prometheus instead of scraping the proxies directly',
      schema: httpUrlSchema,
      optional: true,
    },
    port: {
      description: 'port of the live page and the route server; 0: any free port',
      schema: listenPortSchema,
      default: '0',
    },
    warmup: {
      description: 'traffic on v1 alone before v2 is pushed',
      schema: durationSchema(),
      default: '2s',
    },
    linger: {
      description: 'keep the live page up this long after the result',
      schema: durationSchema(),
      default: '0s',
    },
  },
  async run(options) {
    const flags: ReleaseFlags = {};
    for (const key of RELEASE_FLAGS) {
      const value = options[key];
      if (value !== undefined) flags[key] = value;
    }
    let config;
    try {
      config = demoReleaseConfig(flags, options.interval);
    } catch (err) {
      if (!(err instanceof InvalidReleaseOptionError)) throw err;
      console.error(`sluice demo: ${err.messages.join('\nsluice demo: ')}`);
      return EXIT_USAGE;
    }
    // stdout is the human output and the result line; the logs go to stderr.
    const logger = createLogger('demo', process.env['SLUICE_LOG_LEVEL'] ?? 'warn', 2);
    const result = await runDemo({
      scenario: options.scenario,
      config,
      replicas: options.replicas,
      rate: options.rate,
      testRate: options.testRate ?? defaultTestRate(config.minRequests, config.intervalMs),
      port: options.port,
      warmupMs: options.warmup,
      lingerMs: options.linger,
      gate: options.gate ?? [],
      provider: (metricsUrls) =>
        options.prometheus === undefined
          ? createMetricsProvider({ kind: 'direct', discover: metricsUrls })
          : createMetricsProvider({ kind: 'prometheus', url: options.prometheus }),
      logger,
      print: (line) => console.log(line),
    });
    console.log(JSON.stringify(result));
    return result.result === 'unfinished' ? 1 : 0;
  },
});
