import { writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/adapters/http/metrics.js';
import { parseRefresh, refreshBody, signBody } from '../../../src/adapters/http/refresh.js';
import { startHttp } from '../../../src/adapters/http/server.js';
import { createLogger } from '../../../src/shared/log.js';
import { runCli } from '../../harness/cli.js';
import { makeDir } from '../../harness/files.js';

const SECRET = 'refresh-secret-value';
const at = (ms: number) => new Date(Date.parse('2026-11-30T10:00:00Z') + ms);

describe('a refresh request body', () => {
  const now = at(0);
  const parse = (value: unknown) => parseRefresh(Buffer.from(JSON.stringify(value)), now);
  it('names requests or every one, and says when it was asked', () => {
    expect(parse({ requests: ['mail-all', 'b'], at: now.toISOString() })).toEqual({
      requests: ['mail-all', 'b'],
    });
    expect(parse({ requests: 'all', at: at(-60_000).toISOString() })).toEqual({ requests: 'all' });
  });
  it('is refused when old (a captured request replayed), from the future, or not a list of names', () => {
    expect(parse({ requests: 'all', at: at(-6 * 60_000).toISOString() })).toMatchObject({ error: /minutes/ });
    expect(parse({ requests: 'all', at: at(6 * 60_000).toISOString() })).toMatchObject({ error: /minutes/ });
    expect(parse({ requests: 'all' })).toMatchObject({ error: /`at`/ });
    expect(parse({ requests: [], at: now.toISOString() })).toMatchObject({ error: /requests/ });
    expect(parse({ requests: ['../etc'], at: now.toISOString() })).toMatchObject({ error: /requests/ });
    expect(parseRefresh(Buffer.from('not json'), now)).toMatchObject({ error: /JSON/ });
  });
});

describe('POST /refresh and `reexport refresh`', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function serve() {
    const asked: Array<string[] | 'all'> = [];
    const triggers: string[] = [];
    const http = await startHttp(
      {
        metrics: new Metrics(),
        log: createLogger('silent'),
        ready: () => ({ ok: true }),
        trigger: (why) => triggers.push(why),
        refresh: (requests) => asked.push(requests),
        webhookSecret: SECRET,
      },
      0,
      '127.0.0.1',
    );
    close = http.close;
    return { port: http.port, base: `http://127.0.0.1:${http.port}`, asked, triggers };
  }

  it('asks for a refresh and a pass only with the secret’s signature', async () => {
    const { base, asked, triggers } = await serve();
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
    const { port, asked } = await serve();
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
