import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log.js';
import { closeServer, listen } from '../../src/server.js';
import { freePort } from '../support/processes.js';
import { generateCertificates, writeCertDir } from '../../webhook/certs.js';
import { createWebhookHandler } from '../../webhook/server.js';
import type { NativeSidecarMode } from '../../webhook/native-sidecar.js';
import { ServerVersionUnknownError, startWebhook, type WebhookOptions } from '../../webhook/start.js';
import { review, send, spawnWebhook, webhookAgent, type WebhookProcess } from './client.js';
import { CONFIG, deployment as sampleDeployment } from './support.js';

const deployment = sampleDeployment();

const createRequest = (uid: string, object: unknown = deployment) => ({
  uid,
  kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
  operation: 'CREATE',
  userInfo: { username: 'alice' },
  object,
});

describe('sluice webhook --standalone, over real HTTPS', () => {
  let webhook: WebhookProcess;
  let port: number;
  let agent: ReturnType<typeof webhookAgent>;

  beforeAll(async () => {
    webhook = await spawnWebhook();
    port = webhook.port;
    agent = webhookAgent(webhook.ca);
  });

  afterAll(() => {
    agent.destroy();
    webhook.stop();
  });

  it('answers a review with a base64 JSON Patch and echoes the uid, trusted through the generated CA', async () => {
    const reply = await send(agent, port, 'POST', '/mutate', review(createRequest('uid-1')));
    expect(reply.status).toBe(200);
    const body = JSON.parse(reply.body);
    expect(body).toMatchObject({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'uid-1', allowed: true, patchType: 'JSONPatch' },
    });
    const patch = JSON.parse(Buffer.from(body.response.patch, 'base64').toString('utf8'));
    expect(patch.some((op: { path: string }) => op.path.startsWith('/spec/template/spec/containers/'))).toBe(
      true,
    );
  });

  it('denies with a status that kubectl shows', async () => {
    const bad = structuredClone(deployment);
    bad.metadata.annotations = {
      ...bad.metadata.annotations,
      ['sluice.dev/interval' as 'sluice.dev/canary']: 'soon',
    };
    const body = JSON.parse(
      (await send(agent, port, 'POST', '/mutate', review(createRequest('uid-2', bad)))).body,
    );
    expect(body.response).toMatchObject({
      uid: 'uid-2',
      allowed: false,
      status: { code: 422, reason: 'Invalid' },
    });
    expect(body.response.status.message).toContain('sluice.dev/interval');
  });

  it.each([
    ['a body that is not JSON', '{"apiVersion":'],
    [
      'the wrong apiVersion',
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1beta1',
        kind: 'AdmissionReview',
        request: createRequest('u'),
      }),
    ],
    ['a missing uid', review({ ...createRequest('u'), uid: undefined })],
    ['an empty body', ''],
    ['an object that is not a Deployment', review(createRequest('u', { spec: 'no' }))],
  ])('answers %s with 400 and a JSON reason', async (_name, body) => {
    const reply = await send(agent, port, 'POST', '/mutate', body);
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body).reason).toEqual(expect.any(String));
  });

  it('answers a body over the limit with 413', async () => {
    // Only the head is sent: the webhook answers by the content-length and closes, so a client still
    // writing the body would see EPIPE or a reset instead of the answer, depending on timing.
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        {
          ca: webhook.ca,
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/mutate',
          headers: { 'content-type': 'application/json', 'content-length': 9 * 1024 * 1024 },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        },
      );
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(status).toBe(413);
  });

  it('refuses TLS older than 1.2', async () => {
    const error = await new Promise<Error | undefined>((resolve) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        maxVersion: 'TLSv1.1',
        minVersion: 'TLSv1',
        rejectUnauthorized: false,
      });
      socket.once('secureConnect', () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.once('error', resolve);
    });
    expect(error).toBeInstanceOf(Error);
  });

  it('serves /livez, /readyz and /metrics with the admissions counted', async () => {
    expect((await send(agent, port, 'GET', '/livez')).status).toBe(200);
    expect((await send(agent, port, 'GET', '/readyz')).status).toBe(200);
    const metrics = (await send(agent, port, 'GET', '/metrics')).body;
    expect(metrics).toMatch(
      /sluice_webhook_admissions_total\{kind="Deployment",operation="CREATE",result="patched"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /sluice_webhook_admissions_total\{kind="unknown",operation="unknown",result="malformed"\} [1-9]/,
    );
    expect(metrics).toContain('sluice_webhook_admission_duration_seconds_bucket');
  });

  it('drains and exits 0 on SIGTERM', async () => {
    agent.destroy();
    const exited = new Promise<number | null>((resolve) => webhook.child.once('exit', resolve));
    webhook.child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

const CERT_NAMES = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };

/** A webhook in-process on a loopback port, its certificates from `dir`. */
const certDirWebhook = (
  dir: string,
  mode: Pick<WebhookOptions, 'standalone' | 'nativeSidecar'>,
): WebhookOptions => ({
  config: CONFIG,
  logger: createLogger('webhook', 'silent'),
  host: '127.0.0.1',
  port: 0,
  certDir: dir,
  ...CERT_NAMES,
  ...mode,
  namespace: 'sluice-system',
  certSecret: 'x',
  webhookConfiguration: 'x',
});

describe('certificates from --cert-dir', () => {
  it('are re-read when they change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-certs-'));
    const names = CERT_NAMES;
    const first = await generateCertificates(names);
    await writeCertDir(dir, first);
    const webhook = await startWebhook(certDirWebhook(dir, { standalone: true, nativeSidecar: 'auto' }));
    try {
      const firstAgent = webhookAgent(first.ca as string);
      expect((await send(firstAgent, webhook.port, 'GET', '/livez')).status).toBe(200);
      firstAgent.destroy();

      const second = await generateCertificates(names);
      await writeCertDir(dir, second);
      const secondAgent = webhookAgent(second.ca as string);
      await expect
        .poll(
          () =>
            send(secondAgent, webhook.port, 'GET', '/livez').then(
              (r) => r.status,
              () => 0,
            ),
          { timeout: 5_000, interval: 100 },
        )
        .toBe(200);
      secondAgent.destroy();
    } finally {
      await webhook.drain();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  // As the Helm chart runs it with cert-manager: in a cluster (not --standalone), with the Certificate's
  // Secret mounted at --cert-dir. It must serve that certificate and write nothing: no Secret, no caBundle
  // (cert-manager's CA injector sets it), so it needs no RBAC. Its only read is the API server's /version for
  // --native-sidecar auto, open to every client; set to false here, the start makes no API call at all, and
  // the kubeconfig points at a closed port, so a start that called the API server would fail.
  it('are served in a cluster as they are, without any call to the API server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-certs-'));
    const mounted = await generateCertificates(CERT_NAMES);
    await writeCertDir(join(dir, 'tls'), mounted);
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'closed', cluster: { server: `https://127.0.0.1:${await freePort()}` } }],
        users: [{ name: 'nobody', user: { token: 'x' } }],
        contexts: [{ name: 'closed', context: { cluster: 'closed', user: 'nobody' } }],
        'current-context': 'closed',
      }),
    );
    const saved = process.env['KUBECONFIG'];
    process.env['KUBECONFIG'] = kubeconfig;
    try {
      const webhook = await startWebhook(
        certDirWebhook(join(dir, 'tls'), { standalone: false, nativeSidecar: 'false' }),
      );
      try {
        const agent = webhookAgent(mounted.ca as string);
        expect((await send(agent, webhook.port, 'GET', '/readyz')).status).toBe(200);
        agent.destroy();
        expect(webhook.ca).toBe(mounted.ca);
      } finally {
        await webhook.drain();
      }
    } finally {
      if (saved === undefined) delete process.env['KUBECONFIG'];
      else process.env['KUBECONFIG'] = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('--native-sidecar in a cluster', () => {
  /** A kubeconfig whose API server is a loopback port nothing listens on. */
  async function unreachableKubeconfig(dir: string): Promise<string> {
    const probe = http.createServer();
    await listen(probe, 0, '127.0.0.1');
    const { port } = probe.address() as net.AddressInfo;
    await closeServer(probe);
    const file = join(dir, 'kubeconfig');
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'gone', cluster: { server: `http://127.0.0.1:${port}` } }],
        users: [{ name: 'nobody', user: {} }],
        contexts: [{ name: 'gone', context: { cluster: 'gone', user: 'nobody' } }],
        'current-context': 'gone',
      }),
    );
    return file;
  }

  it("on auto, does not start without the API server's version; on false, never asks for it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-native-'));
    await writeCertDir(dir, await generateCertificates(CERT_NAMES));
    const before = process.env['KUBECONFIG'];
    process.env['KUBECONFIG'] = await unreachableKubeconfig(dir);
    const options = (nativeSidecar: NativeSidecarMode) =>
      certDirWebhook(dir, { standalone: false, nativeSidecar });
    try {
      await expect(startWebhook(options('auto'))).rejects.toBeInstanceOf(ServerVersionUnknownError);
      const webhook = await startWebhook(options('false'));
      await webhook.drain();
    } finally {
      if (before === undefined) delete process.env['KUBECONFIG'];
      else process.env['KUBECONFIG'] = before;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the /mutate edge, on a plain HTTP server with a 1 KiB body limit', () => {
  let server: http.Server;
  let port: number;

  beforeAll(async () => {
    const handler = createWebhookHandler({
      config: CONFIG,
      logger: createLogger('webhook', 'silent'),
      registry: new Registry(),
      bodyLimitBytes: 1024,
      isReady: () => true,
    });
    server = http.createServer(handler);
    port = await listen(server, 0, '127.0.0.1');
  });

  afterAll(() => closeServer(server));

  const post = (headers: http.OutgoingHttpHeaders, write: (req: http.ClientRequest) => void) =>
    new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/mutate', headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              connection: res.headers.connection,
            }),
          );
        },
      );
      // The server may answer and close before the whole body is sent: the answer is what is checked.
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
      });
      write(req);
    });

  it('refuses a body whose content-length is over the limit with 413, before reading it', async () => {
    // Only the head is sent: an answer proves the server did not wait for the body.
    const reply = await post({ 'content-length': 4096 }, (req) => req.flushHeaders());
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body).reason).toBe('the body is larger than 1024 bytes');
    expect(reply.connection).toBe('close');
  });

  it('refuses a chunked body with 413 once it passes the limit, and closes the connection', async () => {
    const reply = await post({ 'transfer-encoding': 'chunked' }, (req) => {
      req.write(Buffer.alloc(800, 0x20));
      setTimeout(() => req.end(Buffer.alloc(800, 0x20)), 20);
    });
    expect(reply.status).toBe(413);
    expect(reply.connection).toBe('close');
  });

  it('refuses a compressed body with 415 naming the encoding', async () => {
    const reply = await post({ 'content-encoding': 'gzip', 'content-length': 2 }, (req) => req.end('{}'));
    expect(reply.status).toBe(415);
    expect(JSON.parse(reply.body).reason).toContain('content-encoding gzip');
  });

  it('answers other methods on /mutate with 405 and an Allow header', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/mutate`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });

  it('answers a review under the limit, with a query string on the path', async () => {
    const body = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' },
    });
    const res = await fetch(`http://127.0.0.1:${port}/mutate?timeout=10s`, { method: 'POST', body });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ response: { uid: 'u-1', allowed: true } });
  });

  it('answers pipelined reviews on one connection, each with its own body, in order', async () => {
    const review = (uid: string) =>
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' },
      });
    const uids = ['first', 'second-é', 'third'];
    const text = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let received = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        received += d;
        if (received.split('"uid"').length - 1 === uids.length) socket.end();
      });
      socket.on('end', () => resolve(received));
      socket.on('error', reject);
      // All three in one write: the second's head arrives before the first's body is handed over.
      socket.write(
        uids
          .map((uid) => {
            const body = review(uid);
            return `POST /mutate HTTP/1.1\r\nhost: x\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
          })
          .join(''),
      );
    });
    expect([...text.matchAll(/"uid":"([^"]*)"/g)].map((m) => m[1])).toEqual(uids);
  });

  it('reads a chunked review whose chunks split a multi-byte character', async () => {
    const uid = 'ü-€-𝄞';
    const bytes = Buffer.from(
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' },
      }),
    );
    const at = bytes.indexOf('𝄞') + 2;
    const reply = await post({ 'transfer-encoding': 'chunked' }, (req) => {
      req.write(bytes.subarray(0, bytes.indexOf('ü') + 1));
      req.write(bytes.subarray(bytes.indexOf('ü') + 1, at));
      setTimeout(() => req.end(bytes.subarray(at)), 20);
    });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ response: { uid, allowed: true } });
  });
});
