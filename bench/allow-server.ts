import express from 'express';
import { readCertDir } from '../webhook/certs.js';
import { createWebhookServer } from '../webhook/server.js';

/**
 * The webhook benchmark's baseline, run as its own process: the webhook's HTTPS server (same TLS settings,
 * same certificate, express) reading each review whole and answering it with the same static allow. The
 * webhook's figures over this one are what admitting costs beyond the transport.
 *
 * Usage: node allow-server.js PORT CERT_DIR
 */

const [port, certDir] = process.argv.slice(2);
if (port === undefined || certDir === undefined) throw new Error('usage: allow-server.js PORT CERT_DIR');
const certs = await readCertDir(certDir);
if (certs === undefined) throw new Error(`no tls.crt and tls.key in ${certDir}`);

const ALLOW = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  response: { uid: '0d6c1e7a-3b2f-4c9d-8e1a-5f4b3c2d1e0f', allowed: true },
});

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.post('/mutate', (req, res) => {
  req.resume();
  req.on('end', () => void res.type('application/json').send(ALLOW));
});
createWebhookServer(app, { credentials: { cert: certs.cert, key: certs.key } }).listen(
  Number(port),
  '127.0.0.1',
);
