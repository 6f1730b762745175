import type { ObjectRef } from './denials.js';

/** Placeholder until the shared annotation schema lands: reads only what injection needs. */
export function readCanaryAnnotations(
  _ref: ObjectRef,
  annotations: Record<string, string>,
): { enabled: boolean; port: string | number | undefined } {
  const port = annotations['sluice.dev/port'];
  return {
    enabled: annotations['sluice.dev/canary'] === 'enabled',
    port: port === undefined ? undefined : /^\d+$/.test(port) ? Number(port) : port,
  };
}
