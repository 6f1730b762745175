import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  durationSchema,
  formatHelp,
  nameSchema,
  parseArgs,
  parseOptions,
  portSchema,
  UsageError,
} from '../../src/command/options.js';
import { programName } from '../../src/cli/main.js';

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

describe('positional arguments and short flags', () => {
  const command = {
    options: {
      namespace: { description: 'namespace', schema: nameSchema, optional: true, short: 'n' },
      allNamespaces: { description: 'every namespace', schema: z.boolean(), boolean: true, short: 'A' },
    },
    positionals: [
      { name: 'deployment', description: 'the Deployment', schema: nameSchema },
      { name: 'container', description: 'one container', schema: z.string(), optional: true },
    ],
  } as const;

  it('reads positionals in order, among flags in any place', () => {
    const parsed = parseArgs(command, ['-n', 'shop', 'podinfo', '-A', 'app'], {});
    expect(parsed.positionals).toEqual({ deployment: 'podinfo', container: 'app' });
    expect(parsed.options).toEqual({ namespace: 'shop', allNamespaces: true });
    const deployment: string = parsed.positionals.deployment;
    const container: string | undefined = parsed.positionals.container;
    expect([deployment, container]).toEqual(['podinfo', 'app']);
  });

  it('leaves an optional positional undefined', () => {
    expect(parseArgs(command, ['podinfo'], {}).positionals).toEqual({ deployment: 'podinfo' });
  });

  it('reads short flags as kubectl users type them: -n shop, -n=shop, -nshop', () => {
    for (const argv of [['-n', 'shop'], ['-n=shop'], ['-nshop'], ['--namespace', 'shop']]) {
      expect(parseArgs(command, [...argv, 'podinfo'], {}).options.namespace).toBe('shop');
    }
    expect(() => parseArgs(command, ['-Ax', 'podinfo'], {})).toThrow(/-A takes no value/);
    expect(() => parseArgs(command, ['-x', 'podinfo'], {})).toThrow(/unknown option -x/);
  });

  it('names a missing positional and what it is', () => {
    expect(() => parseArgs(command, ['-n', 'shop'], {})).toThrow(UsageError);
    expect(() => parseArgs(command, ['-n', 'shop'], {})).toThrow('missing <deployment>: the Deployment');
  });

  it('names extra arguments and what the command takes', () => {
    expect(() => parseArgs(command, ['a', 'b', 'c', 'd'], {})).toThrow(
      'unexpected arguments "c" "d" (expected only <deployment> [container])',
    );
    expect(() => parseOptions(specs, ['--app-port', '1', 'stray'], {})).toThrow(
      'unexpected argument "stray" (options start with --)',
    );
  });

  it('validates a positional with its schema', () => {
    expect(() => parseArgs(command, ['PodInfo'], {})).toThrow(
      /<deployment>: "PodInfo" is not valid: expected a Kubernetes name/,
    );
  });

  it('takes everything after -- as positional', () => {
    expect(parseArgs(command, ['--', 'podinfo', '-A'], {}).positionals).toEqual({
      deployment: 'podinfo',
      container: '-A',
    });
  });

  it('lists arguments and short flags in help', () => {
    const help = formatHelp(
      'status',
      'Show releases.',
      command.options,
      command.positionals,
      'kubectl sluice',
    );
    expect(help).toContain('Usage: kubectl sluice status <deployment> [container] [options]');
    expect(help).toMatch(/Arguments:\n {2}<deployment> +the Deployment\n {2}\[container\] +one container/);
    expect(help).toMatch(/ {2}-n, --namespace <value> +namespace {2}\$SLUICE_NAMESPACE/);
    expect(help).toMatch(/ {2}-A, --all-namespaces +every namespace/);
  });

  it('keeps a command without positionals as it was', () => {
    expect(formatHelp('proxy', 'The proxy.', specs)).not.toContain('Arguments:');
    expect(parseOptions(specs, ['--app-port=1'], {})).toMatchObject({ appPort: 1 });
  });
});

describe('the program name', () => {
  it('is kubectl sluice when started as the kubectl plugin, else sluice', () => {
    expect(programName('/usr/local/bin/kubectl-sluice')).toBe('kubectl sluice');
    expect(programName('/usr/local/lib/node_modules/sluice/bin/sluice.js')).toBe('sluice');
    expect(programName(undefined)).toBe('sluice');
  });
});
