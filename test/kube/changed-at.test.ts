import { describe, expect, it } from 'vitest';
import { templateChangedAt } from '../../src/kube/changed-at.js';

const entry = (manager: string, time: string, template: boolean) => ({
  manager,
  operation: 'Update',
  time,
  fieldsV1: { 'f:spec': template ? { 'f:template': { 'f:spec': {} } } : { 'f:paused': {} } },
});

describe('when the pod template was changed', () => {
  it("is the newest write of a client that owns template fields, sluice's own left out", () => {
    const deployment = {
      metadata: {
        managedFields: [
          entry('kubectl-client-side-apply', '2026-12-07T07:00:00Z', true),
          entry('kubectl-set', '2026-12-07T08:00:00Z', true),
          entry('kubectl-scale', '2026-12-07T09:00:00Z', false),
          entry('sluice-controller', '2026-12-07T10:00:00Z', true),
        ],
      },
    };
    expect(templateChangedAt(deployment)).toBe(Date.parse('2026-12-07T08:00:00Z'));
  });

  it('is unknown without managedFields', () => {
    expect(templateChangedAt({ metadata: {} })).toBeNull();
  });
});
