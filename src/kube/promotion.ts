import { ANNOTATIONS, MANAGED_ANNOTATIONS, type Action } from '../annotations.js';
import { RESTARTED_AT } from '../injection/shape.js';
import { escapePointer } from '../json-pointer.js';
import { configPlural, type DeploymentObject } from './objects.js';
import { heldData, type ReleaseView } from './release-view.js';
import { apiPath, isConflict } from './rest.js';
import type { ReleaseTarget } from './world.js';

/** The writes to the primary Deployment and its configs: promoting the candidate, clearing a taken action. */

const PROMOTE = MANAGED_ANNOTATIONS.promote;

const deploymentPath = (target: ReleaseTarget): string =>
  apiPath('apps/v1', 'deployments', target.namespace, target.name);

/**
 * Writes the candidate into the primary with the promotion marker, configs first, so that the pods the
 * new template starts read the new data. A change of data alone restarts the primary's pods.
 */
export async function promote(target: ReleaseTarget, view: ReleaseView, now: number): Promise<void> {
  const { world, namespace } = target;
  for (const held of view.configs) {
    if (held.candidate === null) continue;
    const data = heldData(held, world.sealKey, target);
    // A JSON patch, not a merge patch: a key the candidate dropped must go, and a concurrent edit must fail.
    const patch: unknown[] = [
      { op: 'test', path: '/metadata/resourceVersion', value: held.object.metadata?.resourceVersion },
      { op: 'add', path: '/data', value: data.data },
      {
        op: 'add',
        path: `/metadata/annotations/${escapePointer(PROMOTE)}`,
        value: held.candidate.revision,
      },
    ];
    if (held.ref.kind === 'ConfigMap') patch.push({ op: 'add', path: '/binaryData', value: data.binaryData });
    await world.rest.patch(
      apiPath('v1', configPlural(held.ref.kind), namespace, held.ref.name),
      'json',
      patch,
    );
  }
  await withFreshDeployment(target, async (deployment) => {
    const patch: unknown[] = [
      { op: 'test', path: '/metadata/resourceVersion', value: deployment.metadata?.resourceVersion },
    ];
    if (view.heldTemplate !== null) {
      // The candidate is the spec already: unpausing with the marker lets the Deployment roll it out.
      patch.push({ op: 'add', path: '/spec/paused', value: false });
      patch.push({
        op: 'add',
        path: `/metadata/annotations/${escapePointer(PROMOTE)}`,
        value: view.heldTemplate.revision,
      });
    } else {
      const annotations = deployment.spec?.template?.metadata?.annotations;
      patch.push(
        annotations === undefined
          ? {
              op: 'add',
              path: '/spec/template/metadata/annotations',
              value: { [RESTARTED_AT]: new Date(now).toISOString() },
            }
          : {
              op: 'add',
              path: `/spec/template/metadata/annotations/${escapePointer(RESTARTED_AT)}`,
              value: new Date(now).toISOString(),
            },
      );
    }
    await world.rest.patch(deploymentPath(target), 'json', patch);
  });
}

/** Runs a write against the Deployment as the API has it now, again on a conflict (409). */
async function withFreshDeployment(
  target: ReleaseTarget,
  write: (deployment: DeploymentObject) => Promise<void>,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const deployment = await target.world.rest.get<DeploymentObject>(deploymentPath(target));
    try {
      return await write(deployment);
    } catch (err) {
      if (!isConflict(err) || attempt === 5) throw err;
    }
  }
}

/** Removes `sluice.dev/action` once taken, unless someone has set another meanwhile. */
export async function clearAction(target: ReleaseTarget, action: Action): Promise<void> {
  const key = escapePointer(ANNOTATIONS.action);
  try {
    await target.world.rest.patch(deploymentPath(target), 'json', [
      { op: 'test', path: `/metadata/annotations/${key}`, value: action },
      { op: 'remove', path: `/metadata/annotations/${key}` },
    ]);
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}
