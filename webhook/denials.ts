import type { InjectionError } from '../src/injection/inject.js';

/**
 * Why the webhook refuses a change. Each denial is a class with a stable `code`; its message names the object,
 * the rule it breaks and the fix, because it is what `kubectl` prints to the person who made the change.
 */

export interface ObjectRef {
  kind: string;
  namespace: string | undefined;
  name: string;
}

export function describeObject(ref: ObjectRef): string {
  const where = ref.namespace === undefined || ref.namespace === '' ? '' : ` in namespace ${ref.namespace}`;
  return `${ref.kind} ${ref.name}${where}`;
}

/** `reason` and `status` are those of the Kubernetes Status the API server returns to the client. */
export abstract class Denial extends Error {
  abstract readonly code: string;
  abstract readonly reason: 'Invalid' | 'Forbidden' | 'RequestEntityTooLarge';
  abstract readonly status: number;
  constructor(ref: ObjectRef, rule: string, fix: string, options?: ErrorOptions) {
    super(`sluice denies the change to ${describeObject(ref)}: ${rule}. ${fix}`, options);
    this.name = new.target.name;
  }
}

export class InvalidAnnotationsDenial extends Denial {
  readonly code = 'InvalidAnnotations';
  readonly reason = 'Invalid';
  readonly status = 422;
  constructor(ref: ObjectRef, problems: readonly string[], options?: ErrorOptions) {
    super(
      ref,
      `invalid sluice.dev annotations: ${problems.join('; ')}`,
      'Fix the values named above.',
      options,
    );
  }
}

export class ForgedPromotionDenial extends Denial {
  readonly code = 'ForgedPromotion';
  readonly reason = 'Forbidden';
  readonly status = 403;
  constructor(ref: ObjectRef, user: string) {
    super(
      ref,
      `only the sluice controller may set sluice.dev/promote, and this request comes from "${user}"`,
      'To release without analysis, set sluice.dev/skip-analysis=true; to promote the running canary now, run `sluice promote`.',
    );
  }
}

export class PromotionMismatchDenial extends Denial {
  readonly code = 'PromotionMismatch';
  readonly reason = 'Invalid';
  readonly status = 422;
  constructor(ref: ObjectRef, marker: string, actual: string) {
    super(
      ref,
      `sluice.dev/promote names revision ${marker} but the object carries revision ${actual}`,
      'Promote with the candidate exactly as it was held.',
    );
  }
}

export class CandidateTooLargeDenial extends Denial {
  readonly code = 'CandidateTooLarge';
  readonly reason = 'RequestEntityTooLarge';
  readonly status = 413;
  constructor(ref: ObjectRef, detail: string, options?: ErrorOptions) {
    super(
      ref,
      `the change cannot be held as a canary: ${detail}`,
      'Make the change smaller (move large data out of the object), or opt out with sluice.dev/canary=disabled to apply it directly.',
      options,
    );
  }
}

export class NoAppPortDenial extends Denial {
  readonly code = 'NoAppPort';
  readonly reason = 'Invalid';
  readonly status = 422;
  constructor(ref: ObjectRef, detail: string, options?: ErrorOptions) {
    super(
      ref,
      `there is no container port to put the proxy in front of (${detail})`,
      'Declare the app port in the container, or set sluice.dev/port to its name or number.',
      options,
    );
  }
}

export class PortConflictDenial extends Denial {
  readonly code = 'PortConflict';
  readonly reason = 'Invalid';
  readonly status = 422;
  constructor(ref: ObjectRef, detail: string, options?: ErrorOptions) {
    super(
      ref,
      `the proxy cannot be injected: ${detail}`,
      'Rename or move that port in the pod template.',
      options,
    );
  }
}

/** The denial of a change whose pod template the proxy cannot go into. */
export function injectionDenial(err: InjectionError): Denial {
  switch (err.code) {
    case 'NoAppPort':
      return new NoAppPortDenial(err.ref, err.detail, { cause: err });
    case 'PortConflict':
      return new PortConflictDenial(err.ref, err.detail, { cause: err });
  }
}

export class SealKeyMissingDenial extends Denial {
  readonly code = 'SealKeyMissing';
  readonly reason = 'Forbidden';
  readonly status = 403;
  constructor(ref: ObjectRef) {
    super(
      ref,
      'a change to a tracked Secret is held sealed, and this webhook has no seal key',
      'Start the webhook with --seal-key-file (the key Secret in sluice-system), or remove the sluice.dev/tracked label to change the Secret directly.',
    );
  }
}

export class UnpauseDenial extends Denial {
  readonly code = 'UnpauseWhileHeld';
  readonly reason = 'Forbidden';
  readonly status = 403;
  constructor(ref: ObjectRef, candidate: string) {
    const target = `${ref.name}${ref.namespace === undefined || ref.namespace === '' ? '' : ` -n ${ref.namespace}`}`;
    super(
      ref,
      `sluice paused it to run revision ${candidate} as a canary (sluice.dev/paused-by), and only sluice unpauses it: a resume now would roll the untested revision out to every pod`,
      `To release it now, run \`kubectl sluice promote ${target}\`; to stop the release, run \`kubectl sluice abort ${target}\`, then set the template back (for example the old image) and sluice unpauses the Deployment itself.`,
    );
  }
}

export class TlsAppPortDenial extends Denial {
  readonly code = 'TlsAppPort';
  readonly reason = 'Invalid';
  readonly status = 422;
  constructor(ref: ObjectRef, annotation: string, value: string) {
    super(
      ref,
      `${annotation} is "${value}", so the app's port serves TLS, and the sluice proxy cannot split traffic by header or weight inside TLS it does not terminate`,
      `Serve cleartext (http, h2c or grpc) on the app's port inside the pod, behind the proxy, with TLS ended in front of the pod, and set ${annotation} to that protocol; or do not opt this Deployment in (remove sluice.dev/canary).`,
    );
  }
}

export class NativeSidecarUnsupportedDenial extends Denial {
  readonly code = 'NativeSidecarUnsupported';
  readonly reason = 'Invalid';
  readonly status = 422;
  constructor(ref: ObjectRef, annotation: string, version: string) {
    super(
      ref,
      `${annotation} is "true", and this cluster's API server is ${version}: native sidecars (init containers with restartPolicy: Always) need Kubernetes 1.29 or later`,
      `Remove ${annotation} or set it to "false"; the proxy then runs as an ordinary container of the pod.`,
    );
  }
}

export class TemplatesNeedPrometheusDenial extends Denial {
  readonly code = 'TemplatesNeedPrometheus';
  readonly reason = 'Invalid';
  readonly status = 422;
  constructor(ref: ObjectRef, annotation: string, templates: readonly string[]) {
    super(
      ref,
      `${annotation} names the metric template${templates.length === 1 ? '' : 's'} ${templates.join(', ')}, which ${templates.length === 1 ? 'is' : 'are'} PromQL, and this sluice reads metrics from the proxies directly (--metrics-provider direct), without Prometheus`,
      `Remove ${templates.join(', ')} from ${annotation} (the built-in metrics, also relative to the primary such as p99-latency<=primary*1.2, work without Prometheus), or run sluice with Prometheus: --metrics-provider prometheus on the controller and the webhook (chart: metrics.provider=prometheus).`,
    );
  }
}
