import { z } from 'zod';
import { parseDuration } from '../duration.js';

/**
 * Command-line options, each also settable by an env var (`--app-port` ⇔ `SLUICE_APP_PORT`), validated
 * once here with a schema so that the rest of the program receives typed, frozen values.
 */

export interface OptionSpec<T = unknown> {
  description: string;
  /** Parses the raw string (from the flag or the env var); its error message says what is allowed. */
  schema: z.ZodType<T>;
  /** Used when neither the flag nor the env var is set; absent means the option is required. */
  default?: string;
  /** A flag that takes no value (`--standalone`); its env var is read as true/false. */
  boolean?: boolean;
  /** May be left unset, and then is undefined. */
  optional?: boolean;
}

export type OptionSpecs = Record<string, OptionSpec>;

export type OptionValues<S extends OptionSpecs> = {
  readonly [K in keyof S]: S[K] extends OptionSpec<infer T>
    ? S[K]['optional'] extends true
      ? T | undefined
      : T
    : never;
};

/** Bad usage: the CLI prints the message and exits 2. */
export class UsageError extends Error {
  readonly code = 'Usage';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const envName = (name: string): string => `SLUICE_${kebab(name).toUpperCase().replace(/-/g, '_')}`;

export function parseOptions<S extends OptionSpecs>(
  specs: S,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): OptionValues<S> {
  const byFlag = new Map(Object.keys(specs).map((name) => [`--${kebab(name)}`, name]));
  const raw = new Map<string, { value: string; source: string }>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const name = byFlag.get(flag);
    if (name === undefined) {
      throw new UsageError(
        arg.startsWith('-')
          ? `unknown option ${flag}`
          : `unexpected argument "${arg}" (options start with --)`,
      );
    }
    const spec = specs[name] as OptionSpec;
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (spec.boolean) value = 'true';
    else {
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      value = next;
    }
    raw.set(name, { value, source: flag });
  }

  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const flag = `--${kebab(name)}`;
    const envKey = envName(name);
    const given =
      raw.get(name) ?? (env[envKey] !== undefined ? { value: env[envKey], source: envKey } : undefined);
    const input = given?.value ?? spec.default ?? (spec.boolean ? 'false' : undefined);
    if (input === undefined) {
      if (spec.optional) continue;
      throw new UsageError(`${flag} (or ${envKey}) is required: ${spec.description}`);
    }
    const parsed = (spec.boolean ? booleanFlag : spec.schema).safeParse(input);
    if (!parsed.success) {
      const why = parsed.error.issues.map((issue) => issue.message).join('; ');
      throw new UsageError(`${given?.source ?? flag}: "${input}" is not valid: ${why}`);
    }
    values[name] = parsed.data;
  }
  return Object.freeze(values) as OptionValues<S>;
}

export function formatHelp(command: string, summary: string, specs: OptionSpecs): string {
  const lines = [
    `Usage: sluice ${command} [options]`,
    '',
    summary,
    '',
    'Options (each also settable by its env var):',
  ];
  const rows = Object.entries(specs).map(([name, spec]) => {
    const flag = `--${kebab(name)}${spec.boolean ? '' : ' <value>'}`;
    const extra =
      spec.default !== undefined ? ` [${spec.default}]` : spec.optional || spec.boolean ? '' : ' (required)';
    return [`  ${flag}`, `${spec.description}${extra}  $${envName(name)}`] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length), 0) + 2;
  for (const [flag, text] of rows) lines.push(flag.padEnd(width) + text);
  lines.push(`  --help`.padEnd(width) + 'show this help');
  return lines.join('\n');
}

const booleanFlag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

// Schemas shared by the commands' options.

export const portSchema = z
  .string()
  .regex(/^\d+$/, 'expected a port number from 1 to 65535')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 65535, 'expected a port number from 1 to 65535');

/** Port 0 asks the system for a free port: for tests and the demo. */
export const listenPortSchema = z
  .string()
  .regex(/^\d+$/, 'expected a port number from 0 to 65535')
  .transform(Number)
  .refine((n) => n <= 65535, 'expected a port number from 0 to 65535');

export const durationSchema = (minMs = 0) =>
  z.string().transform((text, ctx) => {
    try {
      const ms = parseDuration(text);
      if (ms < minMs) ctx.addIssue({ code: 'custom', message: `must be at least ${minMs}ms` });
      return ms;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

export const httpUrlSchema = z
  .string()
  .refine(
    (s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol),
    'expected an http:// or https:// URL',
  )
  .transform((s) => s.replace(/\/+$/, ''));

/** A DNS-1123 label, as Kubernetes names namespaces and Deployments. */
export const nameSchema = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
    'expected a Kubernetes name (lower-case letters, digits, -)',
  );
