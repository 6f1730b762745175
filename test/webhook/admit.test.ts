import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { admit, MalformedObjectError } from '../../webhook/admit.js';
import {
  CandidateTooLargeDenial,
  InvalidAnnotationsDenial,
  SealKeyMissingDenial,
  UnpauseDenial,
} from '../../webhook/denials.js';
import { applyPatch, CONFIG, CONTROLLER, deepFreeze, deployment, gvk, request } from './support.js';

function stored() {
  const object = deployment();
  const created = admit(request({ operation: 'CREATE', object }), CONFIG);
  if (!created.allowed) throw new Error('create denied');
  return applyPatch(object, created.patch);
}

/** The stored Deployment with its image changed, as a user's write would bring it. */
function withImage<T extends ReturnType<typeof stored>>(old: T, image = 'example/podinfo:next'): T {
  const object = structuredClone(old);
  object.spec.template.spec.containers = object.spec.template.spec.containers.map((c) => ({ ...c, image }));
  return object;
}

/** The stored Deployment after an image change was admitted: paused, holding the candidate. */
function held() {
  const old = stored();
  const changed = withImage(old);
  const decision = admit(request({ operation: 'UPDATE', object: changed, oldObject: old }), CONFIG);
  if (!decision.allowed) throw new Error(decision.denial.message);
  return applyPatch(changed, decision.patch);
}

describe('admission', () => {
  it('leaves the objects of the review as they came', () => {
    const old = stored();
    const object = withImage(old);
    const review = deepFreeze(request({ operation: 'UPDATE', object, oldObject: old }));
    const copy = structuredClone(review);
    expect(admit(review, CONFIG).allowed).toBe(true);
    const optOut = { ...object, metadata: { ...object.metadata, annotations: {} } };
    expect(
      admit(deepFreeze(request({ operation: 'UPDATE', object: optOut, oldObject: old })), CONFIG).allowed,
    ).toBe(true);
    expect(review).toEqual(copy);
  });

  it('keeps kubectl rollout restart’s stamp on a held template and stays paused, with the same candidate', () => {
    const before = held();
    const restarted = structuredClone(before);
    const meta = restarted.spec.template.metadata as { annotations?: Record<string, string> };
    meta.annotations = { ...meta.annotations, 'kubectl.kubernetes.io/restartedAt': '2026-12-07T10:00:00Z' };
    const second = admit(request({ operation: 'UPDATE', object: restarted, oldObject: before }), CONFIG);
    expect(second).toEqual({ allowed: true, patch: [] });
  });

  it('denies a ConfigMap change too large to hold, and says so', () => {
    const old = {
      metadata: { name: 'c', namespace: 'shop', labels: { 'sluice.dev/tracked': 'true' } },
      data: { a: 'x' },
    };
    const object = { ...old, data: { a: randomBytes(180 * 1024).toString('base64') } };
    const decision = admit(
      request({ kind: gvk('ConfigMap'), operation: 'UPDATE', object, oldObject: old }),
      CONFIG,
    );
    expect(decision.allowed).toBe(false);
    if (!decision.allowed) {
      expect(decision.denial).toBeInstanceOf(CandidateTooLargeDenial);
      expect(decision.denial.message).toMatch(/KiB/);
    }
  });

  it('admits a template change of any size as written: the spec holds it, not an annotation', () => {
    const old = stored();
    const object = structuredClone(old);
    const noise = { name: 'NOISE', value: randomBytes(180 * 1024).toString('base64') };
    // A copy per container: the review's JSON never shares an object between two places.
    object.spec.template.spec.containers = object.spec.template.spec.containers.map((c) => ({
      ...c,
      env: [{ ...noise }],
    }));
    const decision = admit(request({ operation: 'UPDATE', object, oldObject: old }), CONFIG);
    if (!decision.allowed) throw new Error(decision.denial.message);
    const result = applyPatch(object, decision.patch);
    expect((result.spec as { paused?: boolean }).paused).toBe(true);
    expect(result.spec.template.spec.containers[0]?.env).toEqual([noise]);
  });

  it('denies a resume while a candidate is held, naming promote and abort', () => {
    const before = held();
    const resumed = { ...before, spec: { ...before.spec, paused: false } };
    const decision = admit(request({ operation: 'UPDATE', object: resumed, oldObject: before }), CONFIG);
    expect(decision.allowed).toBe(false);
    if (!decision.allowed) {
      expect(decision.denial).toBeInstanceOf(UnpauseDenial);
      expect(decision.denial.message).toContain('kubectl sluice promote podinfo -n shop');
      expect(decision.denial.message).toContain('kubectl sluice abort podinfo -n shop');
    }
    const byController = admit(
      request({
        operation: 'UPDATE',
        object: resumed,
        oldObject: before,
        userInfo: { username: CONTROLLER },
      }),
      CONFIG,
    );
    expect(byController.allowed).toBe(false);
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
    'sluice.dev/webhooks': 'approve=http://gate.test/',
    'sluice.dev/webhook-timeout': 'soon',
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
