import type http from 'node:http';
import { sendJson, sendText } from '../server.js';
import { PAGE_HTML } from './html.js';
import type { ReleaseView } from './view.js';

/**
 * Serves the live page at / and its data at /api/release. Returns false for any other path, so that it can
 * share a server with the route long-poll.
 */
export function createPageHandler(
  view: () => ReleaseView,
): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/' && path !== '/api/release') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: 'use GET' });
      return true;
    }
    res.setHeader('cache-control', 'no-store');
    if (path === '/') sendPage(res, PAGE_HTML);
    else sendJson(res, 200, view());
    return true;
  };
}

/** Sends one of the self-contained pages: its script is inline and it loads nothing else; the browser is told so. */
export function sendPage(res: http.ServerResponse, html: string): void {
  res.setHeader(
    'content-security-policy',
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'",
  );
  res.setHeader('x-content-type-options', 'nosniff');
  sendText(res, 200, html, 'text/html; charset=utf-8');
}
