import type { KubeObject } from './rest.js';

/**
 * What a Deployment's pods say about why they do not run: pure readers of pod objects as the API server
 * sends them, so that the controller can roll a canary back with the kubelet's own reason (an image that
 * cannot be pulled, a container that keeps crashing) instead of only "not ready in time".
 */

export interface ContainerStateObject {
  waiting?: { reason?: string; message?: string };
  running?: { startedAt?: string };
  terminated?: { exitCode?: number; signal?: number; reason?: string; message?: string };
}

export interface ContainerStatusObject {
  name?: string;
  image?: string;
  ready?: boolean;
  started?: boolean;
  restartCount?: number;
  state?: ContainerStateObject;
  lastState?: ContainerStateObject;
  [key: string]: unknown;
}

export interface PodConditionObject {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  [key: string]: unknown;
}

export interface PodObject extends KubeObject {
  spec?: { nodeName?: string; [key: string]: unknown };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: PodConditionObject[];
    containerStatuses?: ContainerStatusObject[];
    initContainerStatuses?: ContainerStatusObject[];
    [key: string]: unknown;
  };
}

/**
 * Reasons a kubelet gives a waiting container that mean it cannot start as specified: retrying will not help
 * until something (image, config, command) changes. ContainerCreating and PodInitializing are only "not yet".
 */
export const START_FAILURE_REASONS: ReadonlySet<string> = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
  'ImageInspectError',
  'RegistryUnavailable',
  'SignatureValidationFailed',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
  'PreCreateHookError',
  'PreStartHookError',
  'PostStartHookError',
]);

/** Reasons of a terminated container whose process never ran (the runtime could not exec it). */
const TERMINATED_START_REASONS: ReadonlySet<string> = new Set(['StartError', 'ContainerCannotRun']);

/** Kubelet messages quote whole registry errors; a rollback message keeps the start of one. */
const MESSAGE_MAX = 200;

export interface PodStartFailure {
  pod: string;
  container: string;
  /** The container is one of `spec.initContainers`. */
  init: boolean;
  /** The kubelet's reason, e.g. `CrashLoopBackOff` or `ErrImagePull`. */
  reason: string;
  /** The kubelet's message for the state, if any (for CrashLoopBackOff only a back-off notice). */
  message?: string;
  /** The exit code of the last run that ended, for a container that ran and stopped. */
  lastExitCode?: number;
  /** The reason of the last run that ended (`Error`, `OOMKilled` …). */
  lastReason?: string;
  restartCount: number;
}

/** Every container of these pods that cannot start, pods in the order given, init containers first. */
export function podStartFailures(pods: readonly PodObject[]): PodStartFailure[] {
  const out: PodStartFailure[] = [];
  for (const pod of pods) {
    if (pod.metadata?.['deletionTimestamp'] !== undefined) continue;
    const name = pod.metadata?.name ?? '';
    const statuses: [ContainerStatusObject, boolean][] = [
      ...(pod.status?.initContainerStatuses ?? []).map((s): [ContainerStatusObject, boolean] => [s, true]),
      ...(pod.status?.containerStatuses ?? []).map((s): [ContainerStatusObject, boolean] => [s, false]),
    ];
    for (const [status, init] of statuses) {
      const failure = startFailureOf(name, status, init);
      if (failure) out.push(failure);
    }
  }
  return out;
}

function startFailureOf(pod: string, status: ContainerStatusObject, init: boolean): PodStartFailure | null {
  const waiting = status.state?.waiting;
  const terminated = status.state?.terminated;
  let reason: string;
  let message: string | undefined;
  if (waiting?.reason !== undefined && START_FAILURE_REASONS.has(waiting.reason)) {
    ({ reason, message } = waiting);
  } else if (terminated?.reason !== undefined && TERMINATED_START_REASONS.has(terminated.reason)) {
    ({ reason, message } = terminated);
  } else {
    return null;
  }
  const last = status.lastState?.terminated;
  return {
    pod,
    container: status.name ?? '',
    init,
    reason,
    ...(message !== undefined && message !== '' && { message }),
    ...(last?.exitCode !== undefined && { lastExitCode: last.exitCode }),
    ...(last?.reason !== undefined && last.reason !== '' && { lastReason: last.reason }),
    restartCount: status.restartCount ?? 0,
  };
}

/**
 * One line for a rollback message, e.g.
 * `pod web-canary-7d9c-x2k: container web CrashLoopBackOff, last exit code 1 (restarted 3 times)`.
 */
export function describeStartFailure(failure: PodStartFailure): string {
  const kind = failure.init ? 'init container' : 'container';
  let text = `pod ${failure.pod}: ${kind} ${failure.container} ${failure.reason}`;
  if (failure.lastExitCode !== undefined) {
    text += `, last exit code ${failure.lastExitCode}`;
    // "Error" and "Completed" say no more than the code does; OOMKilled and the like do.
    if (failure.lastReason !== undefined && !['Error', 'Completed'].includes(failure.lastReason)) {
      text += ` (${failure.lastReason})`;
    }
  } else if (failure.message !== undefined) {
    text += `: ${shorten(failure.message)}`;
  }
  if (failure.restartCount > 0) {
    text += ` (restarted ${failure.restartCount} ${failure.restartCount === 1 ? 'time' : 'times'})`;
  }
  return text;
}

/**
 * Why these pods cannot start, in one line naming the first pod and container that cannot (and how many
 * more pods are alike), or null when none is stuck that way. A pod being deleted is not read: it is going
 * away. Between two restarts a crash-looping container is briefly running or terminated; it reads as null
 * then, so a caller deciding on a rollback reads again rather than trusting one null.
 */
export function podStartFailure(pods: readonly PodObject[]): string | null {
  const failures = podStartFailures(pods);
  const first = failures[0];
  if (first === undefined) return null;
  const others = new Set(failures.map((f) => f.pod));
  others.delete(first.pod);
  const more = others.size === 0 ? '' : ` (and ${others.size} more ${others.size === 1 ? 'pod' : 'pods'})`;
  return `${describeStartFailure(first)}${more}`;
}

export interface NotReadyPod {
  pod: string;
  /** The reason of the condition that says why, e.g. `ContainersNotReady` or `Unschedulable`. */
  reason?: string;
  /** Its message, e.g. `containers with unready status: [web]`. */
  message?: string;
  /** When the pod last became not ready (or was created, before any condition). */
  since?: string;
}

/**
 * The pods whose Ready condition is not True, with what their conditions say: Ready's own reason and
 * message, or, before a kubelet has set Ready, the first condition that is False (PodScheduled, when no node
 * fits). Pods being deleted and pods that have finished are left out.
 */
export function podsNotReady(pods: readonly PodObject[]): NotReadyPod[] {
  const out: NotReadyPod[] = [];
  for (const pod of pods) {
    if (pod.metadata?.['deletionTimestamp'] !== undefined) continue;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    const conditions = pod.status?.conditions ?? [];
    const ready = conditions.find((c) => c.type === 'Ready');
    if (ready?.status === 'True') continue;
    const why = ready ?? conditions.find((c) => c.status === 'False');
    const since = ready?.lastTransitionTime ?? pod.metadata?.['creationTimestamp'];
    out.push({
      pod: pod.metadata?.name ?? '',
      ...(nonEmpty(why?.reason) && { reason: why.reason }),
      ...(nonEmpty(why?.message) && { message: why.message }),
      ...(typeof since === 'string' && { since }),
    });
  }
  return out;
}

/** One line for a "never ready" message: `pod web-canary-x2k: containers with unready status: [web]; …`. */
export function describeNotReady(notReady: readonly NotReadyPod[]): string {
  return notReady
    .map((p) => {
      const why = p.message ?? p.reason;
      return why === undefined ? `pod ${p.pod} not ready` : `pod ${p.pod}: ${shorten(why)}`;
    })
    .join('; ');
}

const nonEmpty = (text: string | undefined): text is string => text !== undefined && text !== '';

function shorten(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= MESSAGE_MAX ? oneLine : `${oneLine.slice(0, MESSAGE_MAX - 1)}…`;
}
