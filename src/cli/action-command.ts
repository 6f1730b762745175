import { ANNOTATIONS, type Action } from '../annotations.js';
import { defineCommand } from '../command/command.js';
import { connect, reportingErrors } from './kube.js';
import { connectionOptions, deploymentArgument } from './operator-options.js';
import { readOptedInDeployment, requestAction } from './releases.js';

/**
 * `sluice promote|abort|retry|pause|resume <deployment>`: asks the controller, through the one-shot
 * `sluice.dev/action` annotation, which it consumes and removes. The Deployment is read first, so that a
 * typo or a Deployment that is not opted in is named rather than annotated.
 */
export function actionCommand(action: Action, summary: string) {
  return defineCommand({
    summary: `${capitalised(summary)}: sets ${ANNOTATIONS.action}: ${action} on the Deployment, which the controller acts on and removes.`,
    options: connectionOptions,
    positionals: [deploymentArgument(`the opted-in Deployment to ${action}`)],
    run: (options, { deployment: name }, { program }) =>
      reportingErrors(`${program} ${action}`, async () => {
        const connection = connect(options);
        const { namespace } = connection;
        const deployment = await readOptedInDeployment(connection, namespace, name);
        await requestAction(connection, namespace, name, action);
        const pending = deployment.metadata?.annotations?.[ANNOTATIONS.action];
        const replaced =
          pending !== undefined && pending !== action
            ? `; it replaces the pending ${pending}, which the controller had not acted on yet`
            : '';
        console.log(
          `deployment ${namespace}/${name}: ${action} requested (the controller acts on it within a few ` +
            `seconds; watch with: kubectl get canary ${name} -n ${namespace} -w)${replaced}`,
        );
        return 0;
      }),
  });
}

const capitalised = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);
