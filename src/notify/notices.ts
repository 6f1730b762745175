import type { NotificationLevel } from '../annotations.js';
import type { EventReason, ReleaseAction, ReleaseStatus } from '../release/status.js';

/**
 * What a release tells chat: the Events the state machine emits (src/release/machine.ts), the ones worth
 * a message, with the release's facts. Pure: the Notifier sends what this returns.
 */

export interface ReleaseNotice {
  readonly namespace: string;
  readonly deployment: string;
  readonly reason: EventReason;
  readonly type: 'Normal' | 'Warning';
  /** The Event's message, as `kubectl describe` shows it. */
  readonly message: string;
  readonly revision: string | null;
  readonly stableRevision: string | null;
  readonly phase: ReleaseStatus['phase'];
  readonly weight: number;
  /** RFC 3339. */
  readonly time: string;
}

const TITLES: Partial<Record<EventReason, string>> = {
  CanaryStarted: 'release started',
  Promoted: 'promoted',
  RolledBack: 'rolled back',
  Reverted: 'reverted',
  CanaryCancelled: 'release cancelled',
  WeightIncreased: 'weight increased',
  CheckPassed: 'check passed',
  CheckFailed: 'check failed',
  Paused: 'paused',
  Resumed: 'resumed',
};

const RELEASE_REASONS: ReadonlySet<EventReason> = new Set([
  'CanaryStarted',
  'Promoted',
  'RolledBack',
  'Reverted',
  'CanaryCancelled',
]);
const STEP_REASONS: ReadonlySet<EventReason> = new Set([
  'WeightIncreased',
  'CheckPassed',
  'CheckFailed',
  'Paused',
  'Resumed',
]);

export function wanted(level: NotificationLevel, reason: EventReason): boolean {
  if (level === 'off') return false;
  return RELEASE_REASONS.has(reason) || (level === 'steps' && STEP_REASONS.has(reason));
}

/** The notices of one recorded step of a release. */
export function noticesOf(
  target: { namespace: string; deployment: string },
  level: NotificationLevel,
  step: { status: ReleaseStatus; actions: readonly ReleaseAction[]; at: number },
): ReleaseNotice[] {
  const { status } = step;
  const notices: ReleaseNotice[] = [];
  for (const action of step.actions) {
    if (action.type !== 'event' || !wanted(level, action.reason)) continue;
    notices.push({
      ...target,
      reason: action.reason,
      type: action.kind,
      message: action.message,
      // A revert or a cancel clears the candidate in the same step: the outcome still names it.
      revision: status.candidateRevision ?? status.outcome?.revision ?? null,
      stableRevision: status.stableRevision,
      phase: status.phase,
      weight: status.canaryWeight,
      time: new Date(step.at).toISOString(),
    });
  }
  return notices;
}

export function titleOf(notice: ReleaseNotice): string {
  return `${notice.deployment}.${notice.namespace}: ${TITLES[notice.reason] ?? notice.reason}`;
}

function factsOf(notice: ReleaseNotice): [string, string][] {
  return [
    ['Revision', notice.revision ?? 'none'],
    ['Stable', notice.stableRevision ?? 'none'],
    ['Phase', notice.phase],
    ['Weight', `${notice.weight}%`],
  ];
}

type Tone = 'good' | 'bad' | 'neutral';
const toneOf = (notice: ReleaseNotice): Tone =>
  notice.type === 'Warning' ? 'bad' : notice.reason === 'Promoted' ? 'good' : 'neutral';

const SLACK_COLORS: Record<Tone, string> = { good: '#2eb67d', bad: '#e01e5a', neutral: '#1d70b8' };

/**
 * Slack's incoming-webhook JSON: `text` is all that Slack-compatible receivers (Mattermost, Rocket.Chat,
 * Discord's /slack endpoint) must read; the attachment adds the colour bar and the facts.
 */
export function slackBody(notice: ReleaseNotice): unknown {
  const text = `*${titleOf(notice)}*\n${notice.message}`;
  return {
    text,
    attachments: [
      {
        color: SLACK_COLORS[toneOf(notice)],
        fallback: text,
        fields: factsOf(notice).map(([title, value]) => ({ title, value, short: true })),
      },
    ],
  };
}

const CARD_COLORS: Record<Tone, string> = { good: 'Good', bad: 'Attention', neutral: 'Accent' };

/**
 * A Teams message for a Workflows webhook ("When a Teams webhook request is received"): they take
 * Adaptive Cards only, not the MessageCard of the retired Office 365 connectors (which Flagger still sends).
 * Version 1.4 is the newest that every Teams client renders.
 */
export function teamsBody(notice: ReleaseNotice): unknown {
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            {
              type: 'TextBlock',
              text: titleOf(notice),
              weight: 'Bolder',
              size: 'Medium',
              color: CARD_COLORS[toneOf(notice)],
              wrap: true,
            },
            { type: 'TextBlock', text: notice.message, wrap: true },
            {
              type: 'FactSet',
              facts: factsOf(notice).map(([title, value]) => ({ title, value })),
            },
          ],
        },
      },
    ],
  };
}

/** Generic JSON for anything else (an audit log, a bot): the notice itself, field for field. */
export function jsonBody(notice: ReleaseNotice): unknown {
  return { kind: 'ReleaseNotice', ...notice };
}
