import { makeInformer, type KubernetesListObject } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import type { KubeObject, KubeRest } from './rest.js';

/**
 * A watched cache of one kind of object (client-node's list-and-watch), restarted after every error with
 * a growing delay, so that an API server restart or a dropped watch never leaves the cache frozen.
 */
export class Informer<T extends KubeObject> {
  private readonly informer;
  private synced = false;
  private stopped = false;
  private restartMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly handlers: ((object: T, kind: 'add' | 'update' | 'delete') => void)[] = [];

  constructor(
    rest: KubeRest,
    private readonly path: string,
    private readonly logger: Logger,
    labelSelector?: string,
  ) {
    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await rest.list<T>(path, labelSelector);
      this.synced = true;
      this.restartMs = 0;
      return result as unknown as KubernetesListObject<T>;
    };
    this.informer = makeInformer<T>(rest.kubeConfig, path, list, labelSelector);
    for (const kind of ['add', 'update', 'delete'] as const) {
      this.informer.on(kind, (object: T) => {
        for (const handler of this.handlers) handler(object, kind);
      });
    }
    this.informer.on('error', (err: unknown) => {
      if (this.stopped) return;
      this.restartMs = Math.min(30_000, Math.max(500, this.restartMs * 2));
      this.logger.warn({ err, path: this.path, retryInMs: this.restartMs }, 'watchFailed');
      this.timer = setTimeout(() => void this.start(), this.restartMs);
    });
  }

  get isSynced(): boolean {
    return this.synced;
  }

  onChange(handler: (object: T, kind: 'add' | 'update' | 'delete') => void): void {
    this.handlers.push(handler);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.informer.list(namespace);
  }

  async start(): Promise<void> {
    this.stopped = false;
    try {
      await this.informer.start();
    } catch (err) {
      // The error handler above schedules the restart; start() itself must not reject the caller.
      this.logger.debug({ err, path: this.path }, 'watchStartFailed');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.informer.stop();
  }
}
