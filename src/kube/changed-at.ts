import type { DeploymentObject } from './objects.js';
import { FIELD_MANAGER } from './rest.js';

interface ManagedFieldsEntry {
  manager?: string;
  time?: string;
  fieldsV1?: { 'f:spec'?: { 'f:template'?: unknown } };
}

/**
 * When a client last wrote the Deployment's pod template, as the API server records it in managedFields:
 * the newest time of an entry that owns fields of `spec.template`, sluice's own excluded. An entry's time
 * moves with any write of that client, so this is the change's time or later; null when nothing says.
 */
export function templateChangedAt(deployment: DeploymentObject): number | null {
  const entries = (deployment.metadata?.['managedFields'] ?? []) as ManagedFieldsEntry[];
  let latest: number | null = null;
  for (const entry of entries) {
    if (entry.manager === FIELD_MANAGER || entry.fieldsV1?.['f:spec']?.['f:template'] === undefined) continue;
    const time = Date.parse(entry.time ?? '');
    if (Number.isFinite(time) && (latest === null || time > latest)) latest = time;
  }
  return latest;
}
