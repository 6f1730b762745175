import { z } from 'zod';
import { formatDuration, parseDuration } from './duration.js';
import { DEFAULT_GATE_TIMEOUT, type Gate, gateListSchema } from './gates.js';
import { type HeaderMatch, InvalidMatchError, parseMatchList, stickyKeySchema } from './match.js';
import {
  editDistance,
  InvalidObjectiveError,
  metricTemplatesIssue,
  OBJECTIVE_FORMAT,
  parseObjective,
  type Objective,
} from './objectives.js';

export {
  COMPARISON_OPS,
  InvalidObjectiveError,
  parseObjective,
  type ComparisonOp,
  type Objective,
} from './objectives.js';

/**
 * The `sluice.dev/*` annotations of a Deployment (DESIGN.md, "Annotations and labels"), parsed once with
 * one schema shared by the webhook (which denies a bad value with the error text built here) and the
 * controller (which receives a typed, frozen CanaryConfig).
 */

export const ANNOTATION_PREFIX = 'sluice.dev/';

/** The annotations users write. */
export const ANNOTATIONS = {
  canary: 'sluice.dev/canary',
  port: 'sluice.dev/port',
  interval: 'sluice.dev/interval',
  stepWeight: 'sluice.dev/step-weight',
  stepWeights: 'sluice.dev/step-weights',
  maxWeight: 'sluice.dev/max-weight',
  threshold: 'sluice.dev/threshold',
  objectives: 'sluice.dev/objectives',
  minRequests: 'sluice.dev/min-requests',
  progressDeadline: 'sluice.dev/progress-deadline',
  match: 'sluice.dev/match',
  segment: 'sluice.dev/segment',
  iterations: 'sluice.dev/iterations',
  canaryReplicas: 'sluice.dev/canary-replicas',
  sticky: 'sluice.dev/sticky',
  skipAnalysis: 'sluice.dev/skip-analysis',
  action: 'sluice.dev/action',
  protocol: 'sluice.dev/protocol',
  nativeSidecar: 'sluice.dev/native-sidecar',
  mirror: 'sluice.dev/mirror',
  mirrorChecks: 'sluice.dev/mirror-checks',
  notifications: 'sluice.dev/notifications',
  webhooks: 'sluice.dev/webhooks',
  webhookTimeout: 'sluice.dev/webhook-timeout',
  metricTemplates: 'sluice.dev/metric-templates',
} as const;

/** The annotations sluice writes and users only read. */
export const MANAGED_ANNOTATIONS = {
  stableRevision: 'sluice.dev/stable-revision',
  candidateRevision: 'sluice.dev/candidate-revision',
  /** `sluice`: sluice paused the Deployment to hold its candidate, so only sluice unpauses it. */
  pausedBy: 'sluice.dev/paused-by',
  /** A held ConfigMap's or Secret's payload (and a Deployment's under the earlier design, read on upgrade). */
  candidate: 'sluice.dev/candidate',
  promote: 'sluice.dev/promote',
  injected: 'sluice.dev/injected',
} as const;

/** The value of `sluice.dev/paused-by` on a Deployment whose candidate sluice holds. */
export const PAUSED_BY_SLUICE = 'sluice';

export const LABELS = {
  role: 'sluice.dev/role',
  tracked: 'sluice.dev/tracked',
} as const;

export const DEFAULTS = {
  interval: '1m',
  stepWeight: '10',
  maxWeight: '50',
  threshold: '5',
  objectives: 'success-rate>=99%,p99-latency<=500ms',
  minRequests: '10',
  progressDeadline: '30m',
  mirrorChecks: '2',
} as const;

export const MIN_INTERVAL_MS = 5_000;

export const ACTIONS = ['promote', 'abort', 'retry', 'pause', 'resume'] as const;
export type Action = (typeof ACTIONS)[number];

/** What the app speaks on its port, and so what the proxy speaks to it and to the canary. */
export const APP_PROTOCOLS = ['http', 'h2c', 'grpc'] as const;
export type AppProtocol = (typeof APP_PROTOCOLS)[number];
/**
 * `sluice.dev/protocol` values that say the app's port serves TLS: refused with their own reason, since the
 * proxy cannot route by header inside TLS it does not terminate.
 */
export const TLS_PROTOCOLS: readonly string[] = ['https', 'tls'];

/** `sluice.dev/notifications`: `false` (none), `true` (a release's start and end), `steps` (also each step). */
export type NotificationLevel = 'off' | 'releases' | 'steps';
const NOTIFICATION_LEVELS = { false: 'off', true: 'releases', steps: 'steps' } as const;

export interface CanaryConfig {
  readonly enabled: boolean;
  /** The container port the proxy fronts, by name or number; null picks the default (DESIGN.md). */
  readonly port: string | number | null;
  readonly intervalMs: number;
  /** The weights a release steps through, ascending, the last being maxWeight. */
  readonly weights: readonly number[];
  readonly maxWeight: number;
  readonly threshold: number;
  readonly objectives: readonly Objective[];
  readonly minRequests: number;
  readonly progressDeadlineMs: number;
  readonly match: readonly HeaderMatch[];
  readonly segment: readonly HeaderMatch[];
  /** A/B mode: promote after this many passing checks, with the weight at 0; null when off. */
  readonly iterations: number | null;
  readonly canaryReplicas: number | null;
  readonly sticky: string | null;
  readonly skipAnalysis: boolean;
  readonly action: Action | null;
  /** What the app speaks on its port [http]. */
  readonly protocol: AppProtocol;
  /** The proxy as a native sidecar (an init container) or not; null leaves it to the webhook's default. */
  readonly nativeSidecar: boolean | null;
  /**
   * Before any user request goes to the canary, the share (percent) of the primaries' idempotent requests
   * copied to it (docs/proxy.md, "Mirroring"); null when off.
   */
  readonly mirror: number | null;
  /** Passing checks on mirrored requests before the weighted steps begin. */
  readonly mirrorChecks: number;
  /** Which of this release's events the controller posts to the notification receivers. */
  readonly notifications: NotificationLevel;
  /** Gates with Flagger's webhook contract (gates.ts), in the order written. */
  readonly gates: readonly Gate[];
  /** How long one gate call may take before it counts as a failed answer. */
  readonly gateTimeoutMs: number;
  /** The ConfigMap, in the Deployment's namespace, whose keys are metric templates; null when none. */
  readonly metricTemplates: string | null;
}

export interface AnnotationError {
  readonly annotation: string;
  /** The value as written, or undefined when the annotation is absent and the error is about another. */
  readonly value: string | undefined;
  /** One sentence naming the annotation, the value and what is allowed: the webhook's denial text. */
  readonly message: string;
}

export type ParseResult =
  | { readonly ok: true; readonly config: CanaryConfig }
  | { readonly ok: false; readonly errors: readonly AnnotationError[] };

const integer = (min: number, max: number, what = `a whole number from ${min} to ${max}`) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `expected ${what}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `expected ${what}`);

const weight = integer(1, 100, 'a weight from 1 to 100');

const duration = (minMs: number) =>
  z.string().transform((text, ctx) => {
    try {
      const ms = parseDuration(text);
      if (ms < minMs) {
        ctx.addIssue({ code: 'custom', message: `expected a duration of at least ${formatDuration(minMs)}` });
      }
      return ms;
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration: a number and a unit (ms, s, m, h), e.g. 30s, 1m30s`,
      });
      return z.NEVER;
    }
  });

const matchList = z.string().transform((text, ctx) => {
  try {
    return parseMatchList(text);
  } catch (err) {
    if (!(err instanceof InvalidMatchError)) throw err;
    ctx.addIssue({ code: 'custom', message: err.message });
    return z.NEVER;
  }
});

const weightList = z.string().transform((text, ctx) => {
  const parts = text.split(',').map((s) => s.trim());
  const weights = parts.map(Number);
  const valid =
    parts.length > 0 &&
    parts.every((p) => /^\d+$/.test(p)) &&
    weights.every((w, i) => w >= 1 && w <= 100 && (i === 0 || w > (weights[i - 1] as number)));
  if (!valid) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected increasing weights from 1 to 100, comma-separated, e.g. 1,5,10,25,50',
    });
    return z.NEVER;
  }
  return weights;
});

const objectiveList = z.string().transform((text, ctx) => {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (parts.length === 0) {
    ctx.addIssue({ code: 'custom', message: `expected at least one objective; ${OBJECTIVE_FORMAT}` });
    return z.NEVER;
  }
  const objectives: Objective[] = [];
  for (const part of parts) {
    try {
      // Whether a template name is allowed depends on sluice.dev/metric-templates: checked below.
      objectives.push(parseObjective(part, { templates: true }));
    } catch (err) {
      if (!(err instanceof InvalidObjectiveError)) throw err;
      ctx.addIssue({ code: 'custom', message: `${err.message}; ${OBJECTIVE_FORMAT}` });
    }
  }
  return objectives;
});

const configMapName = z
  .string()
  .trim()
  .regex(
    /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/,
    'expected the name of a ConfigMap in the same namespace (lower-case letters, digits, - and .)',
  );

const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

const port = z.string().transform((text, ctx) => {
  const value = text.trim();
  if (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 65535) return Number(value);
  if (PORT_NAME.test(value) && !value.includes('--')) return value;
  ctx.addIssue({
    code: 'custom',
    message:
      'expected a container port number from 1 to 65535 or a port name (up to 15 lower-case letters, digits, -)',
  });
  return z.NEVER;
});

const oneOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z
    .string()
    .trim()
    .pipe(z.enum(values, { error: `expected one of ${values.join(', ')}` }));

const A = ANNOTATIONS;

const annotationsSchema = z
  .object({
    [A.canary]: oneOf(['enabled', 'disabled'] as const).optional(),
    [A.port]: port.optional(),
    [A.interval]: duration(MIN_INTERVAL_MS).prefault(DEFAULTS.interval),
    [A.stepWeight]: weight.optional(),
    [A.stepWeights]: weightList.optional(),
    [A.maxWeight]: weight.optional(),
    [A.threshold]: integer(1, 1000).prefault(DEFAULTS.threshold),
    [A.objectives]: objectiveList.prefault(DEFAULTS.objectives),
    [A.minRequests]: integer(0, 1_000_000).prefault(DEFAULTS.minRequests),
    [A.progressDeadline]: duration(MIN_INTERVAL_MS).prefault(DEFAULTS.progressDeadline),
    [A.match]: matchList.prefault(''),
    [A.segment]: matchList.prefault(''),
    [A.iterations]: integer(1, 1000).optional(),
    [A.canaryReplicas]: integer(1, 1000).optional(),
    [A.sticky]: stickyKeySchema.optional(),
    [A.skipAnalysis]: oneOf(['true', 'false'] as const).prefault('false'),
    [A.action]: oneOf(ACTIONS).optional(),
    [A.protocol]: oneOf(APP_PROTOCOLS).prefault('http'),
    [A.nativeSidecar]: oneOf(['true', 'false'] as const).optional(),
    [A.mirror]: integer(1, 100, 'a percentage from 1 to 100').optional(),
    [A.mirrorChecks]: integer(1, 1000).optional(),
    [A.notifications]: oneOf(['true', 'false', 'steps'] as const).prefault('true'),
    [A.webhooks]: gateListSchema.prefault(''),
    [A.webhookTimeout]: duration(100).prefault(DEFAULT_GATE_TIMEOUT),
    [A.metricTemplates]: configMapName.optional(),
  })
  .superRefine((a, ctx) => {
    for (const issue of mirrorIssues(a[A.mirror], a[A.mirrorChecks], a[A.protocol])) ctx.addIssue(issue);
    if (a[A.stepWeight] !== undefined && a[A.stepWeights] !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [A.stepWeights],
        message: `set either ${A.stepWeight} or ${A.stepWeights}, not both`,
      });
    }
    const maxWeight = a[A.maxWeight];
    const listed = a[A.stepWeights];
    if (maxWeight !== undefined && listed?.some((w) => w > maxWeight)) {
      ctx.addIssue({
        code: 'custom',
        path: [A.stepWeights],
        message: `every step must be at most ${A.maxWeight} (${maxWeight})`,
      });
    }
    if (a[A.progressDeadline] <= a[A.interval]) {
      ctx.addIssue({
        code: 'custom',
        path: [A.progressDeadline],
        message: `expected a duration longer than ${A.interval} (${formatDuration(a[A.interval])})`,
      });
    }
    if (a[A.iterations] !== undefined && a[A.match].length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: [A.iterations],
        message: `A/B mode sends only ${A.match} traffic to the canary: set ${A.match} too`,
      });
    }
  });

/** Mirroring copies HTTP/1.1 requests only, and mirror-checks means nothing without a share to mirror. */
function mirrorIssues(mirror: number | undefined, checks: number | undefined, protocol: AppProtocol) {
  const issues: { code: 'custom'; path: string[]; message: string }[] = [];
  if (mirror !== undefined && protocol !== 'http') {
    issues.push({
      code: 'custom',
      path: [A.mirror],
      message: `mirroring copies HTTP/1.1 requests only, and ${A.protocol} is ${protocol}: remove ${A.mirror}`,
    });
  }
  if (checks !== undefined && mirror === undefined) {
    issues.push({
      code: 'custom',
      path: [A.mirrorChecks],
      message: `counts checks of mirrored requests: set ${A.mirror} too`,
    });
  }
  return issues;
}

/** The weights a release steps through: step-weights as listed, or multiples of step-weight, up to max. */
function resolveWeights(step: number | undefined, listed: number[] | undefined, max: number | undefined) {
  if (listed !== undefined) {
    const top = max ?? (listed.at(-1) as number);
    return { weights: listed.at(-1) === top ? listed : [...listed, top], maxWeight: top };
  }
  const top = max ?? Number(DEFAULTS.maxWeight);
  const size = step ?? Number(DEFAULTS.stepWeight);
  const weights: number[] = [];
  for (let w = size; w < top; w += size) weights.push(w);
  weights.push(top);
  return { weights, maxWeight: top };
}

const USER_KEYS: ReadonlySet<string> = new Set(Object.values(ANNOTATIONS));
const KNOWN_KEYS: ReadonlySet<string> = new Set([...USER_KEYS, ...Object.values(MANAGED_ANNOTATIONS)]);

/**
 * Reads a Deployment's annotations. Every problem is reported, not only the first, so that one denial
 * tells the user all they must fix.
 */
export function parseCanaryAnnotations(annotations: Record<string, string> | undefined): ParseResult {
  const input = annotations ?? {};
  const errors: AnnotationError[] = [];
  for (const key of Object.keys(input)) {
    if (key.startsWith(ANNOTATION_PREFIX) && !KNOWN_KEYS.has(key)) {
      const near = closest(key, USER_KEYS);
      errors.push({
        annotation: key,
        value: input[key],
        message:
          `${key}: unknown annotation` +
          (near === undefined ? '' : `; did you mean ${near}?`) +
          `; known: ${[...USER_KEYS].join(', ')}`,
      });
    }
  }

  const parsed = annotationsSchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0]);
      const value = input[key];
      errors.push({
        annotation: key,
        value,
        message:
          value === undefined
            ? `${key}: ${issue.message}`
            : `${key}: "${value}" is not valid: ${issue.message}`,
      });
    }
  }
  // Outside the schema, whose refinements are skipped when a field is invalid: this is reported either way.
  const templatesIssue = metricTemplatesIssue(input[A.objectives], input[A.metricTemplates]);
  if (templatesIssue !== null) {
    errors.push({
      annotation: A.objectives,
      value: input[A.objectives],
      message: `${A.objectives}: "${input[A.objectives] ?? ''}" is not valid: ${templatesIssue}; ${OBJECTIVE_FORMAT}`,
    });
  }

  if (!parsed.success || errors.length > 0) return { ok: false, errors };

  const a = parsed.data;
  const { weights, maxWeight } = resolveWeights(a[A.stepWeight], a[A.stepWeights], a[A.maxWeight]);
  const config: CanaryConfig = {
    enabled: a[A.canary] === 'enabled',
    port: a[A.port] ?? null,
    intervalMs: a[A.interval],
    weights: Object.freeze(weights),
    maxWeight,
    threshold: a[A.threshold],
    objectives: Object.freeze(a[A.objectives].map((o) => Object.freeze(o))),
    minRequests: a[A.minRequests],
    progressDeadlineMs: a[A.progressDeadline],
    match: deepFreeze(a[A.match]),
    segment: deepFreeze(a[A.segment]),
    iterations: a[A.iterations] ?? null,
    canaryReplicas: a[A.canaryReplicas] ?? null,
    sticky: a[A.sticky] ?? null,
    skipAnalysis: a[A.skipAnalysis] === 'true',
    action: a[A.action] ?? null,
    protocol: a[A.protocol],
    nativeSidecar: a[A.nativeSidecar] === undefined ? null : a[A.nativeSidecar] === 'true',
    mirror: a[A.mirror] ?? null,
    mirrorChecks: a[A.mirrorChecks] ?? Number(DEFAULTS.mirrorChecks),
    notifications: NOTIFICATION_LEVELS[a[A.notifications]],
    gates: Object.freeze(a[A.webhooks]),
    gateTimeoutMs: a[A.webhookTimeout],
    metricTemplates: a[A.metricTemplates] ?? null,
  };
  return { ok: true, config: Object.freeze(config) };
}

/** The default configuration: what an opted-in Deployment with no other annotation gets. */
export function defaultCanaryConfig(): CanaryConfig {
  const result = parseCanaryAnnotations({ [A.canary]: 'enabled' });
  if (!result.ok) throw new Error('the default annotations do not parse');
  return result.config;
}

function deepFreeze<T extends object>(items: T[]): readonly T[] {
  return Object.freeze(items.map((item) => Object.freeze(item)));
}

/** The known key a typo most likely meant, if it is within a few edits. */
function closest(key: string, known: ReadonlySet<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const candidate of known) {
    const d = editDistance(key, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}
