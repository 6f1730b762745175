import { MetricsError } from './errors.js';
import type { ReleaseMetrics, ReleaseTarget } from './provider.js';
import { range, type Side } from './queries.js';

/**
 * Metric templates: PromQL a user keeps in a ConfigMap (one key per template, named by
 * `sluice.dev/metric-templates`) and names in `sluice.dev/objectives`, as Flagger's MetricTemplate.
 * Each check renders a template once per side, with these variables, and runs it as an instant query at
 * the end of the window, as the built-in queries are run.
 */

export const TEMPLATE_VARIABLES = ['namespace', 'deployment', 'revision', 'role', 'interval'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

/** Where a release's templates come from: the ConfigMap's namespace and name. */
export interface TemplateSource {
  readonly namespace: string;
  readonly configMap: string;
}

const where = (source: TemplateSource, key: string): string =>
  `key ${key} of ConfigMap ${source.namespace}/${source.configMap}`;

/** The template ConfigMap, or a key the objectives name, is not there. */
export class TemplateMissingError extends MetricsError {
  readonly code = 'TemplateMissing';
  constructor(
    readonly source: TemplateSource,
    readonly key: string | null,
  ) {
    super(
      key === null
        ? `ConfigMap ${source.namespace}/${source.configMap} (sluice.dev/metric-templates) not found: create it with a PromQL template per metric the objectives name`
        : `metric template ${key}: ConfigMap ${source.namespace}/${source.configMap} has no key ${key}; add it, or remove ${key} from sluice.dev/objectives`,
    );
    this.name = 'TemplateMissingError';
  }
}

/** A template does not render: an unknown variable, an unclosed `{{`, or nothing but blanks. */
export class TemplateInvalidError extends MetricsError {
  readonly code = 'TemplateInvalid';
  constructor(
    readonly source: TemplateSource,
    readonly key: string,
    reason: string,
  ) {
    super(`metric template ${key} (${where(source, key)}) does not render: ${reason}`);
    this.name = 'TemplateInvalidError';
  }
}

/** A template's query returned no series: a failed check, as for a built-in query. */
export class TemplateNoValuesError extends MetricsError {
  readonly code = 'NoValues';
  constructor(
    readonly source: TemplateSource,
    readonly key: string,
    readonly side: Side,
    readonly query: string,
  ) {
    super(`metric template ${key} (${where(source, key)}) returned no data for the ${side}: ${query}`);
    this.name = 'TemplateNoValuesError';
  }
}

/** The provider cannot run PromQL: templates need the prometheus provider. */
export class TemplatesNeedPrometheusError extends MetricsError {
  readonly code = 'TemplatesNeedPrometheus';
  constructor(
    readonly provider: string,
    names: readonly string[],
  ) {
    super(
      `metric templates (${names.join(', ')}) are PromQL and need the prometheus provider; this controller reads metrics with ${provider}: run it with --metrics-provider prometheus, or remove them from sluice.dev/objectives`,
    );
    this.name = 'TemplatesNeedPrometheusError';
  }
}

const VARIABLE = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Renders one template with the variables of one side; throws TemplateInvalidError. */
export function renderTemplate(
  source: TemplateSource,
  key: string,
  text: string,
  variables: Readonly<Record<TemplateVariable, string>>,
): string {
  const known: ReadonlySet<string> = new Set(TEMPLATE_VARIABLES);
  const rendered = text.replace(VARIABLE, (_, name: string) => {
    if (!known.has(name)) {
      throw new TemplateInvalidError(
        source,
        key,
        `unknown variable {{ ${name} }}; use ${TEMPLATE_VARIABLES.map((v) => `{{ ${v} }}`).join(', ')}`,
      );
    }
    return variables[name as TemplateVariable];
  });
  if (rendered.includes('{{') || rendered.includes('}}')) {
    throw new TemplateInvalidError(source, key, 'a {{ without its }} (or the other way round)');
  }
  if (rendered.trim() === '') throw new TemplateInvalidError(source, key, 'the template is empty');
  return rendered.trim();
}

/**
 * Checks that every template the objectives name is in the ConfigMap's data and renders, so that a bad
 * ConfigMap is reported by name and key when a release reads it. Returns the named templates' text.
 */
export function selectTemplates(
  source: TemplateSource,
  data: Readonly<Record<string, string>> | null,
  names: readonly string[],
): ReadonlyMap<string, string> {
  if (data === null) throw new TemplateMissingError(source, null);
  const templates = new Map<string, string>();
  for (const name of names) {
    const text = data[name];
    if (text === undefined) throw new TemplateMissingError(source, name);
    renderTemplate(source, name, text, {
      namespace: 'ns',
      deployment: 'd',
      revision: 'r',
      role: 'canary',
      interval: '1m',
    });
    templates.set(name, text);
  }
  return templates;
}

/** A release's two sides as templates see them: the canary runs the candidate, the primary the stable. */
export interface TemplateScope {
  readonly target: ReleaseTarget;
  readonly windowMs: number;
  readonly at: number;
  readonly revisions: Readonly<Record<Side, string>>;
}

/** Runs an instant query: undefined when it has no value, null when its value is NaN. */
export type InstantQuery = (promql: string, at: number) => Promise<number | null | undefined>;

/**
 * Each template's value for both sides, added to the provider's numbers (`custom`). A query without a
 * value is a TemplateNoValuesError: the template is wrong for this Deployment, which a check must say.
 */
export async function measureTemplates(
  metrics: ReleaseMetrics,
  templates: ReadonlyMap<string, string>,
  source: TemplateSource,
  scope: TemplateScope,
  query: InstantQuery,
): Promise<ReleaseMetrics> {
  const side = async (role: Side): Promise<Record<string, number | null>> => {
    const variables = {
      namespace: scope.target.namespace,
      deployment: scope.target.deployment,
      revision: scope.revisions[role],
      role,
      interval: range(scope.windowMs),
    };
    const entries = await Promise.all(
      [...templates].map(async ([name, text]) => {
        const promql = renderTemplate(source, name, text, variables);
        const value = await query(promql, scope.at);
        if (value === undefined) throw new TemplateNoValuesError(source, name, role, promql);
        return [name, value] as const;
      }),
    );
    return Object.fromEntries(entries);
  };
  const [canary, primary] = await Promise.all([side('canary'), side('primary')]);
  return {
    canary: { ...metrics.canary, custom: canary },
    primary: { ...metrics.primary, custom: primary },
  };
}
