import { z } from 'zod';
import { defineCommand } from '../command/command.js';
import { connect, reportingErrors } from './kube.js';
import { connectionOptions } from './operator-options.js';
import { nameSchema } from '../command/options.js';
import { getCanary, listCanaries, NoCanaryError, readOptedInDeployment } from './releases.js';
import { renderEmpty, renderJson, renderRelease, renderTable } from './status.js';

const EXIT_USAGE = 2;

export const statusCommand = defineCommand({
  summary:
    'The releases, as kubectl get canaries shows them; for one Deployment also its last check ' +
    '(the numbers of canary and primary), its conditions and a failed revision.',
  options: {
    ...connectionOptions,
    allNamespaces: {
      description: 'the releases of every namespace',
      schema: z.boolean(),
      boolean: true,
      short: 'A',
    },
    output: {
      description: "table, or json: the Canary objects' status as stored",
      schema: z.enum(['table', 'json']),
      default: 'table',
      short: 'o',
    },
  },
  positionals: [
    {
      name: 'deployment',
      description: 'one opted-in Deployment, shown in detail [all of the namespace]',
      schema: nameSchema,
      optional: true,
    },
  ],
  run: (options, { deployment }, { program }) =>
    reportingErrors(`${program} status`, async () => {
      if (deployment !== undefined && options.allNamespaces) {
        console.error(
          `${program} status: a Deployment is named within one namespace: use -n, not -A, with ${deployment}`,
        );
        return EXIT_USAGE;
      }
      const connection = connect(options);
      const now = Date.now();
      const json = options.output === 'json';

      if (deployment === undefined) {
        const namespace = options.allNamespaces ? null : connection.namespace;
        const canaries = await listCanaries(connection, namespace);
        if (json) console.log(renderJson(canaries, false));
        else if (canaries.length === 0) console.error(renderEmpty(namespace));
        else console.log(renderTable(canaries, { allNamespaces: namespace === null, now }));
        return 0;
      }

      const { namespace } = connection;
      const canary = await getCanary(connection, namespace, deployment);
      if (canary === null) {
        // Why there is none: no such Deployment, not opted in, or the controller has not got to it.
        await readOptedInDeployment(connection, namespace, deployment);
        throw new NoCanaryError(namespace, deployment);
      }
      console.log(json ? renderJson([canary], true) : renderRelease(canary, now, program));
      return 0;
    }),
});
