import { describe, expect, it } from 'vitest';
import { releaseRevision, type ConfigRevision } from '../src/revision.js';

const TEMPLATE = '1a2b3c4d5e';
const settings: ConfigRevision = { kind: 'ConfigMap', name: 'podinfo-config', revision: '0f1e2d3c4b' };
const token: ConfigRevision = { kind: 'Secret', name: 'podinfo-token', revision: '9a8b7c6d5e' };
const flags: ConfigRevision = { kind: 'ConfigMap', name: 'feature-flags', revision: '5566778899' };

describe('the revision of a release', () => {
  it('is the template revision when the template reads no tracked config', () => {
    expect(releaseRevision(TEMPLATE, [])).toBe(TEMPLATE);
  });

  it('is a revision of its own, 10 hex characters, once configs are tracked', () => {
    const composite = releaseRevision(TEMPLATE, [settings]);
    expect(composite).toMatch(/^[0-9a-f]{10}$/);
    expect(composite).not.toBe(TEMPLATE);
  });

  it('does not depend on the order the configs come in', () => {
    const expected = releaseRevision(TEMPLATE, [settings, token, flags]);
    expect(releaseRevision(TEMPLATE, [token, flags, settings])).toBe(expected);
    expect(releaseRevision(TEMPLATE, [flags, settings, token])).toBe(expected);
  });

  it('changes when the revision of one config changes', () => {
    const before = releaseRevision(TEMPLATE, [settings, token]);
    expect(releaseRevision(TEMPLATE, [{ ...settings, revision: '0f1e2d3c4c' }, token])).not.toBe(before);
    expect(releaseRevision(TEMPLATE, [settings, { ...token, revision: '9a8b7c6d5f' }])).not.toBe(before);
  });

  it('changes when the template revision changes', () => {
    expect(releaseRevision('1a2b3c4d5f', [settings])).not.toBe(releaseRevision(TEMPLATE, [settings]));
  });

  it('tells a ConfigMap from a Secret of the same name', () => {
    expect(releaseRevision(TEMPLATE, [{ ...settings, kind: 'Secret' }])).not.toBe(
      releaseRevision(TEMPLATE, [settings]),
    );
  });

  it('changes when a config is tracked or no longer tracked', () => {
    expect(releaseRevision(TEMPLATE, [settings, token])).not.toBe(releaseRevision(TEMPLATE, [settings]));
  });

  it('does not change the list it is given', () => {
    const configs = [token, settings];
    releaseRevision(TEMPLATE, configs);
    expect(configs).toEqual([token, settings]);
  });
});
