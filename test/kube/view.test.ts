import { describe, expect, it } from 'vitest';
import { encodeCandidate } from '../../src/candidate.js';
import type { ConfigKind, ConfigObject, DeploymentObject } from '../../src/kube/objects.js';
import { isLegacyHold, legacyConversionPatch, viewRelease } from '../../src/kube/release-view.js';
import type { PodTemplate } from '../../src/pod-template.js';
import { dataRevision, releaseRevision, revision } from '../../src/revision.js';
import { SEAL_KEY } from '../webhook/support.js';
import { fixtureTemplate, injected } from './support.js';

/**
 * What the controller reads off a Deployment and its tracked configs, built the way the webhook leaves them:
 * the template in the spec (proxy injected), paused while it is a held candidate.
 */

const STABLE = 'sluice.dev/stable-revision';
const CANDIDATE_REVISION = 'sluice.dev/candidate-revision';
const CANDIDATE = 'sluice.dev/candidate';

/** podinfo reading its colour from a tracked ConfigMap and its token from a tracked Secret. */
const podinfo = (image = 'example/podinfo:6.5.0'): PodTemplate => {
  const template = fixtureTemplate('hold-image');
  const app = template.spec.containers[0];
  if (app === undefined) throw new Error('no container');
  app.image = image;
  app['envFrom'] = [{ configMapRef: { name: 'podinfo-config' } }];
  app.env = [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'podinfo-token', key: 'token' } } }];
  return template;
};

/** The template alone, as `podinfo` but reading no config. */
const bare = (image = 'example/podinfo:6.5.0'): PodTemplate => {
  const template = fixtureTemplate('hold-image');
  const app = template.spec.containers[0];
  if (app !== undefined) app.image = image;
  return template;
};

/** The Deployment after the webhook admitted `stable`, then `held` when given: paused with it in its spec. */
function deployment(stable: PodTemplate, held?: PodTemplate): DeploymentObject {
  const annotations: Record<string, string> = { 'sluice.dev/canary': 'enabled', [STABLE]: revision(stable) };
  if (held !== undefined) {
    annotations[CANDIDATE_REVISION] = revision(held);
    annotations['sluice.dev/paused-by'] = 'sluice';
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'podinfo', namespace: 'shop', annotations },
    spec: { replicas: 2, paused: held !== undefined, template: injected(held ?? stable) },
  };
}

/** A Deployment held under the earlier design: the stable template in the spec, the held one in an annotation. */
function legacyDeployment(stable: PodTemplate, held: PodTemplate): DeploymentObject {
  const d = deployment(stable);
  const annotations = d.metadata?.annotations ?? {};
  annotations[CANDIDATE_REVISION] = revision(held);
  annotations[CANDIDATE] = encodeCandidate({ revision: revision(held), template: held });
  return { ...d, metadata: { ...d.metadata, annotations, resourceVersion: '42' } };
}

type Data = { data?: Record<string, string>; binaryData?: Record<string, string> };

/** A tracked config after the webhook admitted `stable`, holding `held` when given. */
function config(kind: ConfigKind, name: string, stable: Data, held?: Data, annotated = true): ConfigObject {
  const annotations: Record<string, string> = annotated ? { [STABLE]: dataRevision(stable) } : {};
  if (held !== undefined) {
    const heldRevision = dataRevision(held);
    annotations[CANDIDATE_REVISION] = heldRevision;
    const payload = { revision: heldRevision, data: held.data ?? {}, binaryData: held.binaryData ?? {} };
    annotations[CANDIDATE] = encodeCandidate(payload, kind === 'Secret' ? SEAL_KEY : undefined);
  }
  return {
    apiVersion: 'v1',
    kind,
    metadata: { name, namespace: 'shop', labels: { 'sluice.dev/tracked': 'true' }, annotations },
    ...stable,
  };
}

const BLUE = { data: { color: 'blue' } };
const GREEN = { data: { color: 'green' }, binaryData: { 'logo.png': 'iVBORw0KGgo=' } };
const TOKEN = { data: { token: 'czNjcjN0' } };

const world =
  (...configs: ConfigObject[]) =>
  (kind: ConfigKind, name: string) =>
    configs.find((c) => c.kind === kind && c.metadata?.name === name);

describe('the view of a release', () => {
  describe('of a Deployment that reads no config', () => {
    it('has the stable revision of the template annotation, and no candidate when nothing is held', () => {
      const d = deployment(bare());
      const view = viewRelease(d, world());
      expect(view.stableRevision).toBe(d.metadata?.annotations?.[STABLE]);
      expect(view.stableRevision).toBe(revision(bare()));
      expect(view.stableTemplateRevision).toBe(revision(bare()));
      expect(view.heldTemplate).toBeNull();
      expect(view.candidateRevision).toBeNull();
      expect(view.configs).toEqual([]);
    });

    it('has the candidate revision of the template annotation when an image change is held', () => {
      const d = deployment(bare(), bare('example/podinfo:6.6.0'));
      const view = viewRelease(d, world());
      expect(view.stableRevision).toBe(d.metadata?.annotations?.[STABLE]);
      expect(view.candidateRevision).toBe(d.metadata?.annotations?.[CANDIDATE_REVISION]);
      expect(view.candidateRevision).toBe(revision(bare('example/podinfo:6.6.0')));
      expect(view.heldTemplate).toEqual({ revision: revision(bare('example/podinfo:6.6.0')) });
    });

    it('has no candidate when the held revision is the stable one', () => {
      const d = deployment(bare(), bare());
      const view = viewRelease(d, world());
      expect(view.heldTemplate).toBeNull();
      expect(view.candidateRevision).toBeNull();
      expect(view.stableRevision).toBe(revision(bare()));
    });

    it('has no revisions before the webhook has recorded a stable one', () => {
      const d = deployment(bare(), bare('example/podinfo:6.6.0'));
      delete d.metadata?.annotations?.[STABLE];
      const view = viewRelease(d, world());
      expect(view.stableRevision).toBeNull();
      expect(view.candidateRevision).toBeNull();
    });
  });

  describe('of a Deployment that reads tracked configs', () => {
    const configRevisions = (map: Record<string, string>) =>
      Object.entries(map).map(([ref, rev]) => {
        const [kind, name] = ref.split('/') as [ConfigKind, string];
        return { kind, name, revision: rev };
      });

    it('has a stable revision composed of the template and each config revision', () => {
      const view = viewRelease(
        deployment(podinfo()),
        world(config('ConfigMap', 'podinfo-config', BLUE), config('Secret', 'podinfo-token', TOKEN)),
      );
      expect(view.stableRevision).toBe(
        releaseRevision(
          revision(podinfo()),
          configRevisions({
            'ConfigMap/podinfo-config': dataRevision(BLUE),
            'Secret/podinfo-token': dataRevision(TOKEN),
          }),
        ),
      );
      expect(view.stableRevision).not.toBe(revision(podinfo()));
      expect(view.candidateRevision).toBeNull();
      expect(view.configs.map((c) => c.ref)).toEqual([
        { kind: 'ConfigMap', name: 'podinfo-config' },
        { kind: 'Secret', name: 'podinfo-token' },
      ]);
    });

    it('has a candidate when a ConfigMap change alone is held', () => {
      const view = viewRelease(
        deployment(podinfo()),
        world(config('ConfigMap', 'podinfo-config', BLUE, GREEN), config('Secret', 'podinfo-token', TOKEN)),
      );
      expect(view.heldTemplate).toBeNull();
      expect(view.candidateRevision).toBe(
        releaseRevision(
          revision(podinfo()),
          configRevisions({
            'ConfigMap/podinfo-config': dataRevision(GREEN),
            'Secret/podinfo-token': dataRevision(TOKEN),
          }),
        ),
      );
      expect(view.candidateRevision).not.toBe(view.stableRevision);
      expect(view.configs.find((c) => c.ref.kind === 'ConfigMap')?.candidate?.revision).toBe(
        dataRevision(GREEN),
      );
    });

    it('reads a held Secret change without unsealing it', () => {
      const token = config('Secret', 'podinfo-token', TOKEN, { data: { token: 'bjN3' } });
      const view = viewRelease(
        deployment(podinfo()),
        world(config('ConfigMap', 'podinfo-config', BLUE), token),
      );
      expect(view.candidateRevision).toBe(
        releaseRevision(
          revision(podinfo()),
          configRevisions({
            'ConfigMap/podinfo-config': dataRevision(BLUE),
            'Secret/podinfo-token': dataRevision({ data: { token: 'bjN3' } }),
          }),
        ),
      );
    });

    it('composes the candidate of a held template and a held config change', () => {
      const held = podinfo('example/podinfo:6.6.0');
      const view = viewRelease(
        deployment(podinfo(), held),
        world(config('ConfigMap', 'podinfo-config', BLUE, GREEN), config('Secret', 'podinfo-token', TOKEN)),
      );
      expect(view.candidateRevision).toBe(
        releaseRevision(
          revision(held),
          configRevisions({
            'ConfigMap/podinfo-config': dataRevision(GREEN),
            'Secret/podinfo-token': dataRevision(TOKEN),
          }),
        ),
      );
    });

    it('has no candidate when a config holds its stable data as the candidate', () => {
      const view = viewRelease(
        deployment(podinfo()),
        world(config('ConfigMap', 'podinfo-config', BLUE, BLUE), config('Secret', 'podinfo-token', TOKEN)),
      );
      expect(view.configs.every((c) => c.candidate === null)).toBe(true);
      expect(view.candidateRevision).toBeNull();
    });

    it('takes the data revision of a config the webhook never annotated', () => {
      const view = viewRelease(
        deployment(podinfo()),
        world(
          config('ConfigMap', 'podinfo-config', BLUE, undefined, false),
          config('Secret', 'podinfo-token', TOKEN),
        ),
      );
      expect(view.configs.find((c) => c.ref.kind === 'ConfigMap')?.stable).toBe(dataRevision(BLUE));
      expect(view.stableRevision).toBe(
        releaseRevision(
          revision(podinfo()),
          configRevisions({
            'ConfigMap/podinfo-config': dataRevision(BLUE),
            'Secret/podinfo-token': dataRevision(TOKEN),
          }),
        ),
      );
    });

    it('tracks a config that only the held template reads', () => {
      const view = viewRelease(
        deployment(bare(), podinfo('example/podinfo:6.6.0')),
        world(config('ConfigMap', 'podinfo-config', BLUE), config('Secret', 'podinfo-token', TOKEN)),
      );
      expect(view.configs.map((c) => `${c.ref.kind}/${c.ref.name}`)).toEqual([
        'ConfigMap/podinfo-config',
        'Secret/podinfo-token',
      ]);
      expect(view.candidateRevision).toBe(
        releaseRevision(
          revision(podinfo('example/podinfo:6.6.0')),
          configRevisions({
            'ConfigMap/podinfo-config': dataRevision(BLUE),
            'Secret/podinfo-token': dataRevision(TOKEN),
          }),
        ),
      );
    });

    it('leaves out a config that is not tracked, as if the template did not read it', () => {
      const view = viewRelease(deployment(podinfo()), world(config('ConfigMap', 'podinfo-config', BLUE)));
      expect(view.configs.map((c) => c.ref.name)).toEqual(['podinfo-config']);
      expect(view.stableRevision).toBe(
        releaseRevision(
          revision(podinfo()),
          configRevisions({ 'ConfigMap/podinfo-config': dataRevision(BLUE) }),
        ),
      );
    });
  });
});

describe('a Deployment held under the earlier design', () => {
  it('is seen as such, and has no held template until it is converted', () => {
    const d = legacyDeployment(bare(), bare('example/podinfo:6.6.0'));
    expect(isLegacyHold(d)).toBe(true);
    expect(isLegacyHold(deployment(bare(), bare('example/podinfo:6.6.0')))).toBe(false);
    expect(viewRelease(d, world()).heldTemplate).toBeNull();
  });

  it('is converted by writing the held template into the spec and dropping the payload, guarded by its version', () => {
    const held = bare('example/podinfo:6.6.0');
    const patch = legacyConversionPatch(legacyDeployment(bare(), held));
    expect(patch).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '42' },
      { op: 'replace', path: '/spec/template', value: held },
      { op: 'remove', path: '/metadata/annotations/sluice.dev~1candidate' },
    ]);
  });
});
