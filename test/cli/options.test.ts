import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { durationSchema, parseOptions, portSchema, UsageError } from '../../src/cli/options.js';

const specs = {
  appPort: { description: 'the app port', schema: portSchema },
  routeTtl: { description: 'ttl', schema: durationSchema(), default: '5m' },
  role: { description: 'role', schema: z.enum(['primary', 'canary']), default: 'primary' },
  standalone: { description: 'no cluster', schema: z.boolean(), boolean: true },
  revision: { description: 'revision', schema: z.string(), optional: true },
};

describe('command-line options', () => {
  it('reads flags in both spellings and applies defaults', () => {
    const values = parseOptions(specs, ['--app-port', '8080', '--role=canary'], {});
    expect(values).toEqual({ appPort: 8080, routeTtl: 300_000, role: 'canary', standalone: false });
  });

  it('reads the matching env var when the flag is absent, and the flag wins over it', () => {
    const env = { SLUICE_APP_PORT: '9000', SLUICE_ROUTE_TTL: '30s', SLUICE_STANDALONE: 'true' };
    expect(parseOptions(specs, [], env)).toMatchObject({ appPort: 9000, routeTtl: 30_000, standalone: true });
    expect(parseOptions(specs, ['--app-port', '1'], env)).toMatchObject({ appPort: 1 });
  });

  it('names the option and what is allowed when a value is bad', () => {
    expect(() => parseOptions(specs, ['--app-port', '99999'], {})).toThrow(/--app-port.*1 to 65535/);
    expect(() => parseOptions(specs, ['--app-port', '1'], { SLUICE_ROUTE_TTL: 'soon' })).toThrow(
      /SLUICE_ROUTE_TTL.*duration/,
    );
    expect(() => parseOptions(specs, [], {})).toThrow(/--app-port \(or SLUICE_APP_PORT\) is required/);
  });

  it('rejects unknown options', () => {
    expect(() => parseOptions(specs, ['--app-port', '1', '--nope'], {})).toThrow(UsageError);
  });
});
