import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, gitIn, makeRepo, mergeThroughPullRequest } from '../harness/git.js';
import { PEOPLE_TEMPLATE, peopleCsv, peopleLdif } from '../harness/people-fixtures.js';
import { waitUntil } from '../harness/ports.js';
import { describeWithSlapd } from '../harness/require.js';
import { auditedModifies } from '../harness/slapd-audit.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.js';

const USERS = 200;
const REQUEST = (execute: boolean) =>
  `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: r }\nspec: { template: t, mappings: all, users: all, execute: ${execute}, maxChanges: 1000 }\n`;

/**
 * Replicas A and B (one signing key, their own workdirs). A's execution ends partial (the
 * directory unreachable on A's path only); B resumes it and finishes. A's ledger keeps the files
 * of its own partial run: restoring "the daemon's files" must mean those of the record main's
 * history decides by, B's, or each daemon puts its own back over the other's on every pass.
 */
describeWithSlapd('a partial execution another replica finished', () => {
  let slapd: Slapd;
  let proxy: TcpProxy;
  let remote: Awaited<ReturnType<typeof makeRepo>>;
  let human: Awaited<ReturnType<typeof cloneRepo>>;
  let work: Awaited<ReturnType<typeof makeDir>>;
  const once = (config: string) =>
    runCli(['once', '--config', `${work.dir}/${config}`], {
      env: { ...process.env, PW: slapd.password },
      cwd: work.dir,
      timeoutMs: 120_000,
    });
  const config = (workdir: string, url: string, rate: number) => `apiVersion: reexport/v1
kind: DaemonConfig
repo: { url: "${remote.bare}", workdir: ${workdir}, author: { name: reexport-bot, email: bot@kommune.test } }
signing: { keyFile: ./key.pem }
execution: { retry: { attempts: 2, baseDelayMs: 20 } }
targets:
  ldap:
    url: ${url}
    bindDN: "${slapd.bindDN}"
    passwordEnv: PW
    timeoutMs: 1000
    rateLimit: ${rate}
    allowedAttributes: [mail]
`;
  beforeAll(async () => {
    slapd = await startSlapd({ ldif: peopleLdif(USERS) });
    proxy = await startTcpProxy('127.0.0.1', Number(new URL(slapd.url).port));
    remote = await makeRepo({ 'templates/t.yaml': PEOPLE_TEMPLATE, 'data/people.csv': peopleCsv(USERS) });
    human = await cloneRepo(remote.bare);
    const key = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    work = await makeDir({ 'key.pem': key });
    await writeFile(`${work.dir}/a.yaml`, config('./var-a', proxy.url, 60));
    await writeFile(`${work.dir}/b.yaml`, config('./var-b', slapd.url, 1000));
  });
  afterAll(async () => {
    await proxy?.close();
    await human?.cleanup();
    await work?.cleanup();
    await remote?.cleanup();
    await slapd?.stop();
  });

  it('stays executed: neither replica puts its own result files back over the other’s', async () => {
    await mergeThroughPullRequest(
      human.dir,
      { branch: 'r', file: 'requests/r.yaml', proposed: REQUEST(false), approved: REQUEST(true) },
      async () => expect((await once('a.yaml')).code).toBe(0),
    );

    const pass = once('a.yaml');
    await waitUntil('A to write', async () => auditedModifies(await slapd.audit()).size >= 40, {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    await proxy.refuse();
    await pass;
    const status = () => gitIn(remote.bare, 'show', 'main:reports/r/status.yaml');
    expect(await status()).toMatch(/state: partial/);
    await proxy.restore();
    expect((await once('b.yaml')).code).toBe(0);
    const finished = await status();
    expect(finished).toMatch(/state: executed/);
    const head = await gitIn(remote.bare, 'rev-parse', 'main');

    for (let i = 0; i < 2; i++) {
      expect((await once('a.yaml')).code).toBe(0);
      expect((await once('b.yaml')).code).toBe(0);
    }
    // Nothing to restore: main is as B left it.
    expect(await gitIn(remote.bare, 'rev-parse', 'main')).toBe(head);
    expect(await status()).toBe(finished);
    expect([...auditedModifies(await slapd.audit()).values()].every((n) => n === 1)).toBe(true);
  }, 180_000);
});
