import { formatLatency, formatPercent } from '../release/check.js';
import type { AnalysisView, CanaryView, ConditionView, SideView } from './canary.js';

/**
 * What `sluice status` prints, from the Canary objects and the time: pure, so that every shape of a release
 * is tested without a cluster. The table reads like `kubectl get canaries` (the CRD's printer columns).
 */

const NONE = '<none>';

/** An age as kubectl prints one: 45s, 3m20s, 12m, 5h3m, 2d4h, 400d, 3y10d. */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms)) return '<invalid>';
  // kubectl shows a time up to a second ahead (clock skew) as 0s, further ahead as invalid
  if (ms < -1_000) return '<invalid>';
  const seconds = Math.max(0, Math.floor(ms / 1_000));
  const minutes = Math.floor(seconds / 60);
  const hours = Math.floor(minutes / 60);
  const days = Math.floor(hours / 24);
  const years = Math.floor(days / 365);
  const pair = (a: number, unitA: string, b: number, unitB: string): string =>
    b === 0 ? `${a}${unitA}` : `${a}${unitA}${b}${unitB}`;
  if (seconds < 120) return `${seconds}s`;
  if (minutes < 10) return pair(minutes, 'm', seconds % 60, 's');
  if (minutes < 180) return `${minutes}m`;
  if (hours < 8) return pair(hours, 'h', minutes % 60, 'm');
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return pair(days, 'd', hours % 24, 'h');
  if (days < 365 * 2) return `${days}d`;
  if (days < 365 * 8) return pair(years, 'y', days % 365, 'd');
  return `${years}y`;
}

const ageSince = (time: string | null | undefined, now: number): string =>
  time ? formatAge(now - Date.parse(time)) : NONE;

/** Columns padded to their widest cell plus three spaces, as kubectl's tabwriter does. */
export function formatTable(rows: readonly (readonly string[])[], indent = ''): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map(
    (row) =>
      indent +
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + 3)))
        .join('')
        .trimEnd(),
  );
}

const show = (value: string | number | null | undefined): string =>
  value === null || value === undefined || value === '' ? NONE : String(value);

export interface TableOptions {
  /** Add the NAMESPACE column, as `-A` does. */
  allNamespaces: boolean;
  now: number;
}

export function renderTable(canaries: readonly CanaryView[], options: TableOptions): string {
  const header = ['NAME', 'STATUS', 'WEIGHT', 'FAILED', 'CANDIDATE', 'LAST TRANSITION'];
  const rows = canaries.map((c) => [
    c.name,
    show(c.status.phase),
    show(c.status.canaryWeight),
    show(c.status.failedChecks),
    show(c.status.candidateRevision),
    ageSince(c.status.lastTransitionTime, options.now),
  ]);
  const withNamespace = options.allNamespaces
    ? [['NAMESPACE', ...header], ...rows.map((row, i) => [canaries[i]?.namespace ?? '', ...row])]
    : [header, ...rows];
  return formatTable(withNamespace).join('\n');
}

/** When a list is empty: what kubectl would say, and how a Deployment gets a Canary. */
export function renderEmpty(namespace: string | null): string {
  const where = namespace === null ? 'in any namespace' : `in namespace ${namespace}`;
  return (
    `No releases ${where}: no Deployment is opted in ` +
    `(kubectl annotate deployment NAME sluice.dev/canary=enabled), or the sluice controller has not created its Canary yet.`
  );
}

const quantileLabel = (key: string): string => `p${Math.round(Number(key) * 1000) / 10}`;
const rate = (value: number | null | undefined): string =>
  value === null || value === undefined ? '-' : formatPercent(value);
const latency = (value: number | null | undefined): string =>
  value === null || value === undefined ? '-' : formatLatency(value);

function numbersTable(analysis: AnalysisView): string[] {
  const sides = (['canary', 'primary'] as const).flatMap((side) => {
    const metrics = analysis[side];
    return metrics ? [[side, metrics] as const] : [];
  });
  if (sides.length === 0) return [];
  const quantiles = [...new Set(sides.flatMap(([, m]) => Object.keys(m.latencyQuantilesMs ?? {})))].sort(
    (a, b) => Number(a) - Number(b),
  );
  const header = [
    '',
    'REQUESTS',
    'SUCCESS RATE',
    'MEAN LATENCY',
    ...quantiles.map((q) => `${quantileLabel(q).toUpperCase()} LATENCY`),
  ];
  const row = (side: string, m: SideView): string[] => [
    side,
    String(m.requests),
    rate(m.successRate),
    latency(m.meanLatencyMs),
    ...quantiles.map((q) => latency(m.latencyQuantilesMs?.[q])),
  ];
  return formatTable([header, ...sides.map(([side, m]) => row(side, m))], '  ');
}

function analysisLines(canary: CanaryView, now: number): string[] {
  const analysis = canary.lastAnalysis;
  if (analysis === null) {
    return [
      canary.lastAnalysisUnreadable
        ? 'Last check:   recorded in a form this version of sluice does not read (see -o json)'
        : 'Last check:   none yet',
    ];
  }
  const when = [
    analysis.weight !== null && analysis.weight !== undefined ? `at weight ${analysis.weight}` : '',
    analysis.at ? `${ageSince(analysis.at, now)} ago` : '',
  ].filter((s) => s !== '');
  const lines = [`Last check:   ${analysis.result}${when.length ? ` ${when.join(', ')}` : ''}`];
  lines.push(`  ${analysis.summary}`);
  const objectives = analysis.objectives ?? [];
  if (objectives.length > 0) {
    lines.push(
      ...formatTable(
        [
          ['OBJECTIVE', 'RESULT', 'MEASURED'],
          ...objectives.map((o) => [o.objective, o.passed ? 'passed' : 'failed', o.summary]),
        ],
        '  ',
      ),
    );
  }
  const numbers = numbersTable(analysis);
  if (numbers.length > 0) lines.push('', ...numbers);
  return lines;
}

function conditionLines(conditions: readonly ConditionView[], now: number): string[] {
  if (conditions.length === 0) return ['Conditions:   none yet'];
  return [
    'Conditions:',
    ...formatTable(
      [
        ['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'],
        ...conditions.map((c) => [
          c.type,
          c.status,
          show(c.reason),
          ageSince(c.lastTransitionTime, now),
          c.message ?? '',
        ]),
      ],
      '  ',
    ),
  ];
}

/** One release: its table row, then its revisions (a failed one too), last check and conditions. */
export function renderRelease(canary: CanaryView, now: number, program = 'sluice'): string {
  const { status } = canary;
  const revisions = [
    `stable ${show(status.stableRevision)}`,
    `candidate ${show(status.candidateRevision)}`,
  ].join(', ');
  const lines = [
    renderTable([canary], { allNamespaces: false, now }),
    '',
    `Deployment:   ${canary.namespace}/${canary.deployment}`,
    `Revisions:    ${revisions}`,
  ];
  const target = `${canary.deployment} -n ${canary.namespace}`;
  if (status.failedRevision) {
    lines.push(
      `Failed:       revision ${status.failedRevision} was rolled back; it is not started again until ` +
        `${program} retry ${target}`,
    );
  }
  if (status.phase === 'Waiting' || status.phase === 'WaitingPromotion') {
    const gate = status.phase === 'Waiting' ? 'confirm-rollout' : 'confirm-promotion';
    lines.push(
      `Held:         a ${gate} gate (sluice.dev/webhooks) holds the release until it answers 2xx; ` +
        `${program} promote ${target} promotes now, ${program} abort ${target} rolls back`,
    );
  }
  if (status.phase === 'Failed' && status.failedRevision) {
    // What a GitOps tool or `kubectl get` shows next to what runs: the spec keeps what the user asked for.
    lines.push(
      `              The Deployment stays paused with revision ${status.failedRevision} in its spec, so Git and ` +
        `Helm see no drift, while its pods keep running stable revision ${show(status.stableRevision)}.`,
      `              To go back, set the template back (git revert, helm rollback, or the old image): sluice ` +
        `unpauses it with no rollout. A new template starts a new release.`,
    );
  }
  if (status.outcome) {
    lines.push(`Last result:  ${status.outcome.reason}: ${status.outcome.message}`);
  }
  if (status.iterations) lines.push(`Iterations:   ${status.iterations} passing checks (A/B)`);
  if (status.phase === 'Mirroring' || status.mirrorChecks) {
    lines.push(`Mirroring:    ${status.mirrorChecks ?? 0} passing checks of copies sent to the canary`);
  }
  lines.push('', ...analysisLines(canary, now), '', ...conditionLines(status.conditions ?? [], now));
  return lines.join('\n');
}

/** `-o json`: the objects' status as stored; one object for a named release, else a list. */
export function renderJson(canaries: readonly CanaryView[], single: boolean): string {
  const shape = (c: CanaryView) => ({
    namespace: c.namespace,
    name: c.name,
    deployment: c.deployment,
    status: c.rawStatus,
  });
  return JSON.stringify(single && canaries[0] ? shape(canaries[0]) : canaries.map(shape), null, 2);
}
