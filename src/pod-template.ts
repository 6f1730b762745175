import { z } from 'zod';

/**
 * The parts of Kubernetes objects that sluice reads and rewrites, as loose zod schemas: the fields named
 * here are checked, every other field is kept as it came, so that rewriting an object never drops what it
 * does not know about.
 */

const stringMap = z.record(z.string(), z.string());

export const objectMetaSchema = z.looseObject({
  name: z.string().optional(),
  generateName: z.string().optional(),
  namespace: z.string().optional(),
  labels: stringMap.optional(),
  annotations: stringMap.optional(),
});

/** An integer JSON carries exactly (the API server's int32 and int64 fields), or a name. */
const intOrString = z.union([z.int(), z.string()]);

export const probeSchema = z.looseObject({
  httpGet: z.looseObject({ port: intOrString }).optional(),
  tcpSocket: z.looseObject({ port: intOrString }).optional(),
});

export const containerPortSchema = z.looseObject({
  name: z.string().optional(),
  containerPort: z.int(),
});

export const envVarSchema = z.looseObject({ name: z.string() });

export const containerSchema = z.looseObject({
  name: z.string(),
  image: z.string().optional(),
  ports: z.array(containerPortSchema).optional(),
  env: z.array(envVarSchema).optional(),
  livenessProbe: probeSchema.optional(),
  readinessProbe: probeSchema.optional(),
  startupProbe: probeSchema.optional(),
});

export const podTemplateSchema = z.looseObject({
  metadata: objectMetaSchema.optional(),
  spec: z.looseObject({
    containers: z.array(containerSchema),
    initContainers: z.array(containerSchema).optional(),
    volumes: z.array(z.looseObject({ name: z.string() })).optional(),
  }),
});

export const deploymentSchema = z.looseObject({
  metadata: objectMetaSchema,
  spec: z.looseObject({ template: podTemplateSchema }),
});

/** A ConfigMap or a Secret: both keep their payload in `data` and `binaryData` (Secrets in `data` only). */
export const configObjectSchema = z.looseObject({
  metadata: objectMetaSchema,
  data: stringMap.optional(),
  binaryData: stringMap.optional(),
});

export type ObjectMeta = z.infer<typeof objectMetaSchema>;
export type Probe = z.infer<typeof probeSchema>;
export type ContainerPort = z.infer<typeof containerPortSchema>;
export type Container = z.infer<typeof containerSchema>;
export type PodTemplate = z.infer<typeof podTemplateSchema>;
export type Deployment = z.infer<typeof deploymentSchema>;
export type ConfigObject = z.infer<typeof configObjectSchema>;

export const PROBE_KINDS = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;
