import { ApiException, FetchError, KubeConfig } from '@kubernetes/client-node';

/**
 * The operator commands' way into a cluster, as kubectl finds it: `--kubeconfig`, else `KUBECONFIG`, else
 * `~/.kube/config`; the namespace from `-n`, else the current context's, else `default`. Every failure
 * becomes an OperatorError whose message is the one line the user sees.
 */

/** A failure the operator commands report in one line, exiting 1. */
export class OperatorError extends Error {
  readonly code: string = 'Operator';
}

/** The kubeconfig could not be read, or names no cluster to talk to. */
export class KubeconfigError extends OperatorError {
  override readonly code = 'Kubeconfig';
  override readonly name = 'KubeconfigError';
}

/** No answer from the API server: refused, unresolvable, a TLS failure, a credential plugin that failed. */
export class ApiUnreachableError extends OperatorError {
  override readonly code = 'ApiUnreachable';
  override readonly name = 'ApiUnreachableError';
}

/** The API server answered with an error status (401, 403, 404, 409, 5xx…). */
export class ApiStatusError extends OperatorError {
  override readonly code = 'ApiStatus';
  override readonly name = 'ApiStatusError';
  constructor(
    message: string,
    readonly status: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface Connection {
  readonly kubeConfig: KubeConfig;
  /** The namespace to act in: `-n`, else the context's, else `default`. */
  readonly namespace: string;
  /** The API server's URL, for error messages. */
  readonly server: string;
  readonly context: string;
}

export function connect(options: {
  kubeconfig?: string | undefined;
  namespace?: string | undefined;
}): Connection {
  const kubeConfig = new KubeConfig();
  const source = options.kubeconfig ?? 'the default kubeconfig (KUBECONFIG, else ~/.kube/config)';
  try {
    if (options.kubeconfig !== undefined) kubeConfig.loadFromFile(options.kubeconfig);
    else kubeConfig.loadFromDefault();
  } catch (err) {
    throw new KubeconfigError(`cannot read ${source}: ${firstLine(err)}`, { cause: err });
  }
  const context = kubeConfig.getCurrentContext();
  const cluster = kubeConfig.getCurrentCluster();
  // With no kubeconfig anywhere and not in a pod, client-node falls back to a made-up localhost:8080.
  if (context === 'loaded-context' && cluster?.server === 'http://localhost:8080') {
    throw new KubeconfigError(
      'no kubeconfig found: KUBECONFIG is not set and ~/.kube/config does not exist (or use --kubeconfig)',
    );
  }
  if (cluster === null) {
    throw new KubeconfigError(
      `${source} has no cluster for its current context "${context}" (see kubectl config get-contexts)`,
    );
  }
  const contextNamespace = kubeConfig.getContextObject(context)?.namespace;
  return {
    kubeConfig,
    namespace: options.namespace ?? (contextNamespace || 'default'),
    server: cluster.server,
    context,
  };
}

/**
 * Turns what a client-node call threw into an OperatorError naming what was attempted (`doing`, e.g.
 * "read deployment shop/podinfo") and why it failed, with the server's own message when it sent one.
 */
export function apiError(err: unknown, doing: string, connection: Connection): OperatorError {
  if (err instanceof OperatorError) return err;
  if (err instanceof ApiException) {
    const status = err.code;
    const reason = statusMessage(err.body) ?? STATUS_TEXT[status] ?? `HTTP ${status}`;
    const hint =
      status === 401
        ? ` (the credentials of context "${connection.context}" were not accepted by ${connection.server})`
        : '';
    return new ApiStatusError(`cannot ${doing}: ${reason}${hint}`, status, { cause: err });
  }
  if (err instanceof FetchError) {
    return new ApiUnreachableError(
      `cannot ${doing}: the Kubernetes API at ${connection.server} did not answer (${reasonOf(err)})`,
      { cause: err },
    );
  }
  return new ApiUnreachableError(`cannot ${doing}: ${firstLine(err)}`, { cause: err });
}

export const isNotFound = (err: unknown): boolean => err instanceof ApiException && err.code === 404;

const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  422: 'Invalid',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The `message` of a Kubernetes Status body, as client-node passes it: a JSON string, or parsed. */
function statusMessage(body: unknown): string | undefined {
  let status: unknown = body;
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body);
    } catch {
      return body.trim() === '' ? undefined : body.trim().split('\n')[0];
    }
  }
  const message = (status as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message !== '' ? message : undefined;
}

/** node-fetch's message repeats the URL; its code, or the reason after it, is what the user needs. */
function reasonOf(err: FetchError): string {
  const reason = /reason: (.*)$/s.exec(err.message)?.[1]?.trim();
  return reason ?? err.code ?? err.message;
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? message;
}

/**
 * Runs an operator command's body; an OperatorError is printed as its one line, anything else as one line
 * too (never a stack trace), both exiting 1.
 */
export async function reportingErrors(prefix: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    const message = err instanceof OperatorError ? err.message : `unexpected error: ${firstLine(err)}`;
    console.error(`${prefix}: ${message}`);
    return 1;
  }
}
