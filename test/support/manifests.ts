import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/**
 * Reads `manifests/` for the unit tier, which has no kubectl: the YAML documents of a file, and a small
 * stand-in for `kubectl kustomize` that understands only what the examples use (resources, a namespace,
 * patches from files that add annotations) and throws on anything else, so that it can never quietly render
 * something kustomize would not. The e2e tier renders the same directories with the real kustomize.
 */

export const manifestsDir = fileURLToPath(new URL('../../manifests', import.meta.url));

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
  /** The file it came from, relative to manifests/. */
  source: string;
}

export function readYaml(path: string): Manifest[] {
  return parseManifests(readFileSync(path, 'utf8'), relative(manifestsDir, path));
}

/** The objects in a multi-document YAML text (a file, or what kustomize or helm printed); `source` names it. */
export function parseManifests(text: string, source: string): Manifest[] {
  return parseAllDocuments(text).flatMap((doc) => {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as Omit<Manifest, 'source'> | null;
    return value === null ? [] : [{ ...value, source } as Manifest];
  });
}

export class UnsupportedKustomizationError extends Error {
  readonly code = 'UnsupportedKustomization';
  constructor(path: string, what: string) {
    super(`${path}: ${what} is beyond what the unit tests' renderer understands; test it in the e2e tier`);
    this.name = 'UnsupportedKustomizationError';
  }
}

const KNOWN_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'patches']);

interface Kustomization {
  namespace?: string;
  resources?: string[];
  patches?: { path?: string }[];
}

export interface Rendered {
  objects: Manifest[];
  /** Every file that went into the result, relative to manifests/. */
  files: string[];
}

/** The objects `kubectl kustomize dir` gives, for the kustomizations the examples use. */
export function renderKustomization(dir: string): Rendered {
  const path = join(dir, 'kustomization.yaml');
  const [kustomization] = readYaml(path) as unknown as Kustomization[];
  if (kustomization === undefined) throw new UnsupportedKustomizationError(path, 'an empty file');
  for (const field of Object.keys(kustomization)) {
    if (!KNOWN_FIELDS.has(field) && field !== 'source')
      throw new UnsupportedKustomizationError(path, `the field ${field}`);
  }
  const files = [relative(manifestsDir, path)];
  const objects: Manifest[] = [];
  for (const resource of kustomization.resources ?? []) {
    const target = join(dir, resource);
    if (statSync(target).isDirectory()) {
      const sub = renderKustomization(target);
      objects.push(...sub.objects);
      files.push(...sub.files);
    } else {
      objects.push(...readYaml(target));
      files.push(relative(manifestsDir, target));
    }
  }
  for (const patch of kustomization.patches ?? []) {
    if (patch.path === undefined || Object.keys(patch).length !== 1)
      throw new UnsupportedKustomizationError(path, 'a patch other than { path }');
    const patchPath = join(dir, patch.path);
    files.push(relative(manifestsDir, patchPath));
    for (const change of readYaml(patchPath)) applyAnnotationPatch(patchPath, objects, change);
  }
  const namespace = kustomization.namespace;
  const placed =
    namespace === undefined
      ? objects
      : objects.map((o) => (o.kind === 'Namespace' ? o : { ...o, metadata: { ...o.metadata, namespace } }));
  return { objects: placed, files };
}

function applyAnnotationPatch(path: string, objects: Manifest[], change: Manifest): void {
  const { name, annotations, ...rest } = change.metadata;
  const fields = Object.keys(change).filter((k) => !['apiVersion', 'kind', 'metadata', 'source'].includes(k));
  if (fields.length > 0 || Object.keys(rest).length > 0 || annotations === undefined)
    throw new UnsupportedKustomizationError(path, 'a patch that changes more than annotations');
  const target = objects.find((o) => o.kind === change.kind && o.metadata.name === name);
  if (target === undefined) throw new Error(`${path}: no ${change.kind} ${name} to patch`);
  target.metadata = { ...target.metadata, annotations: { ...target.metadata.annotations, ...annotations } };
}

/** The directories under manifests/examples that are kustomizations, sorted. */
export function exampleDirs(): string[] {
  const root = join(manifestsDir, 'examples');
  return readdirSync(root)
    .filter((name) => existsSync(join(root, name, 'kustomization.yaml')))
    .sort();
}

/** Every YAML file under a directory, relative to manifests/, sorted. */
export function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.yaml'))
    .map((name) => relative(manifestsDir, join(dir, name)))
    .sort();
}
