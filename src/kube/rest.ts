import http from 'node:http';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';

/**
 * A small JSON client for the Kubernetes API. Objects stay as the API server sent them: client-node's
 * typed models drop fields they do not know and turn timestamps into Dates, and sluice copies pod templates
 * from one object into another, where a dropped field would silently change what runs.
 */

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface KubeList<T extends KubeObject = KubeObject> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** The API server answered with an error status; `status` is the HTTP code (404, 409, 422 …). */
export class KubeApiError extends Error {
  readonly code = 'KubeApi';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(`${method} ${path}: ${status} ${reason}: ${message}`);
    this.name = 'KubeApiError';
  }
}

/** The API server could not be reached at all. */
export class KubeUnreachableError extends Error {
  readonly code = 'KubeUnreachable';
  constructor(server: string, options: { cause: unknown }) {
    super(`the Kubernetes API at ${server} is unreachable: ${(options.cause as Error).message}`, options);
    this.name = 'KubeUnreachableError';
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof KubeApiError && err.status === 404;
export const isConflict = (err: unknown): boolean =>
  err instanceof KubeApiError && (err.status === 409 || (err.status === 422 && /test/i.test(err.message)));

export type PatchType = 'json' | 'merge' | 'apply';

const CONTENT_TYPES: Record<PatchType, string> = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

export const FIELD_MANAGER = 'sluice-controller';

/** Loads a kubeconfig file, or the default chain: $KUBECONFIG, ~/.kube/config, in-cluster. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (path !== undefined) kubeConfig.loadFromFile(path);
  else kubeConfig.loadFromDefault();
  return kubeConfig;
}

export class KubeRest {
  private readonly server: URL;
  private readonly agent: http.Agent;

  constructor(readonly kubeConfig: KubeConfig) {
    const cluster = kubeConfig.getCurrentCluster();
    if (cluster === null) throw new Error('the kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
    this.agent =
      this.server.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 16 })
        : new http.Agent({ keepAlive: true, maxSockets: 16 });
  }

  get<T extends KubeObject>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  async getOrNull<T extends KubeObject>(path: string): Promise<T | null> {
    try {
      return await this.get<T>(path);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  list<T extends KubeObject>(path: string, labelSelector?: string): Promise<KubeList<T>> {
    const query = labelSelector === undefined ? '' : `?labelSelector=${encodeURIComponent(labelSelector)}`;
    return this.request<KubeList<T>>('GET', path + query);
  }

  create<T extends KubeObject>(path: string, body: KubeObject): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  patch<T extends KubeObject>(path: string, type: PatchType, body: unknown): Promise<T> {
    const query = type === 'apply' ? `?fieldManager=${FIELD_MANAGER}&force=true` : '';
    return this.request<T>('PATCH', path + query, body, CONTENT_TYPES[type]);
  }

  /** Replaces the object; its metadata.resourceVersion makes a concurrent write fail with 409. */
  replace<T extends KubeObject>(path: string, body: KubeObject): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  /** Server-side apply: creates the object or brings the fields sluice owns to this value. */
  apply<T extends KubeObject>(path: string, body: KubeObject): Promise<T> {
    return this.patch<T>(path, 'apply', body);
  }

  /** Deletes; an object that is gone already is not an error. */
  async delete(path: string): Promise<void> {
    try {
      await this.request('DELETE', path, { kind: 'DeleteOptions', propagationPolicy: 'Background' });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private async request<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const options: https.RequestOptions = {
      method,
      protocol: this.server.protocol,
      hostname: this.server.hostname,
      port: this.server.port,
      path: this.server.pathname.replace(/\/$/, '') + path,
      agent: this.agent,
      headers: { accept: 'application/json' },
      timeout: 30_000,
    };
    await this.kubeConfig.applyToHTTPSOptions(options);
    // applyToHTTPSOptions puts a new Agent of its own in `options` on every call, so each request would open
    // a connection and do a TLS handshake (most of the controller's CPU with hundreds of releases). The TLS
    // settings it read stay in `options` and go into the pool's key, so the kept-alive agent serves them;
    // only a kubeconfig's proxy-url needs client-node's agent.
    if (this.kubeConfig.getCurrentCluster()?.proxyUrl === undefined) options.agent = this.agent;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      options.headers = {
        ...options.headers,
        'content-type': contentType ?? 'application/json',
        'content-length': Buffer.byteLength(payload),
      };
    }
    const send = this.server.protocol === 'https:' ? https.request : http.request;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = send(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timed out after 30 s')));
      req.on('error', (err) => reject(new KubeUnreachableError(this.server.origin, { cause: err })));
      req.end(payload);
    });
    if (status >= 200 && status < 300) return (text === '' ? {} : JSON.parse(text)) as T;
    let reason = 'Unknown';
    let message = text.slice(0, 500);
    try {
      const parsed = JSON.parse(text) as { reason?: string; message?: string };
      reason = parsed.reason ?? reason;
      message = parsed.message ?? message;
    } catch {
      // not a Status object: keep the text
    }
    throw new KubeApiError(method, path, status, reason, message);
  }
}

/** The API path of a collection or object: core (`v1`) or a group (`apps/v1`), namespaced or not. */
export function apiPath(
  apiVersion: string,
  plural: string,
  namespace?: string,
  name?: string,
  subresource?: string,
): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = namespace === undefined ? '' : `/namespaces/${namespace}`;
  const obj = name === undefined ? '' : `/${name}`;
  const sub = subresource === undefined ? '' : `/${subresource}`;
  return `${base}${ns}/${plural}${obj}${sub}`;
}
