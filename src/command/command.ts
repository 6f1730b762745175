import type { OptionSpecs, OptionValues, PositionalSpecs, PositionalValues } from './options.js';

/** One `sluice` subcommand: its options, its positional arguments and what it runs. The exit code is the promise's value. */
export interface Command<S extends OptionSpecs = OptionSpecs, P extends PositionalSpecs = PositionalSpecs> {
  summary: string;
  options: S;
  /** In order; none when absent, and then any argument that is not a flag is a usage error. */
  positionals?: P;
  run(values: OptionValues<S>, args: PositionalValues<P>, context: RunContext): Promise<number>;
}

export interface RunContext {
  /** How the user called the CLI, for messages: `sluice`, or `kubectl sluice` through the kubectl plugin. */
  readonly program: string;
}

export function defineCommand<S extends OptionSpecs, const P extends PositionalSpecs = []>(
  command: Command<S, P>,
): Command<S, P> {
  return command;
}
