import { parseSealKey } from '../../src/candidate.js';
import type { AdmitConfig } from '../../webhook/admit.js';
import type { PatchOperation } from '../../webhook/patch.js';
import type { AdmissionRequest } from '../../webhook/review.js';

export const CONTROLLER = 'system:serviceaccount:sluice-system:sluice-controller';

export const SEAL_KEY = parseSealKey(
  Buffer.from('0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'),
);

export const CONFIG: AdmitConfig = Object.freeze({
  controllerIdentity: CONTROLLER,
  proxy: {
    image: 'sluice:test',
    controlUrl: 'http://sluice-controller.sluice-system:8080',
    version: '0.1.0',
  },
  sealKey: SEAL_KEY,
});

/** A small opted-in Deployment, as a user would write it. */
export const deployment = (env: { name: string; value: string }[] = []) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'podinfo', namespace: 'shop', annotations: { 'sluice.dev/canary': 'enabled' } },
  spec: {
    template: {
      metadata: { labels: { app: 'podinfo' } },
      spec: {
        containers: [
          { name: 'podinfo', image: 'example/podinfo', env, ports: [{ name: 'http', containerPort: 9898 }] },
        ],
      },
    },
  },
});

/** The value, frozen at every level, so that a pure function that writes to its argument throws. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

const GVK: Record<string, AdmissionRequest['kind']> = {
  Deployment: { group: 'apps', version: 'v1', kind: 'Deployment' },
  ConfigMap: { group: '', version: 'v1', kind: 'ConfigMap' },
  Secret: { group: '', version: 'v1', kind: 'Secret' },
  Service: { group: '', version: 'v1', kind: 'Service' },
};

export function gvk(kind: string): AdmissionRequest['kind'] {
  return GVK[kind] ?? { group: 'example.com', version: 'v1', kind };
}

export function request(
  fields: Partial<AdmissionRequest> & Pick<AdmissionRequest, 'operation'>,
): AdmissionRequest {
  return {
    uid: 'c0ffee00-0000-4000-8000-000000000001',
    kind: gvk('Deployment'),
    userInfo: { username: 'alice' },
    ...fields,
  };
}

/** RFC 6902 for the operations the webhook emits; a test's own, so that patches are checked by applying them. */
export function applyPatch<T>(document: T, patch: readonly PatchOperation[]): T {
  let root: unknown = structuredClone(document);
  for (const op of patch) {
    const tokens =
      op.path === ''
        ? []
        : op.path
            .slice(1)
            .split('/')
            .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop();
    if (last === undefined) {
      if (op.op === 'remove') throw new Error('cannot remove the root');
      root = structuredClone(op.value);
      continue;
    }
    let parent = root as Record<string, unknown>;
    for (const token of tokens) {
      const next = parent[token];
      if (next === null || typeof next !== 'object') throw new Error(`path ${op.path} does not exist`);
      parent = next as Record<string, unknown>;
    }
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (op.op === 'add') parent.splice(index, 0, structuredClone(op.value));
      else if (op.op === 'replace') parent[index] = structuredClone(op.value);
      else parent.splice(index, 1);
    } else if (op.op === 'remove') {
      if (!Object.hasOwn(parent, last)) throw new Error(`path ${op.path} does not exist`);
      Reflect.deleteProperty(parent, last);
    } else {
      if (op.op === 'replace' && !Object.hasOwn(parent, last))
        throw new Error(`path ${op.path} does not exist`);
      parent[last] = structuredClone(op.value);
    }
  }
  return root as T;
}
