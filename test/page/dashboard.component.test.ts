import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCanaryAnnotations } from '../../src/annotations.js';
import { DashboardListenError, startDashboard, type Dashboard } from '../../src/controller/dashboard.js';
import { ReleaseBoard } from '../../src/page/board.js';
import type { BoardIndex } from '../../src/page/dashboard.js';
import type { ReleaseView } from '../../src/page/view.js';

// The controller's dashboard over real HTTP on loopback: the index, a release's page and data, and what it
// refuses (any other method, any other path, a request for another host name).

const parsed = parseCanaryAnnotations({ 'sluice.dev/canary': 'enabled' });
if (!parsed.ok) throw new Error('test annotations are invalid');
const config = parsed.config;

const board = new ReleaseBoard({ config: () => config });
let dashboard: Dashboard;
let base: string;

beforeAll(async () => {
  board.observe(
    {
      metadata: { name: 'podinfo', namespace: 'shop' },
      status: { phase: 'Progressing', canaryWeight: 20, startedAt: new Date().toISOString() },
    },
    'add',
  );
  dashboard = await startDashboard(board, { host: '127.0.0.1', port: 0 }, () => ({
    identity: 'sluice-controller-0',
    leading: false,
  }));
  base = `http://127.0.0.1:${dashboard.port}`;
});

afterAll(async () => {
  await dashboard.close();
});

/** A request with a Host header of our choosing, which fetch does not allow. */
function request(
  path: string,
  options: { method?: string; host?: string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${path}`,
      { method: options.method ?? 'GET', headers: options.host === undefined ? {} : { host: options.host } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe("the controller's dashboard", () => {
  it('serves the index and its data: this replica and every release it watches', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await page.text()).toContain('<title>sluice · releases</title>');

    const data = (await (await fetch(`${base}/api/releases`)).json()) as BoardIndex;
    expect(data.replica).toEqual({ identity: 'sluice-controller-0', leading: false });
    expect(data.releases).toEqual([
      expect.objectContaining({ namespace: 'shop', deployment: 'podinfo', phase: 'Progressing', weight: 20 }),
    ]);
  });

  it("serves a release's live page from its own directory, and its data beside it", async () => {
    const bare = await fetch(`${base}/releases/shop/podinfo`, { redirect: 'manual' });
    expect(bare.status).toBe(308);
    expect(bare.headers.get('location')).toBe('/releases/shop/podinfo/');

    const page = await fetch(`${base}/releases/shop/podinfo/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>sluice · live release</title>');

    const view = (await (await fetch(`${base}/releases/shop/podinfo/api/release`)).json()) as ReleaseView;
    expect(view).toMatchObject({
      namespace: 'shop',
      deployment: 'podinfo',
      phase: 'Progressing',
      weight: 20,
    });
  });

  it('says which release it does not know, and where the index is', async () => {
    const page = await request('/releases/shop/checkout/');
    expect(page.status).toBe(404);
    expect(page.body).toContain('no Canary shop/checkout');
    expect(page.body).toContain('sluice.dev/canary=enabled');
    const data = await fetch(`${base}/releases/shop/checkout/api/release`);
    expect(data.status).toBe(404);
    expect(((await data.json()) as { error: string }).error).toContain('shop/checkout');
    expect((await request('/metrics')).status).toBe(404);
    expect((await request('/releases/shop')).status).toBe(404);
  });

  it('is read-only: any other method is refused with the commands that act on a release', async () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const answer = await request('/releases/shop/podinfo/api/release', { method });
      expect(answer.status).toBe(405);
      expect(answer.headers['allow']).toBe('GET, HEAD');
      expect(answer.body).toContain('kubectl sluice pause|resume|promote|abort|retry');
    }
    const head = await request('/', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('answers for localhost and addresses only, so that a web page cannot read it by DNS rebinding', async () => {
    for (const host of ['localhost:8090', '127.0.0.1:8090', '[::1]:8090', '10.1.2.3', 'localhost']) {
      expect((await request('/api/releases', { host })).status, host).toBe(200);
    }
    for (const host of ['attacker.example:8090', 'localhost.attacker.example', 'sluice-controller']) {
      const answer = await request('/api/releases', { host });
      expect(answer.status, host).toBe(403);
      expect(answer.body).toContain('kubectl port-forward');
    }
  });

  it('names the address and the fix when its port is taken', async () => {
    const error = await startDashboard(board, { host: '127.0.0.1', port: dashboard.port }, () => ({
      identity: 'x',
      leading: false,
    })).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(DashboardListenError);
    expect((error as Error).message).toBe(
      `cannot serve the dashboard on 127.0.0.1:${dashboard.port} (EADDRINUSE): set --dashboard-address to a free port, or off`,
    );
  });
});
