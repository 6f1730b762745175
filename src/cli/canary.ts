import { z } from 'zod';

/**
 * The `Canary` object as the operator commands read it (manifests/crd.yaml). The CLI may be older or newer
 * than the controller that wrote the status, so every field is read on its own and one that does not parse
 * is left out, never fatal: `sluice status` must show what it can of a release in any state.
 */

export { CANARY_RESOURCE } from '../kube/canary-object.js';

const lenient = <T extends z.ZodType>(schema: T) => schema.nullish().catch(undefined);

const sideSchema = z.object({
  requests: z.number(),
  successRate: z.number().nullish(),
  errorRate: z.number().nullish(),
  meanLatencyMs: z.number().nullish(),
  latencyQuantilesMs: z.record(z.string(), z.number().nullable()).nullish(),
});

const analysisSchema = z.object({
  result: z.string(),
  summary: z.string(),
  at: z.string().nullish(),
  weight: z.number().nullish(),
  objectives: z
    .array(
      z.object({
        objective: z.string(),
        value: z.number().nullish(),
        passed: z.boolean(),
        summary: z.string(),
      }),
    )
    .nullish(),
  canary: sideSchema.nullish(),
  primary: sideSchema.nullish(),
  error: z.object({ code: z.string(), message: z.string() }).nullish(),
});

const conditionSchema = z.object({
  type: z.string(),
  status: z.string(),
  reason: z.string().nullish(),
  message: z.string().nullish(),
  lastTransitionTime: z.string().nullish(),
});

const statusSchema = z.object({
  phase: lenient(z.string()),
  canaryWeight: lenient(z.number()),
  failedChecks: lenient(z.number()),
  iterations: lenient(z.number()),
  mirrorChecks: lenient(z.number()),
  stableRevision: lenient(z.string()),
  candidateRevision: lenient(z.string()),
  failedRevision: lenient(z.string()),
  outcome: lenient(
    z.object({ reason: z.string(), revision: z.string(), message: z.string(), at: z.string() }),
  ),
  lastTransitionTime: lenient(z.string()),
  conditions: lenient(z.array(conditionSchema)),
});

export type SideView = z.infer<typeof sideSchema>;
export type AnalysisView = z.infer<typeof analysisSchema>;
export type ConditionView = z.infer<typeof conditionSchema>;

export interface CanaryView {
  readonly namespace: string;
  readonly name: string;
  /** `spec.targetRef.name`: the Deployment this release belongs to. */
  readonly deployment: string;
  readonly status: z.infer<typeof statusSchema>;
  /** `status.lastAnalysis`, when there is one this CLI can read. */
  readonly lastAnalysis: AnalysisView | null;
  /** A `status.lastAnalysis` there is, but in a shape this CLI does not know. */
  readonly lastAnalysisUnreadable: boolean;
  /** The status as stored, for `-o json`. */
  readonly rawStatus: unknown;
}

interface CanaryObject {
  metadata?: { name?: string; namespace?: string };
  spec?: { targetRef?: { name?: string } };
  status?: unknown;
}

export function parseCanary(object: unknown): CanaryView {
  const canary = (object ?? {}) as CanaryObject;
  const name = canary.metadata?.name ?? '';
  const raw = canary.status ?? null;
  const status = statusSchema.safeParse(typeof raw === 'object' && raw !== null ? raw : {});
  const rawAnalysis = (raw as { lastAnalysis?: unknown } | null)?.lastAnalysis;
  const analysis = rawAnalysis == null ? undefined : analysisSchema.safeParse(rawAnalysis);
  return {
    namespace: canary.metadata?.namespace ?? '',
    name,
    deployment: canary.spec?.targetRef?.name ?? name,
    status: status.success ? status.data : {},
    lastAnalysis: analysis?.success ? analysis.data : null,
    lastAnalysisUnreadable: analysis !== undefined && !analysis.success,
    rawStatus: raw,
  };
}

export function parseCanaryList(list: unknown): CanaryView[] {
  const items = (list as { items?: unknown[] } | null)?.items ?? [];
  return items
    .map(parseCanary)
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}
