import type http from 'node:http';
import { sendText } from '../server.js';

/**
 * The demo's built-in gate (`sluice demo --gate confirm-promotion`), shaped like the manual gate of
 * Flagger's load tester, which users run beside Flagger: `POST /gate/check` answers 200 while the gate is
 * open and 403 while it is closed; `POST /gate/open` and `/gate/close` switch it. It starts closed, so the
 * release halts where the gate is asked until someone opens it. One switch for the demo's one release.
 */
export class DemoGate {
  private open = false;

  /** Serves the gate's paths; false for any other request, which it leaves alone. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const path = (req.url ?? '').split('?', 1)[0] ?? '';
    if (!path.startsWith('/gate/')) return false;
    if (req.method !== 'POST') {
      sendText(res, 405, 'POST only\n');
      return true;
    }
    req.resume();
    switch (path) {
      case '/gate/check':
        sendText(res, this.open ? 200 : 403, this.open ? 'Approved\n' : 'Forbidden\n');
        return true;
      case '/gate/open':
      case '/gate/close':
        this.open = path === '/gate/open';
        sendText(res, 202, this.open ? 'opened\n' : 'closed\n');
        return true;
      default:
        sendText(res, 404, 'not found: the demo gate has /gate/check, /gate/open and /gate/close\n');
        return true;
    }
  }
}
