import { describe, expect, it } from 'vitest';
import { nativeSidecarPolicy, releaseOf, type ServerVersion } from '../../webhook/native-sidecar.js';

const version = (gitVersion: string, major = '', minor = ''): ServerVersion => ({ gitVersion, major, minor });

describe('where the webhook puts the proxy by default', () => {
  it('reads the release from the git version, else from major and minor', () => {
    expect(releaseOf(version('v1.36.0', '1', '36'))).toEqual({ major: 1, minor: 36 });
    expect(releaseOf(version('v1.29.4-gke.1043002', '1', '29+'))).toEqual({ major: 1, minor: 29 });
    expect(releaseOf(version('', '1', '30+'))).toEqual({ major: 1, minor: 30 });
    expect(releaseOf(version('unknown', 'x', ''))).toBeUndefined();
  });

  it('asks for native sidecars on auto from Kubernetes 1.29, and refuses them by annotation below', () => {
    expect(nativeSidecarPolicy('auto', version('v1.29.0'))).toEqual({ byDefault: true });
    expect(nativeSidecarPolicy('auto', version('v1.36.1'))).toEqual({ byDefault: true });
    expect(nativeSidecarPolicy('auto', version('v2.0.0'))).toEqual({ byDefault: true });
    expect(nativeSidecarPolicy('auto', version('v1.28.9'))).toEqual({
      byDefault: false,
      unsupportedVersion: 'v1.28.9',
    });
  });

  it('keeps the ordinary container on auto without a version it can read', () => {
    expect(nativeSidecarPolicy('auto', undefined)).toEqual({ byDefault: false });
    expect(nativeSidecarPolicy('auto', version('dev'))).toEqual({ byDefault: false });
  });

  it('does as told on true and false, whatever the version', () => {
    expect(nativeSidecarPolicy('true', version('v1.28.0'))).toEqual({ byDefault: true });
    expect(nativeSidecarPolicy('false', version('v1.36.0'))).toEqual({ byDefault: false });
  });
});
