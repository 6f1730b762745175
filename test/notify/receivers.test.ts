import { describe, expect, it } from 'vitest';
import { InvalidReceiverError, parseReceivers } from '../../src/notify/receivers.js';

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const SECRET = 'sluice-system/sluice-notifications';

describe('the notifications Secret', () => {
  it('names each receiver and its format by the key', () => {
    const { receivers, errors } = parseReceivers(SECRET, {
      slack: b64('https://hooks.slack.com/services/T0/B0/xyz\n'),
      'teams-releases': b64('https://example.invalid/workflows/abc'),
      'json-audit': b64('http://audit.tools:8080/sluice'),
    });
    expect(errors).toEqual([]);
    expect(receivers.map((r) => [r.name, r.format, r.url.href])).toEqual([
      ['json-audit', 'json', 'http://audit.tools:8080/sluice'],
      ['slack', 'slack', 'https://hooks.slack.com/services/T0/B0/xyz'],
      ['teams-releases', 'teams', 'https://example.invalid/workflows/abc'],
    ]);
  });

  it('reports a bad key or value by the key, never by the value, and keeps the good ones', () => {
    const { receivers, errors } = parseReceivers(SECRET, {
      discord: b64('https://discord.invalid/api/webhooks/1/secret-token'),
      'slack-ops': b64('not a url secret-token'),
      'json-ftp': b64('ftp://files.invalid/secret-token'),
      teams: b64('https://example.invalid/ok'),
    });
    expect(receivers.map((r) => r.name)).toEqual(['teams']);
    expect(errors.map((e) => [e.key, e.code])).toEqual([
      ['discord', 'InvalidReceiver'],
      ['json-ftp', 'InvalidReceiver'],
      ['slack-ops', 'InvalidReceiver'],
    ]);
    expect(errors[0]).toBeInstanceOf(InvalidReceiverError);
    expect(errors[0]?.message).toBe(
      `Secret ${SECRET}, key discord: the key must be a format (slack, teams, json), optionally followed by -name, e.g. slack-releases`,
    );
    for (const error of errors) expect(error.message).not.toContain('secret-token');
  });

  it('has no receivers when the Secret has no data', () => {
    expect(parseReceivers(SECRET, undefined)).toEqual({ receivers: [], errors: [] });
  });
});
