import type { NativeSidecarPolicy } from './admit.js';

/**
 * Where the webhook puts the proxy by default (`--native-sidecar`): `true` and `false` say it; `auto` asks
 * the API server's version once, at start. Native sidecars (init containers with `restartPolicy: Always`)
 * are on by default from Kubernetes 1.29 (beta; stable in 1.33). On an older API server the field is
 * dropped, and the proxy would become an init container that never ends: the pod would never start.
 */

export const NATIVE_SIDECAR_MODES = ['auto', 'true', 'false'] as const;
export type NativeSidecarMode = (typeof NATIVE_SIDECAR_MODES)[number];

export const NATIVE_SIDECAR_SINCE = { major: 1, minor: 29 } as const;

/** The parts of the API server's `/version` that name its release. */
export interface ServerVersion {
  major: string;
  minor: string;
  gitVersion: string;
}

/** `v1.36.0` → 1.36, also from `major`/`minor` as some providers write them (`"29+"`); undefined when neither reads. */
export function releaseOf(version: ServerVersion): { major: number; minor: number } | undefined {
  const git = /^v?(\d+)\.(\d+)/.exec(version.gitVersion);
  const major = Number(git?.[1] ?? /^\d+/.exec(version.major)?.[0]);
  const minor = Number(git?.[2] ?? /^\d+/.exec(version.minor)?.[0]);
  return Number.isInteger(major) && Number.isInteger(minor) ? { major, minor } : undefined;
}

/**
 * The policy admission follows. `auto` without a version (a standalone webhook, which asks no cluster) and
 * `auto` with a version it cannot read keep the ordinary container, which works everywhere.
 */
export function nativeSidecarPolicy(
  mode: NativeSidecarMode,
  version: ServerVersion | undefined,
): NativeSidecarPolicy {
  if (mode !== 'auto') return { byDefault: mode === 'true' };
  const release = version === undefined ? undefined : releaseOf(version);
  if (version === undefined || release === undefined) return { byDefault: false };
  const supported =
    release.major > NATIVE_SIDECAR_SINCE.major ||
    (release.major === NATIVE_SIDECAR_SINCE.major && release.minor >= NATIVE_SIDECAR_SINCE.minor);
  return supported ? { byDefault: true } : { byDefault: false, unsupportedVersion: version.gitVersion };
}
