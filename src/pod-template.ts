import { array, integer, looseObject, optional, record, string, union, type Infer } from './shape.js';

/**
 * The parts of Kubernetes objects that sluice reads and rewrites, as loose shapes: the fields named here are
 * checked, every other field is kept as it came, unread, so that rewriting an object never drops what it
 * does not know about.
 */

const stringMap = record(string);

export const objectMetaShape = looseObject({
  name: optional(string),
  generateName: optional(string),
  namespace: optional(string),
  labels: optional(stringMap),
  annotations: optional(stringMap),
});

const intOrString = union(integer, string, 'integer or string');

export const probeShape = looseObject({
  httpGet: optional(looseObject({ port: intOrString })),
  tcpSocket: optional(looseObject({ port: intOrString })),
});

export const containerPortShape = looseObject({
  name: optional(string),
  containerPort: integer,
});

export const envVarShape = looseObject({ name: string });

export const containerShape = looseObject({
  name: string,
  image: optional(string),
  ports: optional(array(containerPortShape)),
  env: optional(array(envVarShape)),
  livenessProbe: optional(probeShape),
  readinessProbe: optional(probeShape),
  startupProbe: optional(probeShape),
});

export const podTemplateShape = looseObject({
  metadata: optional(objectMetaShape),
  spec: looseObject({
    containers: array(containerShape),
    volumes: optional(array(looseObject({ name: string }))),
  }),
});

export const deploymentShape = looseObject({
  metadata: objectMetaShape,
  spec: looseObject({ template: podTemplateShape }),
});

/** A ConfigMap or a Secret: both keep their payload in `data` and `binaryData` (Secrets in `data` only). */
export const configObjectShape = looseObject({
  metadata: objectMetaShape,
  data: optional(stringMap),
  binaryData: optional(stringMap),
});

export type ObjectMeta = Infer<typeof objectMetaShape>;
export type Probe = Infer<typeof probeShape>;
export type ContainerPort = Infer<typeof containerPortShape>;
export type Container = Infer<typeof containerShape>;
export type PodTemplate = Infer<typeof podTemplateShape>;
export type Deployment = Infer<typeof deploymentShape>;
export type ConfigObject = Infer<typeof configObjectShape>;

export const PROBE_KINDS = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;
