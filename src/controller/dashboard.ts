import http from 'node:http';
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseCanaryAnnotations } from '../annotations.js';
import { ReleaseBoard } from '../page/board.js';
import { createDashboardHandler, type Replica } from '../page/dashboard.js';
import { listen } from '../server.js';
import type { Controller } from './controller.js';

/**
 * The controller's dashboard (`--dashboard-address`): the live page of every release this replica's
 * informers hold, read-only, on its own port. Every replica serves it, the standbys too: the Canary objects
 * they watch are what the leader wrote.
 */

export interface DashboardAddress {
  host: string;
  port: number;
}

/** `host:port`, `[v6]:port`, `:port` (every interface) or `off`. */
export const dashboardAddressSchema = z.string().transform((text, ctx): DashboardAddress | null => {
  if (text === 'off') return null;
  const found = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const host = found?.[1] ?? found?.[2] ?? '';
  const port = Number(found?.[3]);
  if (found === null || port > 65535 || (host !== '' && host !== 'localhost' && isIP(host) === 0)) {
    ctx.addIssue({
      code: 'custom',
      message:
        'expected host:port with an IP address or localhost (127.0.0.1:8090), :port for every interface, or off',
    });
    return z.NEVER;
  }
  return { host: host === '' ? '0.0.0.0' : host, port };
});

export interface Dashboard {
  /** The port bound (the address's, or the one the system picked for port 0). */
  port: number;
  close(): Promise<void>;
}

/** Feeds the controller's Canary informer to a board; call before the controller starts its informers. */
export function boardOf(controller: Controller): ReleaseBoard {
  const board = new ReleaseBoard({
    config: (namespace, deployment) => {
      const parsed = parseCanaryAnnotations(
        controller.deployments.get(deployment, namespace)?.metadata?.annotations,
      );
      return parsed.ok ? parsed.config : null;
    },
  });
  controller.canaries.onChange((canary, kind) => board.observe(canary, kind));
  return board;
}

export class DashboardListenError extends Error {
  readonly code = 'DashboardListenError';
  constructor(address: DashboardAddress, cause: unknown) {
    const reason = (cause as NodeJS.ErrnoException).code ?? String(cause);
    super(
      `cannot serve the dashboard on ${address.host}:${address.port} (${reason}): ` +
        'set --dashboard-address to a free port, or off',
      { cause },
    );
    this.name = 'DashboardListenError';
  }
}

export async function startDashboard(
  board: ReleaseBoard,
  address: DashboardAddress,
  replica: () => Replica,
): Promise<Dashboard> {
  const server = http.createServer(createDashboardHandler({ board, replica }));
  const port = await listen(server, address.port, address.host).catch((err: unknown) => {
    throw new DashboardListenError(address, err);
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // The pages poll with keep-alive: nothing held here is worth waiting for.
        server.closeAllConnections();
      }),
  };
}
