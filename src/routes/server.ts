import type http from 'node:http';
import { sendJson } from '../server.js';
import {
  localOnlyTable,
  routeCanarySchema,
  routeTable,
  type RouteCanaryInput,
  type RouteTable,
} from './table.js';

/**
 * A table as the long-poll answers it, serialised once when it is set: a change answers every held poll
 * of its Deployment at once (a thousand proxies, say), and each of them gets these same bytes.
 */
export interface PublishedTable {
  readonly table: RouteTable;
  /** Header name, value, name, value… for a 200 (content-type, content-length, etag); shared, not to change. */
  readonly headers: string[];
  readonly body: Buffer;
  /** The same, for a 304 (etag only). */
  readonly notModifiedHeaders: string[];
}

function publish(table: RouteTable): PublishedTable {
  const body = Buffer.from(JSON.stringify(table));
  const etag = `"${table.version}"`;
  return {
    table,
    headers: ['content-type', 'application/json', 'content-length', String(body.length), 'etag', etag],
    body,
    notModifiedHeaders: ['etag', etag],
  };
}

const LOCAL_ONLY = publish(localOnlyTable());

/** A held long-poll: answered with the new table on a change, or with the same one when its hold ends. */
type Waiter = (published: PublishedTable) => void;

/**
 * The controller's side of the route protocol (DESIGN.md, "The proxy"): an in-memory table per
 * Deployment, served by long-poll at GET /v1/routes/{namespace}/{deployment}. A request whose
 * If-None-Match differs from the current version is answered at once; one that matches is held until the
 * table changes or `holdMs` passes, then answered 304.
 */
export class RouteStore {
  private readonly tables = new Map<string, PublishedTable>();
  private readonly waiters = new Map<string, Set<Waiter>>();

  get(namespace: string, deployment: string): RouteTable {
    return this.published(namespace, deployment).table;
  }

  /** The table with its answer's bytes. */
  published(namespace: string, deployment: string): PublishedTable {
    return this.tables.get(key(namespace, deployment)) ?? LOCAL_ONLY;
  }

  /** Sets the canary route of a Deployment (null: all local); validated like the proxy validates it. */
  set(namespace: string, deployment: string, canary: RouteCanaryInput | null): RouteTable {
    const table = routeTable(canary === null ? null : routeCanarySchema.parse(canary));
    const k = key(namespace, deployment);
    if (this.tables.get(k)?.table.version === table.version) return table;
    const published = table.canary === null ? LOCAL_ONLY : publish(table);
    if (table.canary === null) this.tables.delete(k);
    else this.tables.set(k, published);
    const waiting = this.waiters.get(k);
    this.waiters.delete(k);
    for (const answer of waiting ?? []) answer(published);
    return table;
  }

  delete(namespace: string, deployment: string): void {
    this.set(namespace, deployment, null);
  }

  /**
   * Holds `answer` until the table of this Deployment changes (it gets the new one) or `ms` passes (it
   * gets the current one). Returns a cancel that drops the waiter without answering.
   */
  hold(namespace: string, deployment: string, ms: number, answer: Waiter): () => void {
    const k = key(namespace, deployment);
    let waiting = this.waiters.get(k);
    if (waiting === undefined) {
      waiting = new Set();
      this.waiters.set(k, waiting);
    }
    const set = waiting;
    const forget = (): void => {
      set.delete(wake);
      if (set.size === 0 && this.waiters.get(k) === set) this.waiters.delete(k);
    };
    const timer = setTimeout(() => {
      forget();
      answer(this.published(namespace, deployment));
    }, ms);
    // A change wakes the waiter here, so that its hold timer does not outlive it.
    const wake: Waiter = (published) => {
      clearTimeout(timer);
      answer(published);
    };
    set.add(wake);
    return () => {
      clearTimeout(timer);
      forget();
    };
  }
}

const key = (namespace: string, deployment: string): string => `${namespace}/${deployment}`;

const ROUTE_PATH = /^\/v1\/routes\/([a-z0-9][-a-z0-9]*)\/([a-z0-9][-a-z0-9.]*)$/;

export const ROUTE_HOLD_MS = 30_000;

/**
 * The long-poll endpoint. Returns false when the path is not a route path, so that it can sit in front of
 * other handlers; an unknown Deployment gets an all-local table, never an error.
 */
export function createRouteHandler(
  store: RouteStore,
  holdMs = ROUTE_HOLD_MS,
): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  return (req, res) => {
    const [path = '', query = ''] = (req.url ?? '').split('?', 2);
    const match = ROUTE_PATH.exec(path);
    if (match === null) return false;
    if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'use GET' });
      return true;
    }
    const [, namespace = '', deployment = ''] = match;
    const known = unquote(req.headers['if-none-match']);
    const answer = (published: PublishedTable): void => {
      if (res.destroyed) return;
      if (published.table.version === known) {
        res.writeHead(304, published.notModifiedHeaders);
        res.end();
      } else {
        res.writeHead(200, published.headers);
        res.end(published.body);
      }
    };
    const current = store.published(namespace, deployment);
    if (current.table.version !== known) {
      answer(current);
      return true;
    }
    const cancel = store.hold(
      namespace,
      deployment,
      Math.min(holdMs, requestedHoldMs(query)),
      (published) => {
        res.off('close', cancel);
        answer(published);
      },
    );
    res.on('close', cancel);
    return true;
  };
}

/** `?wait=S` asks for a shorter hold than the server's, e.g. by a proxy with a short route TTL. */
function requestedHoldMs(query: string): number {
  const wait = Number(new URLSearchParams(query).get('wait') ?? NaN);
  return Number.isFinite(wait) && wait >= 0 ? wait * 1000 : Infinity;
}

function unquote(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim().replace(/^W\//, '');
  return trimmed.startsWith('"') && trimmed.endsWith('"') ? trimmed.slice(1, -1) : trimmed;
}
