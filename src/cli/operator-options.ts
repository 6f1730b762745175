import { z } from 'zod';
import { nameSchema } from '../command/options.js';

/** The flags every operator command takes, spelled as kubectl spells them. */
export const connectionOptions = {
  namespace: {
    description: "the Deployment's namespace [the kubeconfig context's namespace, else default]",
    schema: nameSchema,
    optional: true,
    short: 'n',
  },
  kubeconfig: {
    description: 'the kubeconfig file [KUBECONFIG, else ~/.kube/config, as kubectl]',
    schema: z.string().min(1),
    optional: true,
  },
} as const;

export const deploymentArgument = (what: string) =>
  ({ name: 'deployment', description: what, schema: nameSchema }) as const;
