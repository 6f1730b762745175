import { randomBytes } from 'node:crypto';
import type { DeploymentObject } from './objects.js';
import { apiPath, type KubeRest } from './rest.js';

/** A core/v1 Event on a Deployment, as `kubectl describe` and `kubectl events` show it. */
export async function recordEvent(
  world: { rest: KubeRest; identity: string },
  deployment: DeploymentObject,
  event: { type: 'Normal' | 'Warning'; reason: string; message: string },
  now: number,
): Promise<void> {
  const namespace = deployment.metadata?.namespace ?? 'default';
  const name = deployment.metadata?.name ?? '';
  const time = new Date(now).toISOString();
  await world.rest.create(apiPath('v1', 'events', namespace), {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
    involvedObject: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name,
      namespace,
      uid: deployment.metadata?.uid,
      resourceVersion: deployment.metadata?.resourceVersion,
    },
    type: event.type,
    reason: event.reason,
    message: event.message.slice(0, 1024),
    source: { component: 'sluice-controller' },
    reportingComponent: 'sluice.dev/controller',
    reportingInstance: world.identity,
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
  });
}
