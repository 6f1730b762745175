import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeCandidate } from '../../src/candidate.js';
import { admit, MalformedObjectError } from '../../webhook/admit.js';
import {
  CandidateTooLargeDenial,
  InvalidAnnotationsDenial,
  SealKeyMissingDenial,
} from '../../webhook/denials.js';
import { applyPatch, CONFIG, deepFreeze, deployment, gvk, request } from './support.js';

function stored() {
  const object = deployment();
  const created = admit(request({ operation: 'CREATE', object }), CONFIG);
  if (!created.allowed) throw new Error('create denied');
  return applyPatch(object, created.patch);
}

describe('admission', () => {
  it('leaves the objects of the review as they came', () => {
    const old = stored();
    const object = structuredClone(old);
    object.spec.template.spec.containers = object.spec.template.spec.containers.map((c) => ({
      ...c,
      image: 'example/podinfo:next',
    }));
    const review = deepFreeze(request({ operation: 'UPDATE', object, oldObject: old }));
    const copy = structuredClone(review);
    expect(admit(review, CONFIG).allowed).toBe(true);
    const optOut = { ...object, metadata: { ...object.metadata, annotations: {} } };
    expect(
      admit(deepFreeze(request({ operation: 'UPDATE', object: optOut, oldObject: old })), CONFIG).allowed,
    ).toBe(true);
    expect(review).toEqual(copy);
  });

  it('holds a template with kubectl rollout restart’s stamp with the stamp, as it was written', () => {
    const old = stored();
    const object = structuredClone(old);
    const restartedAt = { 'kubectl.kubernetes.io/restartedAt': '2026-12-03T10:00:00Z' };
    const meta = object.spec.template.metadata as { annotations?: Record<string, string> };
    meta.annotations = { ...meta.annotations, ...restartedAt };
    object.spec.template.spec.containers = object.spec.template.spec.containers.map((c) => ({
      ...c,
      image: 'example/podinfo:next',
    }));
    const decision = admit(request({ operation: 'UPDATE', object, oldObject: old }), CONFIG);
    if (!decision.allowed) throw new Error(decision.denial.message);
    const held = decision.patch.find((op) => op.path === '/metadata/annotations/sluice.dev~1candidate');
    const candidate = decodeCandidate(
      held !== undefined && 'value' in held ? (held.value as string) : '',
    ) as {
      template: {
        metadata: { annotations: Record<string, string> };
        spec: { containers: { image: string }[] };
      };
    };
    expect(candidate.template.metadata.annotations).toMatchObject(restartedAt);
    expect(candidate.template.spec.containers.map((c) => c.image)).toEqual(['example/podinfo:next']);
  });

  it('denies a change too large to hold, and says so', () => {
    const old = stored();
    const object = structuredClone(old);
    const noise = { name: 'NOISE', value: randomBytes(180 * 1024).toString('base64') };
    object.spec.template.spec.containers = object.spec.template.spec.containers.map((c) => ({
      ...c,
      env: [noise],
    }));
    const decision = admit(request({ operation: 'UPDATE', object, oldObject: old }), CONFIG);
    expect(decision.allowed).toBe(false);
    if (!decision.allowed) {
      expect(decision.denial).toBeInstanceOf(CandidateTooLargeDenial);
      expect(decision.denial.message).toMatch(/KiB/);
    }
  });

  it('denies a change to a tracked Secret when it has no seal key', () => {
    const old = {
      metadata: { name: 's', namespace: 'shop', labels: { 'sluice.dev/tracked': 'true' } },
      data: { a: 'eA==' },
    };
    const object = { ...old, data: { a: 'eQ==' } };
    const decision = admit(request({ kind: gvk('Secret'), operation: 'UPDATE', object, oldObject: old }), {
      ...CONFIG,
      sealKey: undefined,
    });
    expect(decision.allowed || decision.denial).toBeInstanceOf(SealKeyMissingDenial);
  });

  it('holds a ConfigMap change in clear even without a seal key', () => {
    const old = {
      metadata: { name: 'c', namespace: 'shop', labels: { 'sluice.dev/tracked': 'true' } },
      data: { a: 'x' },
    };
    const decision = admit(
      request({
        kind: gvk('ConfigMap'),
        operation: 'UPDATE',
        object: { ...old, data: { a: 'y' } },
        oldObject: old,
      }),
      { ...CONFIG, sealKey: undefined },
    );
    expect(decision.allowed).toBe(true);
  });

  it.each([
    ['no spec', { metadata: {} }],
    ['containers not a list', { metadata: {}, spec: { template: { spec: { containers: 'no' } } } }],
    [
      'annotations not strings',
      { metadata: { annotations: { a: 1 } }, spec: { template: { spec: { containers: [] } } } },
    ],
    ['null', null],
  ])('calls an object with %s malformed', (_name, object) => {
    expect(() => admit(request({ operation: 'CREATE', object }), CONFIG)).toThrow(MalformedObjectError);
  });
});

describe('annotation checks', () => {
  const bad: Record<string, string> = {
    'sluice.dev/port': '70000',
    'sluice.dev/interval': '1s',
    'sluice.dev/step-weight': '0',
    'sluice.dev/step-weights': '10,5',
    'sluice.dev/max-weight': '101',
    'sluice.dev/threshold': 'x',
    'sluice.dev/objectives': 'latency<1',
    'sluice.dev/min-requests': '-1',
    'sluice.dev/progress-deadline': 'soon',
    'sluice.dev/match': 'traffic',
    'sluice.dev/segment': '=x',
    'sluice.dev/iterations': '0',
    'sluice.dev/canary-replicas': 'many',
    'sluice.dev/sticky': 'bad header',
    'sluice.dev/skip-analysis': 'yes',
    'sluice.dev/action': 'rollback',
    'sluice.dev/canry': 'enabled',
  };

  it.each(Object.entries(bad))('deny %s=%j on an opted-in Deployment, naming it', (key, value) => {
    const object = deployment();
    object.metadata.annotations = { ...object.metadata.annotations, [key]: value };
    const decision = admit(request({ operation: 'CREATE', object }), CONFIG);
    expect(decision.allowed).toBe(false);
    if (!decision.allowed) {
      expect(decision.denial).toBeInstanceOf(InvalidAnnotationsDenial);
      expect(decision.denial.message).toContain(key);
    }
  });
});
