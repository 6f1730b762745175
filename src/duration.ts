/**
 * Go-style durations ("300ms", "1m30s", "2h"), as Kubernetes users write them in annotations and flags.
 * Parsed into milliseconds; formatted back the same way.
 */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

const TERM = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;

export class InvalidDurationError extends Error {
  readonly code = 'InvalidDuration';
  constructor(readonly input: string) {
    super(`"${input}" is not a duration: write a number and a unit (ms, s, m, h), e.g. 500ms, 30s, 1m30s`);
    this.name = 'InvalidDurationError';
  }
}

/** Milliseconds in a Go-style duration; throws InvalidDurationError. "0" alone is allowed, as in Go. */
export function parseDuration(input: string): number {
  const text = input.trim();
  if (text === '0') return 0;
  if (text === '') throw new InvalidDurationError(input);
  let total = 0;
  TERM.lastIndex = 0;
  while (TERM.lastIndex < text.length) {
    const start = TERM.lastIndex;
    const match = TERM.exec(text);
    if (match === null || match.index !== start) throw new InvalidDurationError(input);
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  }
  if (!Number.isFinite(total)) throw new InvalidDurationError(input);
  return total;
}

/** The shortest Go-style spelling of a duration in milliseconds: 90000 → "1m30s", 250 → "250ms". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1_000) return `${round(ms)}ms`;
  let rest = ms;
  let out = '';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  if (rest > 0) out += `${round(rest / 1_000)}s`;
  return out;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
