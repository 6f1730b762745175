import type { OptionSpecs, OptionValues } from './options.js';

/** One `sluice` subcommand: its options and what it runs. The exit code is the promise's value. */
export interface Command<S extends OptionSpecs = OptionSpecs> {
  summary: string;
  options: S;
  run(values: OptionValues<S>): Promise<number>;
}

export function defineCommand<S extends OptionSpecs>(command: Command<S>): Command<S> {
  return command;
}
