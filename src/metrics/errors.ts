/** Why a provider could not answer. Analysis counts any of them as a failed check (DESIGN.md). */
export abstract class MetricsError extends Error {
  abstract readonly code: string;
}

/** Prometheus, or every proxy of the release, could not be reached. */
export class ProviderUnreachableError extends MetricsError {
  readonly code = 'ProviderUnreachable';
  constructor(
    readonly provider: string,
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super(`${provider} at ${url} is unreachable${describeCause(options?.cause)}`, options);
    this.name = 'ProviderUnreachableError';
  }
}

/** Prometheus refused a query: a bug in the query or an unsupported server. */
export class BadQueryError extends MetricsError {
  readonly code = 'BadQuery';
  constructor(
    readonly query: string,
    reason: string,
  ) {
    super(`Prometheus rejected the query ${query}: ${reason}`);
    this.name = 'BadQueryError';
  }
}

/** A query that must have a value returned none: the series are not scraped, or were renamed. */
export class NoValuesError extends MetricsError {
  readonly code = 'NoValues';
  constructor(readonly query: string) {
    super(`no values for ${query}; is Prometheus scraping the sluice proxies?`);
    this.name = 'NoValuesError';
  }
}

/** A proxy's /metrics answered with something that is not the Prometheus text format. */
export class BadExpositionError extends MetricsError {
  readonly code = 'BadExposition';
  constructor(
    readonly line: number,
    readonly text: string,
  ) {
    super(`line ${line} is not Prometheus text format: ${text.slice(0, 120)}`);
    this.name = 'BadExpositionError';
  }
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? `: ${cause.message}` : '';
}
