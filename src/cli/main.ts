import { formatHelp, parseArgs, UsageError } from '../command/options.js';
import type { Action } from '../annotations.js';
import type { Command } from '../command/command.js';

function actionEntry(action: Action, summary: string): { summary: string; load: () => Promise<Command> } {
  return {
    summary,
    load: async () =>
      (await import('./action-command.js')).actionCommand(action, summary) as unknown as Command,
  };
}

/** The subcommands of DESIGN.md, "The parts"; each is loaded only when it runs. */
const COMMANDS: Record<string, { summary: string; load?: () => Promise<Command> }> = {
  proxy: {
    summary: 'the sidecar that splits traffic between the local app and the canary, and exports metrics',
    load: async () => (await import('../../proxy/command.js')).proxyCommand as unknown as Command,
  },
  webhook: {
    summary: 'the admission webhook that injects the proxy and holds changes as canaries',
    load: async () => (await import('../../webhook/command.js')).webhookCommand as unknown as Command,
  },
  controller: {
    summary: 'watches opted-in Deployments, runs the analysis, serves routes to the proxies',
    load: async () => (await import('../controller/command.js')).controllerCommand as unknown as Command,
  },
  demo: {
    summary: 'a whole release on this machine, no cluster needed',
    load: async () => (await import('../demo/command.js')).demoCommand as unknown as Command,
  },
  status: {
    summary: 'show the releases (like kubectl get canaries, with the last check)',
    load: async () => (await import('./status-command.js')).statusCommand as unknown as Command,
  },
  promote: actionEntry('promote', 'promote the running canary now'),
  abort: actionEntry('abort', 'roll the running canary back now'),
  retry: actionEntry('retry', 'start a failed release again'),
  pause: actionEntry('pause', 'hold the canary at its weight'),
  resume: actionEntry('resume', 'continue a paused release'),
};

const EXIT_USAGE = 2;

function usage(program: string): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2;
  return [
    `Usage: ${program} <command> [options]`,
    '',
    'Progressive delivery for Kubernetes without a service mesh.',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(
      ([name, c]) => `  ${name.padEnd(width)}${c.summary}${c.load ? '' : ' (not built yet)'}`,
    ),
    '',
    `Run '${program} <command> --help' for a command's options.`,
  ].join('\n');
}

/** `program` is how the user called it: `sluice`, or `kubectl sluice` through the kubectl-sluice plugin. */
export async function main(argv: readonly string[], program = 'sluice'): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage(program));
    return name === undefined ? EXIT_USAGE : 0;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    console.error(`${program}: unknown command "${name}"\n\n${usage(program)}`);
    return EXIT_USAGE;
  }
  if (entry.load === undefined) {
    console.error(`${program} ${name}: not built yet in this version (${entry.summary})`);
    return EXIT_USAGE;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(formatHelp(name, command.summary, command.options, command.positionals, program));
    return 0;
  }
  let args;
  try {
    args = parseArgs(command, rest);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${program} ${name}: ${err.message}\nRun '${program} ${name} --help' for the usage.`);
    return EXIT_USAGE;
  }
  return command.run(args.options, args.positionals, { program });
}

/** The program name for messages, from the path the process was started by. */
export function programName(scriptPath: string | undefined): string {
  const base = scriptPath?.split(/[\\/]/).pop() ?? '';
  return /^kubectl-sluice(\.js)?$/.test(base) ? 'kubectl sluice' : 'sluice';
}
