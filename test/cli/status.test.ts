import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseCanary, parseCanaryList, type CanaryView } from '../../src/cli/canary.js';
import { formatAge, renderEmpty, renderJson, renderRelease, renderTable } from '../../src/cli/status.js';

const fixture = (name: string): unknown =>
  parseYaml(readFileSync(new URL(`../fixtures/cli/${name}.yaml`, import.meta.url), 'utf8'));
const canary = (name: string): CanaryView => parseCanary(fixture(name));
const NOW = Date.parse('2026-12-02T15:00:00Z');

describe('sluice status, rendered', () => {
  it('lists releases like kubectl get canaries, with ages as kubectl prints them', () => {
    const list = [canary('progressing'), canary('failed')];
    expect(renderTable(list, { allNamespaces: false, now: NOW })).toBe(
      [
        'NAME       STATUS        WEIGHT   FAILED   CANDIDATE    LAST TRANSITION',
        'podinfo    Progressing   20       1        3f2a9c01d4   2m10s',
        'checkout   Failed        0        5        <none>       2d6h',
      ].join('\n'),
    );
  });

  it('adds the NAMESPACE column for all namespaces, sorted by namespace then name', () => {
    const list = parseCanaryList({
      items: [fixture('progressing'), fixture('initialized'), fixture('failed')],
    });
    expect(renderTable(list, { allNamespaces: true, now: NOW })).toBe(
      [
        'NAMESPACE   NAME       STATUS        WEIGHT   FAILED   CANDIDATE    LAST TRANSITION',
        'api         cart       Initialized   0        0        <none>       5s',
        'shop        checkout   Failed        0        5        <none>       2d6h',
        'shop        podinfo    Progressing   20       1        3f2a9c01d4   2m10s',
      ].join('\n'),
    );
  });

  it("shows one release's last check: verdict, objectives, canary against primary, conditions", () => {
    expect(renderRelease(canary('progressing'), NOW)).toBe(
      [
        'NAME      STATUS        WEIGHT   FAILED   CANDIDATE    LAST TRANSITION',
        'podinfo   Progressing   20       1        3f2a9c01d4   2m10s',
        '',
        'Deployment:   shop/podinfo',
        'Revisions:    stable 8e1b2c3d4e, candidate 3f2a9c01d4',
        '',
        'Last check:   failed at weight 20, 45s ago',
        '  success rate 91.2% < 99%',
        '  OBJECTIVE            RESULT   MEASURED',
        '  success-rate>=99%    failed   success rate 91.2% < 99%',
        '  p99-latency<=500ms   passed   p99 latency 120ms <= 500ms',
        '',
        '            REQUESTS   SUCCESS RATE   MEAN LATENCY   P99 LATENCY',
        '  canary    125        91.2%          41ms           120ms',
        '  primary   1080       99.9%          30ms           89ms',
        '',
        'Conditions:',
        '  TYPE             STATUS   REASON         AGE   MESSAGE',
        '  Promoted         False    Progressing    10m   canary at weight 20',
        '  ProxyReachable   True     RoutesServed   40m   every primary proxy fetched its routes',
      ].join('\n'),
    );
  });

  it('says how many checks of mirrored copies passed in the mirror phase', () => {
    const raw = fixture('progressing') as { status: Record<string, unknown> };
    const mirroring = parseCanary({
      ...raw,
      status: { ...raw.status, phase: 'Mirroring', canaryWeight: 0, mirrorChecks: 1 },
    });
    const lines = renderRelease(mirroring, NOW).split('\n');
    expect(lines[1]).toMatch(/^podinfo +Mirroring +0 /);
    expect(lines).toContain('Mirroring:    1 passing checks of copies sent to the canary');
    expect(renderRelease(canary('progressing'), NOW)).not.toContain('Mirroring:');
  });

  it('names a rolled-back revision and the command that starts it again', () => {
    const lines = renderRelease(canary('failed'), NOW, 'kubectl sluice').split('\n');
    expect(lines.slice(3, 12)).toEqual([
      'Deployment:   shop/checkout',
      'Revisions:    stable 0a1b2c3d4e, candidate <none>',
      'Failed:       revision 9f8e7d6c5b was rolled back; it is not started again until ' +
        'kubectl sluice retry checkout -n shop',
      '              The Deployment stays paused with revision 9f8e7d6c5b in its spec, so Git and Helm see ' +
        'no drift, while its pods keep running stable revision 0a1b2c3d4e.',
      '              To go back, set the template back (git revert, helm rollback, or the old image): ' +
        'sluice unpauses it with no rollout. A new template starts a new release.',
      '',
      'Last check:   failed at weight 10, 2d6h ago',
      '  metrics unavailable: Prometheus at http://prometheus:9090 did not answer',
      '',
    ]);
    expect(lines.join('\n')).not.toContain('REQUESTS');
  });

  it('says which gate holds a waiting release, and the commands that override it', () => {
    const waiting = fixture('progressing') as { status: Record<string, unknown> };
    waiting.status['phase'] = 'WaitingPromotion';
    const text = renderRelease(parseCanary(waiting), NOW, 'sluice');
    expect(text).toContain(
      'Held:         a confirm-promotion gate (sluice.dev/webhooks) holds the release until it answers 2xx; ' +
        'sluice promote podinfo -n shop promotes now, sluice abort podinfo -n shop rolls back',
    );
  });

  it('shows a release before its first check without inventing numbers', () => {
    expect(renderRelease(canary('initialized'), NOW).split('\n').slice(3)).toEqual([
      'Deployment:   api/cart',
      'Revisions:    stable 5d4c3b2a10, candidate <none>',
      '',
      'Last check:   none yet',
      '',
      'Conditions:   none yet',
    ]);
  });

  it('shows what it can of a status written by a newer controller', () => {
    const text = renderRelease(canary('future-shape'), NOW);
    expect(text).toContain('search   Baking   5        0        77aa88bb99   3h');
    expect(text).toContain(
      'Last check:   recorded in a form this version of sluice does not read (see -o json)',
    );
  });

  it('shows a Canary with no status at all as <none> cells', () => {
    const bare = parseCanary({
      metadata: { name: 'new', namespace: 'shop' },
      spec: { targetRef: { name: 'new' } },
    });
    expect(renderTable([bare], { allNamespaces: false, now: NOW }).split('\n')[1]).toBe(
      'new    <none>   <none>   <none>   <none>      <none>',
    );
  });

  it('prints the status as stored for -o json: one object for a named release, else a list', () => {
    const one = JSON.parse(renderJson([canary('progressing')], true)) as Record<string, unknown>;
    expect(one).toMatchObject({ namespace: 'shop', name: 'podinfo', deployment: 'podinfo' });
    expect(one['status']).toEqual((fixture('progressing') as { status: unknown }).status);
    const many = JSON.parse(renderJson([canary('future-shape'), canary('failed')], false)) as unknown[];
    expect(many).toHaveLength(2);
    expect(many[0]).toMatchObject({ status: { lastAnalysis: { verdict: 'ok' } } });
    expect(JSON.parse(renderJson([], false))).toEqual([]);
  });

  it('says how a Deployment gets a release when there is none', () => {
    expect(renderEmpty('shop')).toMatch(/^No releases in namespace shop: .*sluice\.dev\/canary=enabled/);
    expect(renderEmpty(null)).toMatch(/^No releases in any namespace/);
  });
});

describe('ages, as kubectl prints them', () => {
  const s = 1_000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  it.each([
    [0, '0s'],
    [-500, '0s'],
    [-5 * s, '<invalid>'],
    [5 * s, '5s'],
    [119 * s, '119s'],
    [2 * m, '2m'],
    [3 * m + 20 * s, '3m20s'],
    [12 * m + 30 * s, '12m'],
    [179 * m, '179m'],
    [3 * h, '3h'],
    [5 * h + 3 * m, '5h3m'],
    [9 * h, '9h'],
    [47 * h, '47h'],
    [2 * d + 4 * h, '2d4h'],
    [3 * d, '3d'],
    [400 * d, '400d'],
    [3 * 365 * d + 10 * d, '3y10d'],
    [9 * 365 * d, '9y'],
    [Number.NaN, '<invalid>'],
  ])('%d ms is %s', (ms, age) => expect(formatAge(ms)).toBe(age));
});
