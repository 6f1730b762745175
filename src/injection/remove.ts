import { ANNOTATION_PREFIX } from '../annotations.js';
import type { Container, ObjectMeta, PodTemplate } from '../pod-template.js';
import { findProxy } from './read.js';
import {
  ADMIN_PORT_NAME,
  appPortName,
  PROXY_CONTAINER,
  RESTARTED_AT,
  ROLE_LABEL,
  SCRAPE_ANNOTATIONS,
  UNNAMED_PROXY_PORT_NAME,
  withPortRenamed,
} from './shape.js';

/**
 * Taking the proxy out of a pod template again. Taking it out is half of normalisation: a template with
 * the proxy and the same template without it are one revision.
 */

/**
 * The template as the user wrote it: no proxy container, the app's port and probes under their own name
 * again, without the annotations and label sluice adds, and without `kubectl rollout restart`'s stamp.
 * Pure, as removeInjection.
 */
export function normaliseTemplate(template: PodTemplate): PodTemplate {
  const out = removeInjection(template);
  const annotations = out.metadata?.annotations;
  if (out.metadata === undefined || annotations?.[RESTARTED_AT] === undefined) return out;
  const { [RESTARTED_AT]: _restartedAt, ...rest } = annotations;
  const metadata = { ...out.metadata };
  setOrDrop(metadata, 'annotations', rest);
  return { ...out, metadata };
}

/**
 * The template without what injection added, and nothing else taken away. Pure: the argument is not changed,
 * and the result shares with it the parts that injection did not touch (the containers it did not rename a
 * port in, the volumes, ...), so whoever changes the result copies what it changes first.
 */
export function removeInjection(template: PodTemplate): PodTemplate {
  const out: PodTemplate = { ...template, spec: withoutProxy(template.spec) };
  if (template.metadata !== undefined) out.metadata = withoutOurMetadata(template.metadata);
  return out;
}

/** The metadata without sluice's annotations and label, and without the maps that leaves empty. */
function withoutOurMetadata(meta: ObjectMeta): ObjectMeta {
  const out = { ...meta };
  if (meta.annotations !== undefined) {
    const annotations = Object.fromEntries(
      Object.entries(meta.annotations).filter(
        ([key, value]) =>
          !key.startsWith(ANNOTATION_PREFIX) && !isOurScrapeAnnotation(key, value, meta.annotations),
      ),
    );
    setOrDrop(out, 'annotations', annotations);
  }
  if (meta.labels !== undefined) {
    const { [ROLE_LABEL]: _role, ...labels } = meta.labels;
    setOrDrop(out, 'labels', labels);
  }
  return out;
}

/**
 * The spec without the proxy, wherever it sits (in both lists, should a hand edit have put it in both). An
 * init container list that only the proxy was in goes with it, as the API server drops an empty one: either
 * placement normalises to the same template.
 */
function withoutProxy(spec: PodTemplate['spec']): PodTemplate['spec'] {
  const proxy = findProxy({ spec });
  if (proxy === undefined) return spec;
  const notProxy = (c: Container) => c.name !== PROXY_CONTAINER;
  const out = { ...spec };
  if (spec.containers.some((c) => !notProxy(c))) out.containers = spec.containers.filter(notProxy);
  if (spec.initContainers?.some((c) => !notProxy(c))) {
    const initContainers = spec.initContainers.filter(notProxy);
    if (initContainers.length === 0) delete out.initContainers;
    else out.initContainers = initContainers;
  }
  const taken = proxy.container.ports?.find((p) => p.name !== ADMIN_PORT_NAME)?.name;
  if (taken === undefined || taken === UNNAMED_PROXY_PORT_NAME) return out;
  return { ...out, containers: out.containers.map((c) => withPortRenamed(c, appPortName(taken), taken)) };
}

function isOurScrapeAnnotation(key: string, value: string, all: Record<string, string> | undefined): boolean {
  return (
    SCRAPE_ANNOTATIONS[key] === value &&
    all?.['prometheus.io/port'] === SCRAPE_ANNOTATIONS['prometheus.io/port']
  );
}

function setOrDrop(meta: ObjectMeta, key: 'annotations' | 'labels', value: Record<string, string>): void {
  const empty = Object.keys(value).length === 0;
  if (key === 'annotations') {
    if (empty) delete meta.annotations;
    else meta.annotations = value;
  } else if (empty) delete meta.labels;
  else meta.labels = value;
}
