import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { generateCertificates, writeCertDir } from '../../webhook/certs.js';
import { startWebhook } from '../../webhook/start.js';
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
    expect(patch.some((op: { path: string }) => op.path === '/spec/template/spec/containers')).toBe(true);
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
    const reply = await send(agent, port, 'POST', '/mutate', Buffer.alloc(9 * 1024 * 1024, 0x20));
    expect(reply.status).toBe(413);
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

describe('certificates from --cert-dir', () => {
  it('are re-read when they change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-certs-'));
    const names = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] };
    const first = await generateCertificates(names);
    await writeCertDir(dir, first);
    const webhook = await startWebhook({
      config: CONFIG,
      logger: createLogger('webhook', 'silent'),
      host: '127.0.0.1',
      port: 0,
      certDir: dir,
      ...names,
      standalone: true,
      namespace: 'sluice-system',
      certSecret: 'x',
      webhookConfiguration: 'x',
    });
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
});
