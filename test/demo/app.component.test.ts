import { afterEach, describe, expect, it } from 'vitest';
import { startSampleApp } from '../../src/demo/app.js';
import { cleanupAfterEach, get } from '../support/servers.js';

const { defer } = cleanupAfterEach(afterEach);

describe('the sample app', () => {
  it('says which version answered, in the body and the app-version header', async () => {
    const app = await startSampleApp({ version: 'v1', errorRate: 0, latencyMs: 0 });
    defer(() => app.close());
    const answer = await get(`${app.url}/anything?x=1`);
    expect(answer.status).toBe(200);
    expect(answer.headers['app-version']).toBe('v1');
    expect(JSON.parse(answer.body)).toMatchObject({ version: 'v1' });
  });

  it('fails the share of requests it is told to, and answers as late as it is told to', async () => {
    let i = 0;
    // Every third draw is below 0.3: a third of the requests fail.
    const app = await startSampleApp(
      { version: 'v2', errorRate: 0.3, latencyMs: 0 },
      { random: () => [0.1, 0.5, 0.9][i++ % 3] as number },
    );
    defer(() => app.close());
    const statuses = [];
    for (let n = 0; n < 30; n++) statuses.push((await get(`${app.url}/`)).status);
    expect(statuses.filter((s) => s === 500)).toHaveLength(10);

    app.setBehaviour({ version: 'v2', errorRate: 0, latencyMs: 150 });
    const start = performance.now();
    const answer = await get(`${app.url}/`);
    expect(answer.status).toBe(200);
    expect(performance.now() - start).toBeGreaterThanOrEqual(140);
  });

  it('answers its health checks at once, whatever it is told', async () => {
    const app = await startSampleApp({ version: 'v2', errorRate: 1, latencyMs: 5_000 });
    defer(() => app.close());
    const answer = await get(`${app.url}/readyz`);
    expect(answer.status).toBe(200);
    expect(answer.headers['app-version']).toBe('v2');
  });
});
