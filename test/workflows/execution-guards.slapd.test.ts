import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, spawnCli } from '../harness/cli.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo, mergeThroughPullRequest } from '../harness/git.js';
import { PEOPLE_TEMPLATE, peopleCsv, peopleLdif } from '../harness/people-fixtures.js';
import { waitUntil } from '../harness/ports.js';
import { describeWithSlapd } from '../harness/require.js';
import { auditedModifies } from '../harness/slapd-audit.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';

/**
 * What a human on main can and cannot make an execution do: withdraw it while it runs
 * (execute: false), and not skip the review by pushing a request straight to main.
 */
const REQUEST = (execute: boolean) =>
  `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: r }\nspec: { template: t, mappings: all, users: all, execute: ${execute}, maxChanges: 1000 }\n`;

/** One daemon (config d.yaml) on a repository and a slapd of `users` people. */
function oneDaemon(users: number, extra = '', rateLimit = 1000) {
  const f = {} as {
    slapd: Slapd;
    remote: Awaited<ReturnType<typeof makeRepo>>;
    human: Awaited<ReturnType<typeof cloneRepo>>;
    work: Awaited<ReturnType<typeof makeDir>>;
  };
  beforeAll(async () => {
    f.slapd = await startSlapd({ ldif: peopleLdif(users) });
    f.remote = await makeRepo({ 'templates/t.yaml': PEOPLE_TEMPLATE, 'data/people.csv': peopleCsv(users) });
    f.human = await cloneRepo(f.remote.bare);
    f.work = await makeDir({
      'd.yaml': `apiVersion: reexport/v1
kind: DaemonConfig
repo: { url: "${f.remote.bare}", workdir: ./var }
${extra}targets:
  ldap:
    url: ${f.slapd.url}
    bindDN: "${f.slapd.bindDN}"
    passwordEnv: PW
    rateLimit: ${rateLimit}
    allowedAttributes: [mail]
`,
    });
  });
  afterAll(async () => {
    await f.human?.cleanup();
    await f.work?.cleanup();
    await f.remote?.cleanup();
    await f.slapd?.stop();
  });
  const env = () => ({ ...process.env, PW: f.slapd.password });
  const once = () => runCli(['once', '--config', `${f.work.dir}/d.yaml`], { env: env(), cwd: f.work.dir });
  const status = () => gitIn(f.remote.bare, 'show', 'main:reports/r/status.yaml');
  const written = async () => auditedModifies(await f.slapd.audit()).size;
  return { f, env, once, status, written };
}

describeWithSlapd('a request pushed straight to main', () => {
  const { f, once, status, written } = oneDaemon(20);

  it('is not executed on the strength of the preview the daemon made on main: nobody reviewed it', async () => {
    await commitAndPush(f.human.dir, { 'requests/r.yaml': REQUEST(false) }, 'r, straight to main');
    expect((await once()).code).toBe(0);
    expect(await status()).toMatch(/state: previewed/);
    await gitIn(f.human.dir, 'pull', '--rebase', 'origin', 'main');
    await commitAndPush(f.human.dir, { 'requests/r.yaml': REQUEST(true) }, 'execute r, straight to main');
    expect((await once()).code).toBe(0);
    const after = await status();
    expect(after).toMatch(/state: refused/);
    expect(after).toMatch(/the preview was made on main, not in a pull request/);
    expect(after).toMatch(/open a pull request/);
    expect(await written()).toBe(0);

    // As the message says: a pull request (that changes nothing but execute) is previewed anew,
    // signed for its branch, and runs once merged.
    await gitIn(f.human.dir, 'pull', '--rebase', 'origin', 'main');
    await commitAndPush(f.human.dir, { 'requests/r.yaml': REQUEST(false) }, 'back to execute: false');
    expect((await once()).code).toBe(0);
    await gitIn(f.human.dir, 'pull', '--rebase', 'origin', 'main');
    await gitIn(f.human.dir, 'checkout', '-q', '-b', 'approve-r');
    await commitAndPush(f.human.dir, { 'requests/r.yaml': REQUEST(true) }, 'approve r');
    await gitIn(f.human.dir, 'push', '-q', '--set-upstream', 'origin', 'approve-r');
    expect((await once()).code).toBe(0);
    const onBranch = await gitIn(f.remote.bare, 'show', 'approve-r:reports/r/status.yaml');
    expect(onBranch).toContain(`"branch":"approve-r"`);
    await gitIn(f.human.dir, 'pull', '-q', '--rebase', 'origin', 'approve-r');
    await gitIn(f.human.dir, 'checkout', '-q', 'main');
    await gitIn(f.human.dir, 'merge', '-q', '--no-ff', '-m', 'Merge approve-r', 'approve-r');
    await gitIn(f.human.dir, 'push', '-q', 'origin', 'main');
    expect((await once()).code).toBe(0);
    expect(await status()).toMatch(/state: executed/);
    expect(await written()).toBe(20);
  });
});

describeWithSlapd('withdrawing the approval while the execution runs', () => {
  // 100 writes at 10 a second; main is looked at every 2 s (a third of the claim timeout).
  const { f, env, once, status, written } = oneDaemon(100, 'execution: { claimTimeoutSeconds: 6 }\n', 10);

  it('stops writing soon after execute: false lands on main, and the request stays partial', async () => {
    await mergeThroughPullRequest(
      f.human.dir,
      { branch: 'r', file: 'requests/r.yaml', proposed: REQUEST(false), approved: REQUEST(true) },
      async () => expect((await once()).code).toBe(0),
    );

    const { exit, output } = spawnCli(['once', '--config', `${f.work.dir}/d.yaml`], {
      env: env(),
      cwd: f.work.dir,
    });
    await waitUntil('the first writes', async () => (await written()) >= 10, {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    await gitIn(f.human.dir, 'pull', '--rebase', 'origin', 'main');
    await commitAndPush(f.human.dir, { 'requests/r.yaml': REQUEST(false) }, 'Stop r!');
    const atWithdrawal = await written();
    expect(await exit).toBe(0);
    expect(output()).toMatch(/now says execute: false; stopping/);
    // At most a check interval (2 s) and a fetch of writes after it, far from the 100.
    const total = await written();
    expect(total).toBeLessThan(Math.min(100, atWithdrawal + 35));
    // The next pass says why the rest is not written.
    expect((await once()).code).toBe(0);
    const halted = await status();
    expect(halted).toMatch(/state: partial/);
    expect(halted).toMatch(/execute: false/);
    expect(await written()).toBe(total);
  }, 120_000);
});
