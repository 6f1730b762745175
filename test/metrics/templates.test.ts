import { describe, expect, it } from 'vitest';
import {
  measureTemplates,
  renderTemplate,
  selectTemplates,
  TemplateInvalidError,
  TemplateMissingError,
  TemplateNoValuesError,
} from '../../src/metrics/templates.js';
import type { ReleaseMetrics, SideMetrics } from '../../src/metrics/provider.js';

const source = { namespace: 'shop', configMap: 'podinfo-metrics' };
const variables = {
  namespace: 'shop',
  deployment: 'podinfo',
  revision: '6f7a8b9c0d',
  role: 'canary',
  interval: '60s',
};

describe('rendering a metric template', () => {
  it('fills in every variable, with or without blanks inside the braces', () => {
    const text =
      'sum(rate(app_queue_depth{namespace="{{ namespace }}",app="{{deployment}}",revision="{{ revision }}",' +
      'role="{{  role  }}"}[{{ interval }}]))';
    expect(renderTemplate(source, 'queue-depth', text, variables)).toBe(
      'sum(rate(app_queue_depth{namespace="shop",app="podinfo",revision="6f7a8b9c0d",role="canary"}[60s]))',
    );
  });

  it('refuses an unknown variable, naming the template, ConfigMap and the variables there are', () => {
    const render = () => renderTemplate(source, 'queue-depth', 'up{job="{{ target }}"}', variables);
    expect(render).toThrow(TemplateInvalidError);
    expect(render).toThrow(
      'metric template queue-depth (key queue-depth of ConfigMap shop/podinfo-metrics) does not render: unknown variable {{ target }}',
    );
  });

  it('refuses an unclosed brace and an empty template', () => {
    expect(() => renderTemplate(source, 'q', 'up{job="{{ namespace"}', variables)).toThrow(
      /without its \}\}/,
    );
    expect(() => renderTemplate(source, 'q', '  \n', variables)).toThrow(/empty/);
  });
});

describe('selecting the templates a release names', () => {
  it('takes the named keys of the ConfigMap', () => {
    const data = { 'queue-depth': 'sum(q)', other: 'sum(o)' };
    expect([...selectTemplates(source, data, ['queue-depth'])]).toEqual([['queue-depth', 'sum(q)']]);
  });

  it('says which ConfigMap is missing, or which key it lacks', () => {
    expect(() => selectTemplates(source, null, ['queue-depth'])).toThrow(TemplateMissingError);
    expect(() => selectTemplates(source, null, ['queue-depth'])).toThrow(
      'ConfigMap shop/podinfo-metrics (sluice.dev/metric-templates) not found',
    );
    expect(() => selectTemplates(source, {}, ['queue-depth'])).toThrow(
      'metric template queue-depth: ConfigMap shop/podinfo-metrics has no key queue-depth',
    );
  });

  it('checks that each renders when the release reads it', () => {
    expect(() => selectTemplates(source, { q: 'up{x="{{ pod }}"}' }, ['q'])).toThrow(TemplateInvalidError);
  });
});

describe('measuring templates for both sides', () => {
  const side: SideMetrics = {
    requests: 10,
    successRate: 100,
    errorRate: 0,
    meanLatencyMs: 1,
    latencyQuantilesMs: {},
  };
  const metrics: ReleaseMetrics = { canary: side, primary: side };
  const scope = {
    target: { namespace: 'shop', deployment: 'podinfo' },
    windowMs: 30_000,
    at: 1_000,
    revisions: { canary: 'cand', primary: 'stab' },
  };
  const templates = new Map([
    ['errors', 'sum(errs{revision="{{ revision }}",role="{{ role }}"}[{{ interval }}])'],
  ]);

  it('renders each side with its own role and revision, and adds the values', async () => {
    const asked: string[] = [];
    const measured = await measureTemplates(metrics, templates, source, scope, (promql) => {
      asked.push(promql);
      return Promise.resolve(promql.includes('cand') ? 3 : 1);
    });
    expect(asked.sort()).toEqual([
      'sum(errs{revision="cand",role="canary"}[30s])',
      'sum(errs{revision="stab",role="primary"}[30s])',
    ]);
    expect(measured.canary.custom).toEqual({ errors: 3 });
    expect(measured.primary.custom).toEqual({ errors: 1 });
  });

  it('fails naming the template and side when a query has no data', async () => {
    const measuring = measureTemplates(metrics, templates, source, scope, (promql) =>
      Promise.resolve(promql.includes('cand') ? 3 : undefined),
    );
    await expect(measuring).rejects.toThrow(TemplateNoValuesError);
    await expect(measuring).rejects.toThrow(/metric template errors .* returned no data for the primary/);
  });
});
