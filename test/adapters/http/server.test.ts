import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/adapters/http/metrics.js';
import { MAX_WEBHOOK_BODY, startHttp, verifyWebhook } from '../../../src/adapters/http/server.js';
import { refreshBody, signBody } from '../../../src/adapters/http/refresh.js';
import { writeFile } from 'node:fs/promises';
import { runCli } from '../../harness/cli.js';
import { makeDir } from '../../harness/files.js';
import { DeliveryLog } from '../../../src/adapters/http/deliveries.js';
import { createLogger } from '../../../src/shared/log.js';
import type { StatusSnapshot } from '../../../src/ports/observer.js';

const SECRET = 'hook-secret-for-tests';
const sign = (body: string, secret = SECRET) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

describe('verifyWebhook', () => {
  const body = Buffer.from('{"ref":"refs/heads/main"}');
  const req = (headers: Record<string, string>) => ({ headers });

  it('accepts a GitHub or Gitea body signed with the secret', () => {
    expect(verifyWebhook(req({ 'x-hub-signature-256': sign(body.toString()) }), body, SECRET)).toEqual({
      ok: true,
    });
  });
  it('refuses a body signed with another secret, or changed after signing', () => {
    expect(
      verifyWebhook(req({ 'x-hub-signature-256': sign(body.toString(), 'other') }), body, SECRET),
    ).toMatchObject({ ok: false, status: 401, reason: 'bad signature' });
    expect(
      verifyWebhook(req({ 'x-hub-signature-256': sign(body.toString()) }), Buffer.from('{}'), SECRET),
    ).toMatchObject({ ok: false, status: 401 });
  });
  it('accepts GitLab’s token when it is the secret, and refuses another', () => {
    expect(verifyWebhook(req({ 'x-gitlab-token': SECRET }), body, SECRET)).toEqual({ ok: true });
    expect(verifyWebhook(req({ 'x-gitlab-token': `${SECRET}x` }), body, SECRET)).toMatchObject({
      ok: false,
      status: 401,
      reason: 'bad token',
    });
  });
  it('refuses everything with 403 when no secret is configured', () => {
    expect(verifyWebhook(req({ 'x-gitlab-token': 'anything' }), body, undefined)).toMatchObject({
      ok: false,
      status: 403,
    });
  });
  it('refuses a call with neither signature nor token with 401', () => {
    expect(verifyWebhook(req({}), body, SECRET)).toMatchObject({ ok: false, status: 401 });
  });
});

describe('DeliveryLog', () => {
  it('knows an ID again within its time to live, forgets it after, and stays bounded', () => {
    let now = 0;
    const log = new DeliveryLog(3, 1000, () => now);
    expect(log.firstTime('a')).toBe(true);
    expect(log.firstTime('a')).toBe(false);
    now = 1500;
    expect(log.firstTime('a')).toBe(true);
    for (const id of ['b', 'c', 'd']) expect(log.firstTime(id)).toBe(true);
    // 'a' (the oldest) was dropped to keep three.
    expect(log.firstTime('a')).toBe(true);
    expect(log.firstTime('d')).toBe(false);
  });
});

describe('the HTTP server', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function serve(
    extra: {
      status?: () => StatusSnapshot;
      publicKeyPem?: string;
      refresh?: (requests: string[] | 'all') => void;
    } = {},
  ) {
    const triggers: string[] = [];
    const http = await startHttp(
      {
        metrics: new Metrics(),
        log: createLogger('silent'),
        ready: () => ({ ok: true }),
        trigger: (why) => triggers.push(why),
        webhookSecret: SECRET,
        ...extra,
      },
      0,
      '127.0.0.1',
    );
    close = http.close;
    return { base: `http://127.0.0.1:${http.port}`, port: http.port, triggers };
  }

  it('answers a 5 MB webhook body with 413, not a reset connection, and triggers nothing', async () => {
    const { base, triggers } = await serve();
    const body = 'x'.repeat(5 * 1024 * 1024);
    const res = await fetch(`${base}/hooks/git`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(body) },
      body,
    });
    expect(res.status).toBe(413);
    expect(await res.text()).toContain(String(MAX_WEBHOOK_BODY));
    expect(triggers).toEqual([]);
    // The server still serves the next call.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('triggers one pass per delivery: a replayed delivery ID is acknowledged and ignored', async () => {
    const { base, triggers } = await serve();
    const body = '{"ref":"refs/heads/main"}';
    const post = (headers: Record<string, string>) =>
      fetch(`${base}/hooks/git`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(body), ...headers },
        body,
      });
    expect((await post({ 'x-github-delivery': 'd-1' })).status).toBe(202);
    const replay = await post({ 'x-github-delivery': 'd-1' });
    expect(replay.status).toBe(200);
    expect(await replay.text()).toMatch(/seen before/);
    expect((await post({ 'x-gitea-delivery': 'd-2' })).status).toBe(202);
    expect((await post({ 'x-gitea-delivery': 'd-2' })).status).toBe(200);
    const gitlab = (uuid: string) =>
      fetch(`${base}/hooks/git`, {
        method: 'POST',
        headers: { 'x-gitlab-token': SECRET, 'x-gitlab-event-uuid': uuid },
        body,
      });
    expect((await gitlab('u-1')).status).toBe(202);
    expect((await gitlab('u-1')).status).toBe(200);
    expect(triggers).toEqual(['webhook', 'webhook', 'webhook']);
  });

  it('does not remember the delivery ID of a refused call, so it cannot block the real one', async () => {
    const { base, triggers } = await serve();
    const body = '{}';
    const forged = await fetch(`${base}/hooks/git`, {
      method: 'POST',
      headers: { 'x-hub-signature-256': sign(body, 'guess'), 'x-github-delivery': 'd-9' },
      body,
    });
    expect(forged.status).toBe(401);
    const real = await fetch(`${base}/hooks/git`, {
      method: 'POST',
      headers: { 'x-hub-signature-256': sign(body), 'x-github-delivery': 'd-9' },
      body,
    });
    expect(real.status).toBe(202);
    expect(triggers).toEqual(['webhook']);
  });

  it('serves the public key when it has one and 404 when not', async () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAtest\n-----END PUBLIC KEY-----\n';
    let { base } = await serve({ publicKeyPem: pem });
    let res = await fetch(`${base}/public-key.pem`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(pem);
    await close?.();
    ({ base } = await serve());
    res = await fetch(`${base}/public-key.pem`);
    expect(res.status).toBe(404);
  });

  it('escapes what it shows on the status page and answers GET only', async () => {
    const snapshot: StatusSnapshot = {
      generatedAt: '2026-01-01T00:00:00.000Z',
      branches: [
        {
          name: 'feature/<b>x</b>',
          requests: [
            {
              name: 'req"><script>alert(1)</script>',
              state: 'previewed',
              updatedAt: '2026-01-01T00:00:00.000Z',
              reportUrl: 'https://git.example/a?x=1&y="2"',
            },
          ],
        },
      ],
      queue: [],
      passes: [],
      executions: [],
    };
    const { base } = await serve({ status: () => snapshot });
    const html = await (await fetch(`${base}/`)).text();
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<b>x</b>');
    expect(html).toContain('feature/&lt;b&gt;x&lt;/b&gt;');
    expect(html).toContain('href="https://git.example/a?x=1&amp;y=&quot;2&quot;"');
    expect(html).toContain('<meta name="viewport"');
    expect(JSON.parse(await (await fetch(`${base}/api/status`)).text())).toEqual(snapshot);
    const post = await fetch(`${base}/`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
  });

  it('asks for a refresh and a pass only with the secret’s signature', async () => {
    const asked: Array<string[] | 'all'> = [];
    const { base, triggers } = await serve({ refresh: (r) => asked.push(r) });
    const body = refreshBody(['mail-all']);
    const post = (signature: string) =>
      fetch(`${base}/refresh`, { method: 'POST', headers: { 'x-hub-signature-256': signature }, body });
    expect((await post(signBody(body, 'wrong'))).status).toBe(401);
    expect(asked).toEqual([]);
    const ok = await post(signBody(body, SECRET));
    expect(ok.status).toBe(202);
    expect(await ok.text()).toContain('refresh of mail-all asked');
    expect(asked).toEqual([['mail-all']]);
    expect(triggers).toEqual(['refresh']);
    const stale = refreshBody('all', new Date(Date.now() - 10 * 60_000));
    const res = await fetch(`${base}/refresh`, {
      method: 'POST',
      headers: { 'x-hub-signature-256': signBody(stale, SECRET) },
      body: stale,
    });
    expect(res.status).toBe(400);
    expect(asked).toHaveLength(1);
  });

  it('`reexport refresh` signs with the daemon config’s secret and reaches the daemon at its port', async () => {
    const asked: Array<string[] | 'all'> = [];
    const { port } = await serve({ refresh: (r) => asked.push(r) });
    const work = await makeDir({});
    try {
      const config = `${work.dir}/daemon.yaml`;
      await writeFile(
        config,
        `apiVersion: reexport/v1
kind: DaemonConfig
http: { port: ${port}, webhookSecretEnv: REEXPORT_TEST_REFRESH_SECRET }
targets:
  ad: { url: "ldaps://dc.example", allowedAttributes: [mail] }
`,
      );
      const env = { REEXPORT_TEST_REFRESH_SECRET: SECRET };
      const some = await runCli(['refresh', 'a', 'b', '--config', config], { env });
      expect(some.code).toBe(0);
      expect(some.stdout).toContain('refresh of a, b asked');
      const all = await runCli(['refresh', '--config', config], { env });
      expect(all.code).toBe(0);
      expect(asked).toEqual([['a', 'b'], 'all']);
      const wrong = await runCli(['refresh', '--config', config], {
        env: { REEXPORT_TEST_REFRESH_SECRET: 'x' },
      });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain('bad signature');
      expect(wrong.stdout + wrong.stderr).not.toContain(SECRET);
    } finally {
      await work.cleanup();
    }
  });
});
