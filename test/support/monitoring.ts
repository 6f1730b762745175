import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** manifests/monitoring/ as the tests read it: the rules, the dashboard, and the PromQL in both. */

export const monitoringDir = fileURLToPath(new URL('../../manifests/monitoring/', import.meta.url));

interface RuleFile {
  groups: { name: string; rules: { record?: string; alert?: string; expr: string }[] }[];
}
interface Dashboard {
  panels: { type: string; title: string; targets?: { expr: string }[] }[];
  templating: { list: { type: string; query: unknown }[] };
}

export const rules = parse(readFileSync(`${monitoringDir}rules.yaml`, 'utf8')) as RuleFile;
export const dashboard = JSON.parse(readFileSync(`${monitoringDir}dashboard.json`, 'utf8')) as Dashboard;

export const recordedNames = (): string[] =>
  rules.groups.flatMap((group) =>
    group.rules.flatMap((rule) => (rule.record === undefined ? [] : [rule.record])),
  );

export interface Query {
  where: string;
  expr: string;
}

/** Every panel's queries, and the selector of each `label_values(selector, label)` variable. */
export function dashboardQueries(): Query[] {
  const queries: Query[] = [];
  for (const panel of dashboard.panels) {
    if (panel.type === 'row') continue;
    for (const target of panel.targets ?? [])
      queries.push({ where: `panel "${panel.title}"`, expr: target.expr });
  }
  for (const variable of dashboard.templating.list) {
    const query = (variable.query as { query?: string } | undefined)?.query;
    const selector = query === undefined ? undefined : /^label_values\((.+),\s*\w+\)$/.exec(query)?.[1];
    if (selector !== undefined) queries.push({ where: 'a dashboard variable', expr: selector });
  }
  return queries;
}

export const ruleQueries = (): Query[] =>
  rules.groups.flatMap((group) =>
    group.rules.map((rule) => ({ where: `rule ${rule.record ?? rule.alert ?? ''}`, expr: rule.expr })),
  );

/** A dashboard query as Grafana sends it, its variables set to match everything. */
export function asGrafanaSends(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '5m').replace(/\$\w+/g, '.*');
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'bool', 'offset']);

/**
 * The metric names a PromQL expression selects: what is left once strings, label matchers, ranges and
 * grouping clauses are gone, and the words followed by `(` (functions, aggregations) are left out.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const match of bare.matchAll(/(?<![\w:.$])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()/g)) {
    const word = match[1] as string;
    if (!KEYWORDS.has(word)) names.push(word);
  }
  return names;
}
