import type http from 'node:http';
import { isIP } from 'node:net';
import { sendJson, sendText, type Handler } from '../server.js';
import type { BoardRow, ReleaseBoard } from './board.js';
import { sendPage } from './handler.js';
import { PAGE_HTML } from './html.js';
import { INDEX_HTML } from './index-html.js';

/**
 * The controller's dashboard, read-only, on a port of its own:
 *   GET /                                      the index of releases (INDEX_HTML)
 *   GET /api/releases                          its data: this replica and one row per Canary
 *   GET /releases/{namespace}/{deployment}/    the live page of one release (PAGE_HTML)
 *   GET /releases/{namespace}/{deployment}/api/release   its data (a ReleaseView)
 * Nothing else, and no other method: releases are acted on with `kubectl sluice` or `sluice.dev/action`.
 */

export interface Replica {
  identity: string;
  /** Holds the Lease: runs the releases. A standby shows what its informers see of the leader's writes. */
  leading: boolean;
}

export interface BoardIndex {
  replica: Replica;
  releases: BoardRow[];
}

export interface DashboardOptions {
  board: ReleaseBoard;
  replica: () => Replica;
}

const READ_ONLY =
  'the sluice dashboard is read-only: act on a release with kubectl sluice pause|resume|promote|abort|retry ' +
  'DEPLOYMENT -n NAMESPACE, or the sluice.dev/action annotation\n';
const RELEASE_PATH = /^\/releases\/([^/]+)\/([^/]+)(\/|\/api\/release)?$/;

export function createDashboardHandler(options: DashboardOptions): Handler {
  const { board, replica } = options;
  return (req, res) => {
    if (!loopbackOrAddress(req.headers.host)) {
      sendText(
        res,
        403,
        `the sluice dashboard answers requests for localhost or an IP address only, not for ${String(req.headers.host)}: ` +
          'reach it with kubectl port-forward, or have a proxy in front of it send Host: localhost\n',
      );
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendText(res, 405, READ_ONLY);
      return;
    }
    res.setHeader('cache-control', 'no-store');
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (path === '/') return sendPage(res, INDEX_HTML);
    if (path === '/api/releases') {
      const index: BoardIndex = { replica: replica(), releases: board.rows() };
      return sendJson(res, 200, index);
    }
    const found = RELEASE_PATH.exec(path);
    if (found === null) return sendText(res, 404, `not found: ${path}; the index of releases is at /\n`);
    const [, namespace = '', deployment = '', rest] = found;
    releasePage(res, board, { namespace, deployment }, rest);
  };
}

function releasePage(
  res: http.ServerResponse,
  board: ReleaseBoard,
  target: { namespace: string; deployment: string },
  rest: string | undefined,
): void {
  const { namespace, deployment } = target;
  if (rest === undefined) {
    // The page fetches api/release relative to itself: it must be served from the directory.
    res.writeHead(308, { location: `/releases/${namespace}/${deployment}/` });
    res.end();
    return;
  }
  const view = board.view(namespace, deployment);
  if (view === undefined) {
    const message = `no Canary ${namespace}/${deployment} in this controller's watch: is the Deployment opted in (sluice.dev/canary=enabled), and in a namespace the controller watches? The index of releases is at /`;
    if (rest === '/') sendText(res, 404, `${message}\n`);
    else sendJson(res, 404, { error: message });
    return;
  }
  if (rest === '/') sendPage(res, PAGE_HTML);
  else sendJson(res, 200, view);
}

/**
 * A page bound to loopback can still be read by any web site the user visits, through DNS rebinding: the
 * site's name resolves to 127.0.0.1 and its script reads the answers. Such requests carry that name as
 * Host; port-forwarded ones carry localhost or an address.
 */
function loopbackOrAddress(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || isIP(name) !== 0;
}
