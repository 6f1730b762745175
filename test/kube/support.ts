import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { PodTemplate } from '../../src/pod-template.js';
import type { DeploymentObject } from '../../src/kube/objects.js';
import { revision } from '../../src/revision.js';
import { injectProxy, type InjectionTarget } from '../../src/injection/inject.js';
import { CONFIG } from '../webhook/support.js';

const FIXTURES = new URL('../fixtures/webhook/', import.meta.url);

/** The Deployment a webhook fixture starts from (its `stored` or `object`), as a user wrote it. */
export function fixtureDeployment(name: string): DeploymentObject {
  const fixture = parseYaml(readFileSync(new URL(`${name}.yaml`, FIXTURES), 'utf8')) as {
    stored?: DeploymentObject;
    object?: DeploymentObject;
  };
  const deployment = fixture.stored ?? fixture.object;
  if (deployment === undefined) throw new Error(`fixture ${name} has no Deployment`);
  return deployment;
}

export function fixtureTemplate(name: string): PodTemplate {
  const template = fixtureDeployment(name).spec?.template;
  if (template === undefined) throw new Error(`fixture ${name} has no pod template`);
  return template;
}

/** A template with the proxy in it, as the webhook admits it: by default as an ordinary container, over http. */
export function injected(
  template: PodTemplate,
  name = 'podinfo',
  port?: string | number,
  shape: Pick<InjectionTarget, 'protocol' | 'nativeSidecar'> = {},
): PodTemplate {
  return injectProxy(
    template,
    { ref: { kind: 'Deployment', namespace: 'shop', name }, port, revision: revision(template), ...shape },
    CONFIG.proxy,
  );
}

/** The Deployment as the API holds it once the webhook has admitted it: proxy in, stable revision set. */
export function admittedDeployment(name: string): DeploymentObject {
  const deployment = structuredClone(fixtureDeployment(name));
  const template = deployment.spec?.template;
  if (deployment.spec === undefined || template === undefined) throw new Error(`fixture ${name} is empty`);
  deployment.spec.template = injected(template, deployment.metadata?.name ?? 'podinfo');
  deployment.metadata = {
    ...deployment.metadata,
    uid: '5d1c2a8e-0b7e-4f1e-9d7a-3a1f0c9e2b11',
    generation: 3,
    annotations: {
      ...deployment.metadata?.annotations,
      'sluice.dev/stable-revision': revision(template),
    },
  };
  return deployment;
}
