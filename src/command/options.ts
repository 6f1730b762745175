import { z } from 'zod';
import { parseDuration } from '../duration.js';

/**
 * Command-line options, each also settable by an env var (`--app-port` ⇔ `SLUICE_APP_PORT`), and
 * positional arguments, validated once here with a schema so that the rest of the program receives typed,
 * frozen values.
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
  /** A one-letter spelling, as kubectl users type `-n shop` and `-A`. */
  short?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

export type OptionValues<S extends OptionSpecs> = {
  readonly [K in keyof S]: S[K] extends OptionSpec<infer T>
    ? S[K]['optional'] extends true
      ? T | undefined
      : T
    : never;
};

/** An argument given by its place (`sluice promote podinfo`); it has no env var. */
export interface PositionalSpec<T = unknown> {
  /** Shown in help and errors as `<name>`, or `[name]` when optional. */
  name: string;
  description: string;
  schema: z.ZodType<T>;
  /** May be left out, and then is undefined; only the last ones may be optional. */
  optional?: boolean;
}

export type PositionalSpecs = readonly PositionalSpec[];

export type PositionalValues<P extends PositionalSpecs> = {
  readonly [K in P[number] as K['name']]: K extends PositionalSpec<infer T>
    ? K['optional'] extends true
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
const placeholder = (spec: PositionalSpec): string => (spec.optional ? `[${spec.name}]` : `<${spec.name}>`);

export interface ArgSpecs<S extends OptionSpecs, P extends PositionalSpecs> {
  options: S;
  positionals?: P;
}

export interface ParsedArgs<S extends OptionSpecs, P extends PositionalSpecs> {
  options: OptionValues<S>;
  positionals: PositionalValues<P>;
}

/** Options only: any argument that is not a flag is an error. */
export function parseOptions<S extends OptionSpecs>(
  specs: S,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): OptionValues<S> {
  return parseArgs({ options: specs }, argv, env).options;
}

/**
 * Flags (`--name value`, `--name=value`, `-n value`, `-n=value`, `-nvalue`) in any order among the
 * positional arguments; after `--`, everything is positional.
 */
export function parseArgs<S extends OptionSpecs, P extends PositionalSpecs = []>(
  specs: ArgSpecs<S, P>,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): ParsedArgs<S, P> {
  const options = specs.options;
  const positionalSpecs: PositionalSpecs = specs.positionals ?? [];
  const byFlag = new Map(Object.keys(options).map((name) => [`--${kebab(name)}`, name]));
  for (const [name, spec] of Object.entries(options)) {
    if (spec.short !== undefined) byFlag.set(`-${spec.short}`, name);
  }
  const raw = new Map<string, { value: string; source: string }>();
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      words.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      words.push(arg);
      continue;
    }
    // `--flag=value`, and for a short flag `-n=value` or `-nvalue`
    const split = arg.startsWith('--') ? arg.indexOf('=') : arg.length > 2 ? 2 : -1;
    const flag = split === -1 ? arg : arg.slice(0, split);
    const name = byFlag.get(flag);
    if (name === undefined) throw new UsageError(`unknown option ${flag}`);
    const spec = options[name] as OptionSpec;
    let value: string;
    if (split !== -1) {
      value = arg.slice(split).replace(/^=/, '');
      if (spec.boolean && arg[split] !== '=') throw new UsageError(`${flag} takes no value (in "${arg}")`);
    } else if (spec.boolean) value = 'true';
    else {
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      value = next;
    }
    raw.set(name, { value, source: flag });
  }

  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(options)) {
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
      throw new UsageError(`${given?.source ?? flag}: "${input}" is not valid: ${reasons(parsed.error)}`);
    }
    values[name] = parsed.data;
  }

  const positionals: Record<string, unknown> = {};
  if (words.length > positionalSpecs.length) {
    const extra = words.slice(positionalSpecs.length).map((w) => `"${w}"`);
    const takes =
      positionalSpecs.length === 0
        ? 'options start with --'
        : `expected only ${positionalSpecs.map(placeholder).join(' ')}`;
    throw new UsageError(`unexpected argument${extra.length > 1 ? 's' : ''} ${extra.join(' ')} (${takes})`);
  }
  for (const [i, spec] of positionalSpecs.entries()) {
    const word = words[i];
    if (word === undefined) {
      if (spec.optional) continue;
      throw new UsageError(`missing ${placeholder(spec)}: ${spec.description}`);
    }
    const parsed = spec.schema.safeParse(word);
    if (!parsed.success) {
      throw new UsageError(`${placeholder(spec)}: "${word}" is not valid: ${reasons(parsed.error)}`);
    }
    positionals[spec.name] = parsed.data;
  }
  return {
    options: Object.freeze(values) as OptionValues<S>,
    positionals: Object.freeze(positionals) as PositionalValues<P>,
  };
}

const reasons = (error: z.ZodError): string => error.issues.map((issue) => issue.message).join('; ');

export function formatHelp(
  command: string,
  summary: string,
  specs: OptionSpecs,
  positionals: PositionalSpecs = [],
  program = 'sluice',
): string {
  const usage = [`${program} ${command}`, ...positionals.map(placeholder), '[options]'].join(' ');
  const lines = [`Usage: ${usage}`, '', summary, ''];
  const rows = (entries: (readonly [string, string])[]): string[] => {
    const width = Math.max(...entries.map(([left]) => left.length)) + 2;
    return entries.map(([left, text]) => left.padEnd(width) + text);
  };
  if (positionals.length > 0) {
    lines.push('Arguments:');
    lines.push(...rows(positionals.map((spec) => [`  ${placeholder(spec)}`, spec.description])), '');
  }
  lines.push('Options (each also settable by its env var):');
  // As kubectl's help does: long names line up whether or not a flag has a short one.
  const anyShort = Object.values(specs).some((spec) => spec.short !== undefined);
  const options = Object.entries(specs).map(([name, spec]) => {
    const short = spec.short !== undefined ? `-${spec.short}, ` : anyShort ? '    ' : '';
    const flag = `${short}--${kebab(name)}${spec.boolean ? '' : ' <value>'}`;
    const extra =
      spec.default !== undefined ? ` [${spec.default}]` : spec.optional || spec.boolean ? '' : ' (required)';
    return [`  ${flag}`, `${spec.description}${extra}  $${envName(name)}`] as const;
  });
  lines.push(...rows([...options, [anyShort ? '  -h, --help' : '  --help', 'show this help']]));
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
