import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { useCluster } from '../support/kube.js';

// What each ServiceAccount of manifests/rbac.yaml may do, as the API server itself reports it
// (`kubectl auth can-i --list`), against a checked-in expectation: a rule that grants a new verb or resource
// fails here until the expectation is updated on purpose, in the same change, where a reviewer sees it.

const RBAC = new URL('../../manifests/rbac.yaml', import.meta.url);
const EXPECTED = new URL('rbac-expected.txt', import.meta.url);
const UPDATE = process.env['UPDATE_RBAC_EXPECTED'] === '1';
const HOW_TO_UPDATE =
  'if the change is deliberate, regenerate the expectation with ' +
  '`UPDATE_RBAC_EXPECTED=1 npx vitest run --project e2e test/manifests/rbac.e2e.test.ts` ' +
  'and commit test/manifests/rbac-expected.txt with the reason in the commit message';
/** The controller's and webhook's own namespace, and one they act on (the cluster-wide grants). */
const NAMESPACES = ['sluice-system', 'shop'];

const serviceAccounts = parseAllDocuments(readFileSync(RBAC, 'utf8'))
  .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } })
  .filter((d) => d.kind === 'ServiceAccount')
  .map((d) => d.metadata?.name ?? '');

/** One `<namespace> <resource> [urls] [names] [verbs]` line per grant, sorted, from the table can-i prints. */
function grants(namespace: string, table: string): string[] {
  const rows = table
    .trim()
    .split('\n')
    .slice(1)
    .map((row) => row.trim().replace(/\s+/g, ' '))
    .filter((row) => row !== '')
    .map((row) => `${namespace} ${row}`);
  return [...new Set(rows)].sort();
}

/** The sections of the expectation file: `## <ServiceAccount>` followed by its grant lines. */
function sections(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('## ')) out.set(line.slice(3).trim(), (current = []));
    else if (line.trim() !== '' && !line.startsWith('#')) current?.push(line.trim());
  }
  return out;
}

describe('the RBAC of manifests/rbac.yaml', () => {
  const cluster = useCluster();
  const actual = new Map<string, string[]>();

  beforeAll(async () => {
    const c = cluster();
    for (const ns of NAMESPACES) await c.kubectl(['create', 'namespace', ns]);
    await c.kubectl(['apply', '-n', 'sluice-system', '-f', RBAC.pathname]);
    for (const name of serviceAccounts) {
      const lines: string[] = [];
      for (const ns of NAMESPACES) {
        const table = await c.kubectl([
          'auth',
          'can-i',
          '--list',
          `--as=system:serviceaccount:sluice-system:${name}`,
          '-n',
          ns,
        ]);
        lines.push(...grants(ns, table));
      }
      actual.set(name, lines);
    }
    if (UPDATE) {
      const header = [
        '# `kubectl auth can-i --list` of each ServiceAccount in manifests/rbac.yaml, per namespace:',
        '# written by test/manifests/rbac.e2e.test.ts with UPDATE_RBAC_EXPECTED=1; review every change.',
      ];
      const body = [...actual].flatMap(([name, lines]) => ['', `## ${name}`, ...lines]);
      writeFileSync(EXPECTED, `${[...header, ...body].join('\n')}\n`);
    }
  });

  it('has a ServiceAccount to check', () => {
    expect(serviceAccounts).toEqual(expect.arrayContaining(['sluice-controller', 'sluice-webhook']));
  });

  it.each(serviceAccounts)('grants %s exactly what the expectation file says', (name) => {
    expect(existsSync(EXPECTED), `test/manifests/rbac-expected.txt is missing: ${HOW_TO_UPDATE}`).toBe(true);
    const expected = sections(readFileSync(EXPECTED, 'utf8')).get(name);
    expect(expected, `no section "## ${name}" in rbac-expected.txt: ${HOW_TO_UPDATE}`).toBeDefined();
    const got = actual.get(name) ?? [];
    const added = got.filter((line) => !expected?.includes(line));
    const removed = (expected ?? []).filter((line) => !got.includes(line));
    expect(
      added,
      `ServiceAccount ${name} gained permissions:\n${added.join('\n')}\n${HOW_TO_UPDATE}`,
    ).toEqual([]);
    expect(
      removed,
      `ServiceAccount ${name} lost permissions:\n${removed.join('\n')}\n${HOW_TO_UPDATE}`,
    ).toEqual([]);
  });
});
