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
 * The controller's side of the route protocol (DESIGN.md, "The proxy"): an in-memory table per
 * Deployment, served by long-poll at GET /v1/routes/{namespace}/{deployment}. A request whose
 * If-None-Match differs from the current version is answered at once; one that matches is held until the
 * table changes or `holdMs` passes, then answered 304.
 */
export class RouteStore {
  private readonly tables = new Map<string, RouteTable>();
  private readonly waiters = new Map<string, Set<() => void>>();

  get(namespace: string, deployment: string): RouteTable {
    return this.tables.get(key(namespace, deployment)) ?? localOnlyTable();
  }

  /** Sets the canary route of a Deployment (null: all local); validated like the proxy validates it. */
  set(namespace: string, deployment: string, canary: RouteCanaryInput | null): RouteTable {
    const table = routeTable(canary === null ? null : routeCanarySchema.parse(canary));
    const k = key(namespace, deployment);
    if (this.tables.get(k)?.version === table.version) return table;
    if (table.canary === null) this.tables.delete(k);
    else this.tables.set(k, table);
    const waiting = this.waiters.get(k);
    this.waiters.delete(k);
    for (const wake of waiting ?? []) wake();
    return table;
  }

  delete(namespace: string, deployment: string): void {
    this.set(namespace, deployment, null);
  }

  /** Resolves when the table of this Deployment changes, or after `ms`; `cancel` stops waiting. */
  waitForChange(
    namespace: string,
    deployment: string,
    ms: number,
  ): { changed: Promise<void>; cancel: () => void } {
    const k = key(namespace, deployment);
    let wake!: () => void;
    const changed = new Promise<void>((resolve) => (wake = resolve));
    const timer = setTimeout(() => cancel(), ms);
    const set = this.waiters.get(k) ?? new Set();
    this.waiters.set(k, set);
    const cancel = (): void => {
      clearTimeout(timer);
      set.delete(cancel);
      if (set.size === 0 && this.waiters.get(k) === set) this.waiters.delete(k);
      wake();
    };
    // A change wakes the waiter through cancel too, so that its hold timer does not outlive it.
    set.add(cancel);
    return { changed, cancel };
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
    const answer = (): void => {
      const table = store.get(namespace, deployment);
      if (table.version === known) {
        res.writeHead(304, { etag: `"${table.version}"` });
        res.end();
      } else {
        res.setHeader('etag', `"${table.version}"`);
        sendJson(res, 200, table);
      }
    };
    if (known === undefined || store.get(namespace, deployment).version !== known) {
      answer();
      return true;
    }
    const wait = store.waitForChange(namespace, deployment, Math.min(holdMs, requestedHoldMs(query)));
    res.on('close', wait.cancel);
    void wait.changed.then(() => {
      res.off('close', wait.cancel);
      if (!res.destroyed) answer();
    });
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
