import { stringify } from 'yaml';

// How kwok plays the Pods of the end-to-end tier: kwok's `--config` with Stage objects (kwok.x-k8s.io/v1alpha1).
// Given any Pod stage, kwok drops all of its default Pod stages, so these replace them whole: a Pod is Ready
// and Running as soon as it is scheduled and deleted as soon as it is asked to be (as kwok's defaults do),
// except a Pod with a container whose image tag names a way to fail. Then that container, at any index, is
// played as a kubelet reports one that cannot start, and the Pod's other containers run and are ready.
//
// kwok picks at random among the stages that match a Pod, so their selectors exclude one another (only a Pod
// with both an unpullable and a crash-looping container matches two, which apply in either order), and each
// leaves the Pod in a state that no stage matches, except the crash loop, which counts restarts on.

/** Image tags that make kwok play a container that cannot start, e.g. `registry.test/web:crashloop`. */
export const FAILING_TAGS = ['unpullable', 'crashloop', 'never-ready'] as const;
export type FailingTag = (typeof FAILING_TAGS)[number];

/** An image that kwok plays as failing in the given way. */
export const failingImage = (repository: string, tag: FailingTag): string => `${repository}:${tag}`;

/** How long after ErrImagePull the container shows ImagePullBackOff, as a kubelet's next pull would. */
export const IMAGE_PULL_BACKOFF_AFTER_MS = 3_000;
/** How often a crash-looping container "restarts" (restartCount + 1); a kubelet backs off from 10 s to 5 min. */
export const CRASHLOOP_RESTART_EVERY_MS = 5_000;
/** The exit code of every run of a crash-looping container. */
export const CRASHLOOP_EXIT_CODE = 1;

const failingTagPattern = `:(${FAILING_TAGS.join('|')})$`;

// jq over the Pod object: the selectors' keys. A key's results match `In` when any of them is in `values`.
const notDeleted = { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' };
const notStarted = { key: '.status.podIP', operator: 'DoesNotExist' };
const noContainerFails = {
  key: `.spec.containers[].image | test(${JSON.stringify(failingTagPattern)})`,
  operator: 'NotIn',
  values: ['true'],
};
const anyContainerWaiting = (reason: string) => ({
  key: '.status.containerStatuses[].state.waiting.reason',
  operator: 'In',
  values: [reason],
});

// Go templates (with sprig's functions) rendered over the Pod object; each renders YAML.

/** Conditions, IPs and times of a Pod that kwok has just "started"; `$unready` names the unready containers. */
const startedPodStatus = `
{{ $now := Now }}
{{ $pod := . }}
{{ $unready := list }}
{{ $pulling := false }}
{{ range .spec.containers }}
{{ if regexMatch ${JSON.stringify(failingTagPattern)} .image }}{{ $unready = append $unready .name }}{{ end }}
{{ if hasSuffix ":unpullable" .image }}{{ $pulling = true }}{{ end }}
{{ end }}
{{ $notReady := printf "containers with unready status: [%s]" (join " " $unready) }}
conditions:
- type: PodReadyToStartContainers
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
- type: Initialized
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ range list "ContainersReady" "Ready" }}
- type: {{ . }}
  lastTransitionTime: {{ $now | Quote }}
{{ if $unready }}
  status: "False"
  reason: ContainersNotReady
  message: {{ $notReady | Quote }}
{{ else }}
  status: "True"
{{ end }}
{{ end }}
{{ range .spec.readinessGates }}
- type: {{ .conditionType | Quote }}
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
{{ end }}
initContainerStatuses:
{{ range .spec.initContainers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: ""
  ready: true
  restartCount: 0
{{ if eq (default "" .restartPolicy) "Always" }}
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ else }}
  started: false
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName (or .spec.hostNetwork false) (or .metadata.uid "") (or .metadata.name "") (or .metadata.namespace "") | Quote }}
phase: {{ if $pulling }}Pending{{ else }}Running{{ end }}
startTime: {{ $now | Quote }}
`;

/** Each container's status: running and ready, or failing as its image's tag says (after `startedPodStatus`). */
const containerStatuses = `
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: ""
{{ if hasSuffix ":unpullable" .image }}
  ready: false
  started: false
  restartCount: 0
  state:
    waiting:
      reason: ErrImagePull
      message: {{ printf "failed to pull image %q: manifest unknown: no such tag %q" .image "unpullable" | Quote }}
{{ else if hasSuffix ":crashloop" .image }}
  ready: false
  started: false
  restartCount: 1
  lastState:
    terminated:
      exitCode: ${CRASHLOOP_EXIT_CODE}
      reason: Error
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
  state:
    waiting:
      reason: CrashLoopBackOff
      message: {{ printf "back-off 10s restarting failed container=%s pod=%s_%s(%s)" .name $pod.metadata.name $pod.metadata.namespace $pod.metadata.uid | Quote }}
{{ else }}
  ready: {{ not (hasSuffix ":never-ready" .image) }}
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
{{ end }}
`;

/** JSON patch ops for each container waiting with `reason`, at its index in containerStatuses. */
const perWaitingContainer = (reason: string, ops: string): string => `
{{ $now := Now }}
{{ range $i, $s := .status.containerStatuses }}
{{ if eq (dig "state" "waiting" "reason" "" $s) "${reason}" }}
${ops}
{{ end }}
{{ end }}
`;

const pod = { apiGroup: 'v1', kind: 'Pod' };
const statusPatch = (template: string) => ({ subresource: 'status', root: 'status', template });
const jsonStatusPatch = (template: string) => ({ subresource: 'status', type: 'json', template });

function stage(name: string, spec: Record<string, unknown>): object {
  return {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'Stage',
    metadata: { name },
    spec: { resourceRef: pod, ...spec },
  };
}

/** The Stage objects, in the order kwok is given them. */
export function kwokPodStages(): object[] {
  return [
    // Every container at once, as kwok's defaults do; a failing one as its tag says, the others as usual.
    stage('pod-start', {
      selector: { matchExpressions: [notDeleted, notStarted] },
      next: { patches: [statusPatch(`${startedPodStatus}\n${containerStatuses}`)] },
    }),
    stage('pod-image-pull-backoff', {
      selector: { matchExpressions: [notDeleted, anyContainerWaiting('ErrImagePull')] },
      delay: { durationMilliseconds: IMAGE_PULL_BACKOFF_AFTER_MS },
      next: {
        patches: [
          jsonStatusPatch(
            perWaitingContainer(
              'ErrImagePull',
              `
- op: replace
  path: {{ printf "/status/containerStatuses/%d/state" $i | Quote }}
  value:
    waiting:
      reason: ImagePullBackOff
      message: {{ printf "Back-off pulling image %q" $s.image | Quote }}`,
            ),
          ),
        ],
      },
    }),
    stage('pod-crashloop-restart', {
      selector: { matchExpressions: [notDeleted, anyContainerWaiting('CrashLoopBackOff')] },
      delay: { durationMilliseconds: CRASHLOOP_RESTART_EVERY_MS },
      next: {
        patches: [
          jsonStatusPatch(
            perWaitingContainer(
              'CrashLoopBackOff',
              `
- op: replace
  path: {{ printf "/status/containerStatuses/%d/restartCount" $i | Quote }}
  value: {{ add1 $s.restartCount }}
- op: replace
  path: {{ printf "/status/containerStatuses/%d/lastState" $i | Quote }}
  value:
    terminated:
      exitCode: ${CRASHLOOP_EXIT_CODE}
      reason: Error
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}`,
            ),
          ),
        ],
      },
    }),
    // A Job's Pods finish at once, as with kwok's defaults; a failing one does not.
    stage('pod-complete', {
      selector: {
        matchExpressions: [
          notDeleted,
          { key: '.status.phase', operator: 'In', values: ['Running'] },
          { key: '.metadata.ownerReferences[].kind', operator: 'In', values: ['Job'] },
          noContainerFails,
        ],
      },
      next: {
        patches: [
          statusPatch(`
{{ $now := Now }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  imageID: ""
  ready: false
  started: false
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
phase: Succeeded
`),
        ],
      },
    }),
    // No kubelet holds a deleted Pod back: its finalizers are dropped and it goes at once.
    stage('pod-delete', {
      selector: { matchExpressions: [{ key: '.metadata.deletionTimestamp', operator: 'Exists' }] },
      next: { finalizers: { empty: true }, delete: true },
    }),
  ];
}

/** kwok's `--config` file: the stages as YAML documents. */
export function kwokConfig(): string {
  return kwokPodStages()
    .map((doc) => stringify(doc, { lineWidth: 0 }))
    .join('---\n');
}
