import { apiPath, type KubeObject, type KubeRest } from '../kube/rest.js';
import type { Logger } from '../log.js';
import { parseReceivers, type Receiver } from './receivers.js';

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

export interface SecretReceiversOptions {
  rest: KubeRest;
  namespace: string;
  name: string;
  logger: Logger;
  /** How often the Secret is read again, so that a new or rotated URL takes effect without a restart [30 s]. */
  refreshMs?: number;
  now?: () => number;
}

/**
 * The receivers named by the controller's `--notifications-secret`, read from the API (the controller may
 * get that one Secret in its own namespace, manifests/rbac.yaml). A missing Secret means no
 * notifications; the last good read is kept while the API cannot be reached.
 */
export class SecretReceivers {
  private receivers: readonly Receiver[] = [];
  private readAt = Number.NEGATIVE_INFINITY;
  private reading: Promise<void> | null = null;
  /** What was last logged about the Secret, so that each state is said once, not every refresh. */
  private said = '';
  private readonly now: () => number;

  constructor(private readonly options: SecretReceiversOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The receivers as last read; starts a read in the background when that was too long ago. */
  current(): readonly Receiver[] {
    if (this.now() - this.readAt >= (this.options.refreshMs ?? 30_000)) void this.refresh();
    return this.receivers;
  }

  /** Reads the Secret now (once at a time); never throws. */
  refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => {
      this.reading = null;
    });
    return this.reading;
  }

  private async read(): Promise<void> {
    const { rest, namespace, name, logger } = this.options;
    const fields = { namespace, secret: name };
    this.readAt = this.now();
    let secret: SecretObject | null;
    try {
      secret = await rest.getOrNull<SecretObject>(apiPath('v1', 'secrets', namespace, name));
    } catch (err) {
      this.sayOnce(`error ${String((err as { code?: unknown }).code)}`, () =>
        logger.warn(
          {
            ...fields,
            err,
            fix: 'the last receivers read are kept; check that the controller may get this Secret (manifests/rbac.yaml)',
          },
          'notificationSecretUnreadable',
        ),
      );
      return;
    }
    if (secret === null) {
      this.receivers = [];
      this.sayOnce('absent', () => logger.info(fields, 'notificationSecretNotFoundNoNotifications'));
      return;
    }
    const parsed = parseReceivers(`${namespace}/${name}`, secret.data);
    this.receivers = parsed.receivers;
    const names = parsed.receivers.map((r) => r.name);
    const problems = parsed.errors.map((e) => e.message);
    this.sayOnce(JSON.stringify([names, problems, parsed.receivers.map((r) => r.url.href)]), () => {
      for (const problem of problems) logger.warn({ ...fields, problem }, 'notificationReceiverInvalid');
      logger.info({ ...fields, receivers: names }, 'notificationReceiversLoaded');
    });
  }

  private sayOnce(state: string, say: () => void): void {
    if (state === this.said) return;
    this.said = state;
    say();
  }
}
