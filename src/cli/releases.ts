import {
  AppsV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
} from '@kubernetes/client-node';
import { ANNOTATIONS, type Action } from '../annotations.js';
import { CANARY_RESOURCE, parseCanary, parseCanaryList, type CanaryView } from './canary.js';
import { apiError, isNotFound, OperatorError, type Connection } from './kube.js';

/** The operator commands' API calls: read Canary objects and Deployments, write the action annotation. */

/** The Deployment is not there. */
export class DeploymentNotFoundError extends OperatorError {
  override readonly code = 'DeploymentNotFound';
  override readonly name = 'DeploymentNotFoundError';
  constructor(namespace: string, name: string) {
    super(`deployment ${namespace}/${name} not found`);
  }
}

/** The Deployment has no `sluice.dev/canary: enabled`, so there is no release to act on. */
export class NotOptedInError extends OperatorError {
  override readonly code = 'NotOptedIn';
  override readonly name = 'NotOptedInError';
  constructor(namespace: string, name: string, value: string | undefined) {
    const why = value === undefined ? 'is not set' : `is "${value}"`;
    super(
      `deployment ${namespace}/${name} is not opted in to sluice (${ANNOTATIONS.canary} ${why}); ` +
        `to opt in: kubectl annotate deployment ${name} -n ${namespace} ${ANNOTATIONS.canary}=enabled`,
    );
  }
}

/** Opted in, but the controller has not created the Canary object (yet). */
export class NoCanaryError extends OperatorError {
  override readonly code = 'NoCanary';
  override readonly name = 'NoCanaryError';
  constructor(namespace: string, name: string) {
    super(
      `deployment ${namespace}/${name} is opted in but has no Canary object yet: the sluice controller ` +
        `creates it (is the controller running? kubectl get pods -n sluice-system)`,
    );
  }
}

const CANARY_WHAT = `canaries.${CANARY_RESOURCE.group}`;

/** The list missing is the CRD missing: say so, rather than the server's bare "not found". */
function canaryListError(err: unknown, doing: string, connection: Connection): OperatorError {
  if (isNotFound(err)) {
    return new OperatorError(
      `cannot ${doing}: the API server does not know ${CANARY_WHAT} (${CANARY_RESOURCE.version}); ` +
        `is sluice installed in this cluster? (kubectl get crd ${CANARY_WHAT})`,
      { cause: err },
    );
  }
  return apiError(err, doing, connection);
}

/** The Canary objects in one namespace, or in all of them (namespace null), by namespace and name. */
export async function listCanaries(connection: Connection, namespace: string | null): Promise<CanaryView[]> {
  const api = connection.kubeConfig.makeApiClient(CustomObjectsApi);
  const doing = `list ${CANARY_WHAT} ${namespace === null ? 'in all namespaces' : `in namespace ${namespace}`}`;
  try {
    const list: unknown =
      namespace === null
        ? await api.listClusterCustomObject({ ...CANARY_RESOURCE })
        : await api.listNamespacedCustomObject({ ...CANARY_RESOURCE, namespace });
    return parseCanaryList(list);
  } catch (err) {
    throw canaryListError(err, doing, connection);
  }
}

/** The Canary named after the Deployment (the controller names it so), or null when there is none. */
export async function getCanary(
  connection: Connection,
  namespace: string,
  name: string,
): Promise<CanaryView | null> {
  const api = connection.kubeConfig.makeApiClient(CustomObjectsApi);
  try {
    return parseCanary(await api.getNamespacedCustomObject({ ...CANARY_RESOURCE, namespace, name }));
  } catch (err) {
    if (!isNotFound(err)) throw apiError(err, `get canary ${namespace}/${name}`, connection);
  }
  // A 404 is either no such Canary or no such resource: listing tells them apart.
  await listCanaries(connection, namespace);
  return null;
}

/** The Deployment, which must exist and be opted in. */
export async function readOptedInDeployment(
  connection: Connection,
  namespace: string,
  name: string,
): Promise<V1Deployment> {
  const api = connection.kubeConfig.makeApiClient(AppsV1Api);
  let deployment: V1Deployment;
  try {
    deployment = await api.readNamespacedDeployment({ name, namespace });
  } catch (err) {
    if (isNotFound(err)) throw new DeploymentNotFoundError(namespace, name);
    throw apiError(err, `read deployment ${namespace}/${name}`, connection);
  }
  const optIn = deployment.metadata?.annotations?.[ANNOTATIONS.canary];
  if (optIn !== 'enabled') throw new NotOptedInError(namespace, name, optIn);
  return deployment;
}

/**
 * Sets `sluice.dev/action` with a merge patch, which touches that one annotation and nothing else; the
 * controller consumes it and removes it.
 */
export async function requestAction(
  connection: Connection,
  namespace: string,
  name: string,
  action: Action,
): Promise<void> {
  const api = connection.kubeConfig.makeApiClient(AppsV1Api);
  const body = { metadata: { annotations: { [ANNOTATIONS.action]: action } } };
  try {
    await api.patchNamespacedDeployment(
      { name, namespace, body },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  } catch (err) {
    if (isNotFound(err)) throw new DeploymentNotFoundError(namespace, name);
    throw apiError(err, `annotate deployment ${namespace}/${name}`, connection);
  }
}
