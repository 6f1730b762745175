import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs to stdout (DESIGN.md, "Logs"): static messages, lowerCamelCase keys, `err` for errors.
 * SLUICE_LOG_LEVEL sets the level (default info; `silent` in tests that do not read logs).
 */
export function createLogger(
  component: string,
  level = process.env['SLUICE_LOG_LEVEL'] ?? 'info',
  /** A file descriptor: 1 (stdout) unless a command keeps stdout for its own output. */
  fd: 1 | 2 = 1,
): Logger {
  const options = { level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime };
  return fd === 1 ? pino(options) : pino(options, pino.destination(fd));
}
