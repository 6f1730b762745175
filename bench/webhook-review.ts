import jsonPatch from 'fast-json-patch';
import { admit, type AdmitConfig } from '../webhook/admit.js';
import type { PatchOperation } from '../webhook/patch.js';
import type { AdmissionRequest } from '../webhook/review.js';

/**
 * The reviews the webhook benchmark sends: a Deployment as the API server hands it to a webhook, with what
 * a real one carries besides the spec (managedFields, kubectl's last-applied-configuration, status, a pod
 * template with an init container, env from Secrets and ConfigMaps, probes, volumes, affinity), so that
 * parsing, hashing and compressing cost what they cost in a cluster.
 */

export const BENCH_CONFIG: AdmitConfig = Object.freeze({
  controllerIdentity: 'system:serviceaccount:sluice-system:sluice-controller',
  proxy: {
    image: 'sluice:0.1.0',
    controlUrl: 'http://sluice-controller.sluice-system:8080',
    version: '0.1.0',
  },
  sealKey: undefined,
});

type Json = Record<string, unknown>;

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const IMAGE = 'example/checkout';

/** The Deployment as its author wrote it, before the API server or sluice added anything. */
function manifest(image: string, optedIn: boolean): Json {
  const labels = {
    'app.kubernetes.io/name': 'checkout',
    'app.kubernetes.io/part-of': 'shop',
    'app.kubernetes.io/component': 'api',
  };
  const env = (name: string, value: string) => ({ name, value });
  const fromSecret = (name: string, secret: string, key: string) => ({
    name,
    valueFrom: { secretKeyRef: { name: secret, key } },
  });
  const httpGet = (path: string) => ({ httpGet: { path, port: 'http', scheme: 'HTTP' } });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'checkout',
      namespace: 'shop',
      labels: { ...labels, 'app.kubernetes.io/managed-by': 'kustomize', team: 'payments' },
      annotations: {
        ...(optedIn ? { 'sluice.dev/canary': 'enabled' } : {}),
        'sluice.dev/step-weights': '5,10,25,50',
        'sluice.dev/objectives': 'error-rate<1%,p99-latency<300ms',
        'sluice.dev/match': 'traffic=test',
        'sluice.dev/interval': '30s',
        'owner.example.com/slack': '#payments-oncall',
      },
    },
    spec: {
      replicas: 4,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      selector: { matchLabels: labels },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: { ...labels, team: 'payments' },
          annotations: {
            'checksum/config': 'sha256:9f2c4e1b7d3a6f80c5e2b1d4a7f3c6e9b2d5a8f1c4e7b0d3a6f9c2e5b8d1a4f7',
          },
        },
        spec: {
          serviceAccountName: 'checkout',
          terminationGracePeriodSeconds: 45,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 10001,
            fsGroup: 10001,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          initContainers: [
            {
              name: 'migrate',
              image,
              command: ['/app/checkout', 'migrate', '--timeout=120s'],
              envFrom: [{ secretRef: { name: 'checkout-db' } }],
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } },
            },
          ],
          containers: [
            {
              name: 'checkout',
              image,
              imagePullPolicy: 'IfNotPresent',
              args: ['--listen=:8080', '--metrics=:9090', '--log-format=json'],
              ports: [
                { name: 'http', containerPort: 8080, protocol: 'TCP' },
                { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
              ],
              env: [
                env('LOG_LEVEL', 'info'),
                env('HTTP_READ_TIMEOUT', '10s'),
                env('PAYMENTS_URL', 'http://payments.shop.svc:8080'),
                env('INVENTORY_URL', 'http://inventory.shop.svc:8080'),
                env('CART_URL', 'http://cart.shop.svc:8080'),
                env('OTEL_EXPORTER_OTLP_ENDPOINT', 'http://otel-collector.observability:4317'),
                env('OTEL_SERVICE_NAME', 'checkout'),
                env('FEATURE_FLAGS', 'one-click,saved-cards,split-shipping'),
                fromSecret('DB_PASSWORD', 'checkout-db', 'password'),
                fromSecret('STRIPE_KEY', 'checkout-stripe', 'api-key'),
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                { name: 'GOMEMLIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.memory' } } },
              ],
              envFrom: [{ configMapRef: { name: 'checkout-config' } }],
              readinessProbe: { ...httpGet('/readyz'), periodSeconds: 5, failureThreshold: 3 },
              livenessProbe: { ...httpGet('/livez'), periodSeconds: 10, failureThreshold: 6 },
              startupProbe: { ...httpGet('/livez'), periodSeconds: 2, failureThreshold: 60 },
              resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              lifecycle: { preStop: { exec: { command: ['/bin/sleep', '5'] } } },
              volumeMounts: [
                { name: 'config', mountPath: '/etc/checkout', readOnly: true },
                { name: 'tls', mountPath: '/etc/tls', readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
              terminationMessagePath: '/dev/termination-log',
              terminationMessagePolicy: 'File',
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: 'checkout-config', defaultMode: 420 } },
            { name: 'tls', secret: { secretName: 'checkout-tls', defaultMode: 420 } },
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
          ],
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                {
                  weight: 100,
                  podAffinityTerm: {
                    topologyKey: 'kubernetes.io/hostname',
                    labelSelector: { matchLabels: labels },
                  },
                },
              ],
            },
          },
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'topology.kubernetes.io/zone',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: labels },
            },
          ],
          tolerations: [{ key: 'workload', operator: 'Equal', value: 'api', effect: 'NoSchedule' }],
        },
      },
    },
  };
}

/** managedFields' FieldsV1 for a value: `f:` per key, `k:{"name":…}` per named list item. */
function fieldsV1(value: unknown): Json {
  if (Array.isArray(value)) {
    return Object.fromEntries(
      value
        .filter((item): item is Json => typeof item === 'object' && item !== null && 'name' in item)
        .map((item) => [`k:${JSON.stringify({ name: item['name'] })}`, { '.': {}, ...fieldsV1(item) }]),
    );
  }
  if (typeof value !== 'object' || value === null) return {};
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [`f:${key}`, fieldsV1(v)]));
}

const status = {
  observedGeneration: 6,
  replicas: 4,
  updatedReplicas: 4,
  readyReplicas: 4,
  availableReplicas: 4,
  conditions: [
    {
      type: 'Available',
      status: 'True',
      lastUpdateTime: '2026-12-01T16:41:17Z',
      lastTransitionTime: '2026-11-30T09:13:20Z',
      reason: 'MinimumReplicasAvailable',
      message: 'Deployment has minimum availability.',
    },
    {
      type: 'Progressing',
      status: 'True',
      lastUpdateTime: '2026-12-01T16:41:17Z',
      lastTransitionTime: '2026-11-30T09:12:44Z',
      reason: 'NewReplicaSetAvailable',
      message: 'ReplicaSet "checkout-7d9f8b6c5d" has successfully progressed.',
    },
  ],
};

/** What the API server adds to a manifest: identity, kubectl's last-applied copy, managedFields, status. */
function stored(written: Json, generation: number): Json {
  const { apiVersion: _apiVersion, kind: _kind, ...fields } = written;
  const meta = written['metadata'] as { annotations: Record<string, string> };
  return {
    ...written,
    metadata: {
      ...meta,
      annotations: { ...meta.annotations, [LAST_APPLIED]: JSON.stringify(written) + '\n' },
      uid: '5b1f3c2e-8a4d-4f6b-9c7e-2d1a0b3c4e5f',
      resourceVersion: String(184_200 + generation),
      generation,
      creationTimestamp: '2026-11-30T09:12:44Z',
      managedFields: [
        {
          manager: 'kubectl-client-side-apply',
          operation: 'Update',
          apiVersion: 'apps/v1',
          time: '2026-12-01T16:40:02Z',
          fieldsType: 'FieldsV1',
          fieldsV1: fieldsV1(fields),
        },
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'apps/v1',
          time: '2026-12-01T16:41:17Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:status': fieldsV1(status) },
          subresource: 'status',
        },
      ],
    },
    status,
  };
}

function updateReview(object: Json, oldObject: Json, fieldManager: string): AdmissionRequest {
  const kind = { group: 'apps', version: 'v1', kind: 'Deployment' };
  return {
    uid: '0d6c1e7a-3b2f-4c9d-8e1a-5f4b3c2d1e0f',
    kind,
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    requestKind: kind,
    requestResource: { group: 'apps', version: 'v1', resource: 'deployments' },
    name: 'checkout',
    namespace: 'shop',
    operation: 'UPDATE',
    userInfo: { username: 'alice@example.com', groups: ['payments-devs', 'system:authenticated'] },
    object,
    oldObject,
    dryRun: false,
    options: { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager },
  };
}

/** The object the API server stores: the review's object with the webhook's patch applied. */
function applyPatch(document: Json, patch: readonly PatchOperation[]): Json {
  return jsonPatch.applyPatch(structuredClone(document), [...patch]).newDocument;
}

export interface BenchReviews {
  /** `kubectl annotate … sluice.dev/canary=enabled`: validation and proxy injection. */
  optIn: AdmissionRequest;
  /** `kubectl apply` of a new image to the opted-in Deployment: held, with revision hashing and gzip. */
  heldImageChange: AdmissionRequest;
}

export function benchReviews(config: AdmitConfig = BENCH_CONFIG): BenchReviews {
  const before = stored(manifest(`${IMAGE}:1.14.2`, false), 6);
  const annotated = structuredClone(before) as { metadata: { annotations: Record<string, string> } };
  annotated.metadata.annotations['sluice.dev/canary'] = 'enabled';
  const optIn = updateReview(annotated, before, 'kubectl-annotate');
  const optInAnswer = admit(optIn, config);
  if (!optInAnswer.allowed || !optInAnswer.patch.some((op) => op.path.startsWith('/spec/template/spec')))
    throw new Error('the opt-in review was not answered with an injection');

  // The API server stores what the webhook admitted; kubectl apply then sends that with the new image.
  const injected = applyPatch(annotated, optInAnswer.patch);
  const applied = structuredClone(injected) as {
    metadata: { annotations: Record<string, string> };
    spec: { template: { spec: { containers: { image: string }[]; initContainers: { image: string }[] } } };
  };
  const next = `${IMAGE}:1.15.0`;
  for (const c of [
    ...applied.spec.template.spec.containers.slice(0, 1),
    ...applied.spec.template.spec.initContainers,
  ])
    c.image = next;
  applied.metadata.annotations[LAST_APPLIED] = JSON.stringify(manifest(next, true)) + '\n';
  const heldImageChange = updateReview(applied, injected, 'kubectl-client-side-apply');
  const heldAnswer = admit(heldImageChange, config);
  if (!heldAnswer.allowed || !heldAnswer.patch.some((op) => op.path.includes('sluice.dev~1candidate')))
    throw new Error('the image change was not held as a candidate');
  return { optIn, heldImageChange };
}

/** The review as the API server POSTs it. */
export const reviewBody = (request: AdmissionRequest): string =>
  JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
