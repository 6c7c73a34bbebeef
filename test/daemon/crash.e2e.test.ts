import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';
import { freePort, waitUntil } from '../harness/ports.js';
import { describeWithSlapd } from '../harness/require.js';
import { auditedModifies } from '../harness/slapd-audit.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';
import { PEOPLE_TEMPLATE, peopleCsv, peopleLdif } from '../harness/people-fixtures.js';

const USERS = 400;
const bin = fileURLToPath(new URL('../../bin/reexport.js', import.meta.url));
const REQUEST = (execute: boolean) =>
  `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: bulk }\nspec: { template: t, mappings: all, users: all, execute: ${execute}, maxChanges: 1000 }\n`;

describeWithSlapd('the daemon as a process', () => {
  let slapd: Slapd;
  let remote: Awaited<ReturnType<typeof makeRepo>>;
  let human: Awaited<ReturnType<typeof cloneRepo>>;
  let work: Awaited<ReturnType<typeof makeDir>>;
  let port: number;
  const env = () => ({ ...process.env, PW: slapd.password, HOOK_SECRET: 's3cret-hook' });

  beforeAll(async () => {
    slapd = await startSlapd({
      ldif: peopleLdif(USERS),
      debugLevel: 'stats',
      outputLimit: 64 * 1024 * 1024,
    });
    remote = await makeRepo({
      'templates/t.yaml': PEOPLE_TEMPLATE,
      'data/people.csv': peopleCsv(USERS),
    });
    human = await cloneRepo(remote.bare);
    work = await makeDir({});
    port = await freePort();
    await writeFile(
      `${work.dir}/daemon.yaml`,
      `apiVersion: reexport/v1
kind: DaemonConfig
repo: { url: "${remote.bare}", workdir: ./var, author: { name: reexport-bot, email: bot@kommune.test } }
schedule: "0 0 1 1 *"
# This test is about kill -9, not review: the request goes straight to main, so a fresh plan runs.
safety: { requireReviewedPreview: false }
targets:
  ldap:
    url: ${slapd.url}
    bindDN: "${slapd.bindDN}"
    passwordEnv: PW
    rateLimit: 150
    allowedAttributes: [mail]
http: { port: ${port}, host: 127.0.0.1, webhookSecretEnv: HOOK_SECRET }
`,
    );
  });
  afterAll(async () => {
    await human?.cleanup();
    await remote?.cleanup();
    await work?.cleanup();
    await slapd?.stop();
  });

  it('completes an execution exactly once after kill -9 in the middle of it', async () => {
    await commitAndPush(human.dir, { 'requests/bulk.yaml': REQUEST(true) }, 'Bulk mail re-export');
    const child = spawn(process.execPath, [bin, 'once', '--config', `${work.dir}/daemon.yaml`], {
      env: env(),
      stdio: 'ignore',
    });
    const journaled = async () => {
      const files = (await readdir(`${work.dir}/var/journal`).catch(() => [] as string[])).filter((f) =>
        /^bulk\.[0-9a-f]+\.jsonl$/.test(f),
      );
      return files[0]
        ? (await readFile(`${work.dir}/var/journal/${files[0]}`, 'utf8')).split('\n').filter(Boolean).length
        : 0;
    };
    await waitUntil('execution to be under way', async () => (await journaled()) >= 50, {
      timeoutMs: 60_000,
      intervalMs: 20,
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(await journaled()).toBeLessThan(USERS);
    expect(await gitIn(remote.bare, 'show', 'main:reports/bulk/status.yaml')).toMatch(/state: executing/);

    const again = await runCli(['once', '--config', `${work.dir}/daemon.yaml`], { env: env() });
    expect(again.code).toBe(0);
    expect(await gitIn(remote.bare, 'show', 'main:reports/bulk/status.yaml')).toMatch(/state: executed/);
    const results = (await gitIn(remote.bare, 'show', 'main:reports/bulk/result.jsonl'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { outcome: string });
    expect(results).toHaveLength(USERS);
    expect(results.every((r) => r.outcome === 'applied' || r.outcome === 'already-applied')).toBe(true);
    const counts = auditedModifies(await slapd.audit());
    expect(counts.size).toBe(USERS);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    // And a third pass does nothing at all.
    const before = await gitIn(remote.bare, 'rev-parse', 'main');
    expect((await runCli(['once', '--config', `${work.dir}/daemon.yaml`], { env: env() })).code).toBe(0);
    expect(await gitIn(remote.bare, 'rev-parse', 'main')).toBe(before);
  });

  it('serves health, readiness and metrics, takes a signed webhook, refuses an unsigned one, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [bin, 'daemon', '--config', `${work.dir}/daemon.yaml`], {
      env: env(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let logs = '';
    child.stderr.on('data', (c: Buffer) => (logs += c.toString()));
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitUntil(
        'daemon ready',
        async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200,
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const body = JSON.stringify({ ref: 'refs/heads/main' });
      expect((await fetch(`${base}/hooks/git`, { method: 'POST', body })).status).toBe(401);
      expect(
        (
          await fetch(`${base}/hooks/git`, {
            method: 'POST',
            body,
            headers: { 'x-hub-signature-256': 'sha256=00' },
          })
        ).status,
      ).toBe(401);
      const sig = `sha256=${createHmac('sha256', 's3cret-hook').update(body).digest('hex')}`;
      expect(
        (await fetch(`${base}/hooks/git`, { method: 'POST', body, headers: { 'x-hub-signature-256': sig } }))
          .status,
      ).toBe(202);
      expect(
        (
          await fetch(`${base}/hooks/git`, {
            method: 'POST',
            body,
            headers: { 'x-gitlab-token': 's3cret-hook' },
          })
        ).status,
      ).toBe(202);
      await waitUntil(
        'second pass',
        async () =>
          /reexport_passes_total\{result="ok"\} [2-9]/.test(await (await fetch(`${base}/metrics`)).text()),
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/# TYPE reexport_passes_total counter/);
      expect(metrics).toMatch(/reexport_last_pass_success 1/);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(0);
    expect(logs).toContain('"msg":"daemon stopped"');
    expect(logs).not.toContain(slapd.password);
    expect(logs).not.toContain('s3cret-hook');
    for (const line of logs.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });
});
