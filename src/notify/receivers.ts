/**
 * Where release notices go: the receivers of the notifications Secret (docs/notifications.md). Each data
 * key names one receiver and its format, the value is its webhook URL: `slack`, `teams-releases`,
 * `json-audit`. The URLs are credentials (a Slack or Teams webhook URL is all it takes to post), so they
 * are kept in the Receiver and never appear in an error, a log line, an Event or a status.
 */

export const FORMATS = ['slack', 'teams', 'json'] as const;
export type Format = (typeof FORMATS)[number];

export interface Receiver {
  /** The Secret's key, e.g. `slack-releases`: what logs and metrics name the receiver by. */
  readonly name: string;
  readonly format: Format;
  readonly url: URL;
}

const KEY = /^(slack|teams|json)(-[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?)?$/;

/** A key of the notifications Secret that is not a receiver; the value is never part of the message. */
export class InvalidReceiverError extends Error {
  readonly code = 'InvalidReceiver';
  constructor(
    readonly secret: string,
    readonly key: string,
    reason: string,
  ) {
    super(`Secret ${secret}, key ${key}: ${reason}`);
    this.name = 'InvalidReceiverError';
  }
}

export interface ParsedReceivers {
  readonly receivers: readonly Receiver[];
  readonly errors: readonly InvalidReceiverError[];
}

/**
 * Reads the Secret's data (values base64, as the API serves them). A bad key does not stop the good
 * ones: each is reported with what to change.
 */
export function parseReceivers(secret: string, data: Record<string, string> | undefined): ParsedReceivers {
  const receivers: Receiver[] = [];
  const errors: InvalidReceiverError[] = [];
  for (const [key, encoded] of Object.entries(data ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const match = KEY.exec(key);
    if (match === null) {
      errors.push(
        new InvalidReceiverError(
          secret,
          key,
          `the key must be a format (${FORMATS.join(', ')}), optionally followed by -name, e.g. slack-releases`,
        ),
      );
      continue;
    }
    const text = Buffer.from(encoded, 'base64').toString('utf8').trim();
    const url = URL.canParse(text) ? new URL(text) : null;
    if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      errors.push(
        new InvalidReceiverError(secret, key, 'the value must be the webhook URL, starting with https://'),
      );
      continue;
    }
    receivers.push({ name: key, format: match[1] as Format, url });
  }
  return { receivers, errors };
}
