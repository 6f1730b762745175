import { describe, expect, it } from 'vitest';
import { admit } from '../../webhook/admit.js';
import { InvalidAnnotationsDenial, TemplatesNeedPrometheusDenial } from '../../webhook/denials.js';
import { CONFIG, deployment, request } from './support.js';

const withAnnotations = (annotations: Record<string, string>) => {
  const object = deployment();
  object.metadata.annotations = { ...object.metadata.annotations, ...annotations };
  return request({ operation: 'CREATE', object });
};

const templated = {
  'sluice.dev/metric-templates': 'podinfo-metrics',
  'sluice.dev/objectives': 'success-rate>=99%,queue-depth<10',
};

describe('objectives on metric templates at admission', () => {
  it('admits them when the controller reads Prometheus', () => {
    const decision = admit(withAnnotations(templated), { ...CONFIG, metricsProvider: 'prometheus' });
    expect(decision.allowed).toBe(true);
  });

  it('denies them when the controller reads the proxies directly, naming the annotation, template and fix', () => {
    const decision = admit(withAnnotations(templated), { ...CONFIG, metricsProvider: 'direct' });
    expect(decision.allowed).toBe(false);
    if (decision.allowed) return;
    expect(decision.denial).toBeInstanceOf(TemplatesNeedPrometheusDenial);
    expect(decision.denial.message).toContain('sluice.dev/objectives names the metric template queue-depth');
    expect(decision.denial.message).toContain('--metrics-provider prometheus');
  });

  it('admits objectives relative to the primary with either provider', () => {
    const relative = { 'sluice.dev/objectives': 'error-rate<=primary+0.5%,p99-latency<=primary*1.2' };
    expect(admit(withAnnotations(relative), { ...CONFIG, metricsProvider: 'direct' }).allowed).toBe(true);
  });

  it('denies a template name without sluice.dev/metric-templates, naming the annotation to set', () => {
    const decision = admit(withAnnotations({ 'sluice.dev/objectives': 'queue-depth<10' }), {
      ...CONFIG,
      metricsProvider: 'prometheus',
    });
    expect(decision.allowed).toBe(false);
    if (decision.allowed) return;
    expect(decision.denial).toBeInstanceOf(InvalidAnnotationsDenial);
    expect(decision.denial.message).toContain('set sluice.dev/metric-templates');
  });
});
