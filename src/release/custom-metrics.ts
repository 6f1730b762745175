import type { CanaryConfig } from '../annotations.js';
import type { MetricsProvider, ReleaseMetrics, ReleaseTarget } from '../metrics/provider.js';
import { measureTemplates, selectTemplates, TemplatesNeedPrometheusError } from '../metrics/templates.js';
import type { ReleaseStatus } from './status.js';

/** Reads a ConfigMap's data in the release's namespace; null when there is no such ConfigMap. */
export type ReadConfigMap = (name: string) => Promise<Readonly<Record<string, string>> | null>;

/**
 * The metric templates' values added to the provider's numbers, when the objectives name templates: the
 * ConfigMap is read at every check, so a fix to it counts from the next one. Throws a MetricsError that
 * names the ConfigMap and key, which fails the check.
 */
export async function withTemplateMetrics(
  metrics: ReleaseMetrics,
  context: {
    readonly provider: MetricsProvider;
    readonly config: CanaryConfig;
    readonly target: ReleaseTarget;
    readonly status: ReleaseStatus;
    readonly readConfigMap: ReadConfigMap | undefined;
    readonly at: number;
  },
): Promise<ReleaseMetrics> {
  const { provider, config, target, status, readConfigMap, at } = context;
  const names = [...new Set(config.objectives.filter((o) => o.metric === 'custom').map((o) => o.name))];
  if (names.length === 0 || config.metricTemplates === null) return metrics;
  // A provider that runs no PromQL is a setting to fix, said at the first check whatever the traffic.
  const scalar = provider.scalar?.bind(provider);
  if (scalar === undefined) throw new TemplatesNeedPrometheusError(provider.name, names);
  // Too few canary requests make the check inconclusive whatever the templates say; a query over a canary
  // that had no traffic yet would have no data and fail it instead.
  if (metrics.canary.requests < config.minRequests) return metrics;
  const source = { namespace: target.namespace, configMap: config.metricTemplates };
  const data = readConfigMap === undefined ? null : await readConfigMap(config.metricTemplates);
  const templates = selectTemplates(source, data, names);
  const revisions = {
    canary: status.candidateRevision ?? '',
    primary: status.stableRevision ?? '',
  };
  const scope = { target, windowMs: config.intervalMs, at, revisions };
  return measureTemplates(metrics, templates, source, scope, scalar);
}
