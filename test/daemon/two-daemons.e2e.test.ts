import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, spawnCli } from '../harness/cli.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, gitIn, makeRepo, mergeThroughPullRequest } from '../harness/git.js';
import { describeWithSlapd } from '../harness/require.js';
import { auditedModifies } from '../harness/slapd-audit.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';
import { PEOPLE_TEMPLATE, peopleCsv, peopleLdif } from '../harness/people-fixtures.js';

/**
 * libfaketime (Debian's libfaketime, which .ci/run installs): a process started with it reads a
 * clock `FAKETIME` away from the machine's, as a replica on a badly synchronised node does. Its
 * git commits carry that clock's dates too.
 */
const FAKETIME_LIB = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib']
  .map((dir) => `${dir}/faketime/libfaketime.so.1`)
  .find((file) => existsSync(file));
const skewed = (offset: string): NodeJS.ProcessEnv => {
  if (!FAKETIME_LIB) throw new Error('libfaketime is not installed (apt-get install libfaketime)');
  return { LD_PRELOAD: FAKETIME_LIB, FAKETIME: offset };
};

/** Every one of `users` entries was modified exactly once, as slapd's audit log tells. */
async function expectEachWrittenOnce(slapd: Slapd, users: number) {
  const counts = auditedModifies(await slapd.audit());
  expect(counts.size).toBe(users);
  expect([...counts.values()].every((n) => n === 1)).toBe(true);
}

/** main's claim and execution records, oldest first in its history: [subject, by, state]. */
async function recordsOnMain(bare: string) {
  return (await gitIn(bare, 'log', '--topo-order', '--reverse', '--format=%s%x00%B%x1e', 'main'))
    .split('\x1e')
    .filter((c) => c.includes('\0'))
    .flatMap((c) => {
      const [subject, body] = c.replace(/^\n+/, '').split('\0') as [string, string];
      const m = /^Reexport-Record: (\S+)$/m.exec(body);
      if (!m) return [];
      const signed = JSON.parse(Buffer.from(m[1]!, 'base64url').toString()) as { statement: string };
      const s = JSON.parse(signed.statement) as { by: string; state: string; at: string };
      return [{ subject, by: s.by, state: s.state, at: s.at }];
    });
}
const USERS = 300;
const REQUEST = (execute: boolean) =>
  `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: bulk }\nspec: { template: t, mappings: all, users: all, execute: ${execute}, maxChanges: 1000 }\n`;

/**
 * Two daemons (configs a.yaml and b.yaml, workdirs var-a and var-b) sharing one signing key, as
 * replicas do, on one config repository and one slapd of `users` people; registered in the
 * calling describe block.
 */
function twoDaemons(opts: { users: number; rateLimit: number; execution?: string }) {
  const f = {} as {
    slapd: Slapd;
    remote: Awaited<ReturnType<typeof makeRepo>>;
    human: Awaited<ReturnType<typeof cloneRepo>>;
    work: Awaited<ReturnType<typeof makeDir>>;
  };
  const env = () => ({ ...process.env, PW: f.slapd.password });
  const config = (workdir: string) => `apiVersion: reexport/v1
kind: DaemonConfig
repo: { url: "${f.remote.bare}", workdir: ${workdir}, author: { name: reexport-bot, email: bot@kommune.test } }
signing: { keyFile: ./key.pem }
${opts.execution ? `execution: ${opts.execution}\n` : ''}targets:
  ldap:
    url: ${f.slapd.url}
    bindDN: "${f.slapd.bindDN}"
    passwordEnv: PW
    rateLimit: ${opts.rateLimit}
    allowedAttributes: [mail]
`;
  beforeAll(async () => {
    f.slapd = await startSlapd({
      ldif: peopleLdif(opts.users),
      debugLevel: 'stats',
      outputLimit: 64 * 1024 * 1024,
    });
    f.remote = await makeRepo({
      'templates/t.yaml': PEOPLE_TEMPLATE,
      'data/people.csv': peopleCsv(opts.users),
    });
    f.human = await cloneRepo(f.remote.bare);
    const { generateKeyPairSync } = await import('node:crypto');
    // Replicas that share work share the signing key (a Secret), as the docs say.
    const key = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    f.work = await makeDir({ 'key.pem': key });
    await writeFile(`${f.work.dir}/a.yaml`, config('./var-a'));
    await writeFile(`${f.work.dir}/b.yaml`, config('./var-b'));
  });
  afterAll(async () => {
    await f.human?.cleanup();
    await f.remote?.cleanup();
    await f.work?.cleanup();
    await f.slapd?.stop();
  });
  /** `reexport once` of a.yaml or b.yaml; `extraEnv` e.g. a skewed clock. */
  const cli = (cfg: string, extraEnv: NodeJS.ProcessEnv = {}) =>
    runCli(['once', '--config', `${f.work.dir}/${cfg}`], {
      env: { ...env(), ...extraEnv },
      cwd: f.work.dir,
    });
  /** `reexport once` of a.yaml or b.yaml as a child process, for a test to pause or kill. */
  const spawnOnce = (cfg: string) =>
    spawnCli(['once', '--config', `${f.work.dir}/${cfg}`], { env: env(), cwd: f.work.dir });
  return {
    f,
    env,
    cli,
    spawnOnce,
    /** Request `bulk` previewed by daemon A on its branch, then merged with execute: true. */
    mergeBulk: () =>
      mergeThroughPullRequest(
        f.human.dir,
        { branch: 'bulk', file: 'requests/bulk.yaml', proposed: REQUEST(false), approved: REQUEST(true) },
        async () => expect((await cli('a.yaml')).code).toBe(0),
      ),
  };
}

describeWithSlapd('two daemons on one repository and one directory', () => {
  const { f, env, cli, mergeBulk } = twoDaemons({ users: USERS, rateLimit: 400 });

  it('execute a merged request exactly once between them, and the result reports what was applied', async () => {
    await mergeBulk();

    const [a, b] = await Promise.all([cli('a.yaml'), cli('b.yaml')]);
    // One executed; the other found the claim and left it alone (or lost the claim race).
    await expectEachWrittenOnce(f.slapd, USERS);
    expect(a.code + b.code).toBeLessThanOrEqual(1);

    // Whichever is still behind finishes nothing twice on later passes, and the result is true.
    for (const cfg of ['a.yaml', 'b.yaml']) {
      expect((await cli(cfg)).code).toBe(0);
    }
    expect([...auditedModifies(await f.slapd.audit()).values()].every((n) => n === 1)).toBe(true);
    const status = await gitIn(f.remote.bare, 'show', 'main:reports/bulk/status.yaml');
    expect(status).toMatch(/state: executed/);
    expect(status).toMatch(new RegExp(`applied: ${USERS}`));
    const executing = (await gitIn(f.remote.bare, 'log', '--format=%s', 'main'))
      .split('\n')
      .filter((s) => s.startsWith('reexport: executing bulk'));
    expect(executing).toHaveLength(1);
  });

  it('refuse to share one workdir at the same time', async () => {
    // A live process holds the workdir (this test's own process stands in for a running daemon).
    await writeFile(`${f.work.dir}/var-a/lock`, `${process.pid}\n`);
    const second = await runCli(['once', '--config', `${f.work.dir}/a.yaml`], { env: env() });
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(
      /workdir .*var-a is in use by process \d+; give each daemon its own repo.workdir/,
    );
    // A lock left by a process that is gone is taken over.
    await writeFile(`${f.work.dir}/var-a/lock`, '999999999\n');
    expect((await runCli(['once', '--config', `${f.work.dir}/a.yaml`], { env: env() })).code).toBe(0);
  });
});

describeWithSlapd('an execution longer than the claim timeout', () => {
  const users = 300;
  // 300 writes at 50 a second: six seconds, twice the claim timeout.
  const { f, cli, mergeBulk } = twoDaemons({
    users,
    rateLimit: 50,
    execution: '{ claimTimeoutSeconds: 3 }',
  });
  const subjects = async () => (await gitIn(f.remote.bare, 'log', '--format=%s', 'main')).split('\n');

  it('is not taken over by the other daemon: the running one renews its claim', async () => {
    await mergeBulk();

    const a = cli('a.yaml');
    await expect
      .poll(async () => (await subjects()).some((s) => s.startsWith('reexport: executing bulk')), {
        timeout: 20_000,
        interval: 100,
      })
      .toBe(true);
    // Past the first claim's timeout, with daemon A still writing.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const b = await cli('b.yaml');
    expect(b.code).toBe(0);
    expect(`${b.stdout}${b.stderr}`).toContain('execution claimed elsewhere');
    expect(`${b.stdout}${b.stderr}`).not.toContain('"msg":"execution claimed"');
    expect((await a).code).toBe(0);

    await expectEachWrittenOnce(f.slapd, users);
    const all = await subjects();
    expect(all.filter((s) => s === 'reexport: executing bulk (claim renewed)').length).toBeGreaterThan(1);
    expect(all[0]).toBe('reexport: executed bulk');
    expect(await gitIn(f.remote.bare, 'show', 'main:reports/bulk/status.yaml')).toMatch(
      new RegExp(`state: executed[\\s\\S]*applied: ${users}`),
    );
  }, 60_000);
});

describeWithSlapd('a daemon paused past the claim timeout', () => {
  const users = 300;
  // 300 writes at 30 a second: ten seconds, with a claim timeout of three.
  const { f, cli, spawnOnce, mergeBulk } = twoDaemons({
    users,
    rateLimit: 30,
    execution: '{ claimTimeoutSeconds: 3 }',
  });
  const records = () => recordsOnMain(f.remote.bare);

  it('stops writing when it wakes to find its claim taken over, and never claims it back', async () => {
    await mergeBulk();

    const { child: a, exit: aExit, output: aOut } = spawnOnce('a.yaml');
    await expect
      .poll(async () => (await records()).some((r) => r.state === 'executing'), {
        timeout: 20_000,
        interval: 100,
      })
      .toBe(true);
    const holder = (await records()).find((r) => r.state === 'executing')!.by;
    // A freezes (a paused VM, a stopped container) for longer than the claim timeout.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    a.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, 4000));
    // B counts the timeout on its own clock from when it first saw the claim: not yet.
    const first = await cli('b.yaml');
    expect(first.code).toBe(0);
    expect(`${first.stdout}${first.stderr}`).toContain('execution claimed elsewhere');
    expect((await records()).every((r) => r.by === holder)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const b = cli('b.yaml');
    await expect
      .poll(async () => (await records()).some((r) => r.state === 'executing' && r.by !== holder), {
        timeout: 20_000,
        interval: 100,
      })
      .toBe(true);
    a.kill('SIGCONT');
    expect((await b).code).toBe(0);
    expect(await aExit).toBe(0);

    expect(aOut()).toMatch(/stopping before another daemon takes it over|the claim is no longer ours/);
    const all = await records();
    const takeover = all.findIndex((r) => r.by !== holder);
    expect(all.slice(takeover).every((r) => r.by !== holder)).toBe(true);
    expect(all.filter((r) => r.state === 'executed')).toHaveLength(1);
    await expectEachWrittenOnce(f.slapd, users);
  }, 90_000);
});

describeWithSlapd('replicas whose clocks disagree', () => {
  const users = 300;
  // 300 writes at 30 a second: ten seconds, with a claim timeout of three (renewed every second).
  const { f, cli, spawnOnce, mergeBulk } = twoDaemons({
    users,
    rateLimit: 30,
    execution: '{ claimTimeoutSeconds: 3 }',
  });
  const records = () => recordsOnMain(f.remote.bare);
  const claimed = () =>
    expect
      .poll(async () => (await records()).some((r) => r.state === 'executing'), {
        timeout: 20_000,
        interval: 100,
      })
      .toBe(true);

  it('one whose clock runs an hour ahead never takes over a claim that is being renewed', async () => {
    await mergeBulk();
    const a = spawnOnce('a.yaml');
    await claimed();
    const holder = (await records()).find((r) => r.state === 'executing')!.by;
    // By its clock A's claim is an hour old, far past the timeout; A renews it every second.
    for (let i = 0; i < 3; i++) {
      const b = await cli('b.yaml', skewed('+1h'));
      expect(b.code).toBe(0);
      expect(`${b.stdout}${b.stderr}`).toContain('execution claimed elsewhere');
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    expect(await a.exit).toBe(0);
    const all = await records();
    expect(all.every((r) => r.by === holder)).toBe(true);
    expect(all.filter((r) => r.state === 'executed')).toHaveLength(1);
    await expectEachWrittenOnce(f.slapd, users);
  }, 90_000);
});

describeWithSlapd('replicas whose clocks disagree, when one stops', () => {
  const users = 300;
  const { f, cli, spawnOnce, mergeBulk } = twoDaemons({
    users,
    rateLimit: 30,
    execution: '{ claimTimeoutSeconds: 3 }',
  });
  const records = () => recordsOnMain(f.remote.bare);

  it('one whose clock runs an hour behind takes over a stopped claim once unrenewed, and finishes it', async () => {
    await mergeBulk();
    const { child: a, exit: aExit } = spawnOnce('a.yaml');
    await expect
      .poll(async () => auditedModifies(await f.slapd.audit()).size, { timeout: 20_000, interval: 100 })
      .toBeGreaterThan(30);
    // A is killed mid-execution: its claim stays on main, never renewed again.
    a.kill('SIGKILL');
    await aExit;
    const holder = (await records()).find((r) => r.state === 'executing')!.by;

    const behind = skewed('-1h');
    // Its claim's time is an hour in B's future; B counts from when it saw it, on its own clock.
    const first = await cli('b.yaml', behind);
    expect(`${first.stdout}${first.stderr}`).toContain('execution claimed elsewhere');
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const b = await cli('b.yaml', behind);
    expect(b.code, `${b.stdout}${b.stderr}`).toBe(0);

    // B's clock would have signed its takeover an hour "before" A's claim; it is signed just
    // after it (the time of a record is never before one its signer has seen), and B, reading
    // the records in that order, kept its claim to the end.
    const all = await records();
    const takeover = all.findIndex((r) => r.by !== holder);
    expect(takeover).toBeGreaterThan(0);
    expect(all[takeover]!.at).toBe(new Date(Date.parse(all[takeover - 1]!.at) + 1).toISOString());
    expect(all.slice(takeover).every((r) => r.by !== holder)).toBe(true);
    expect(all.at(-1)).toMatchObject({ state: 'executed' });
    expect(await gitIn(f.remote.bare, 'show', 'main:reports/bulk/status.yaml')).toMatch(/state: executed/);
    await expectEachWrittenOnce(f.slapd, users);
  }, 90_000);
});

describeWithSlapd('a force-push of main that takes a claim away', () => {
  const users = 300;
  const { f, cli, spawnOnce, mergeBulk } = twoDaemons({
    users,
    rateLimit: 30,
    execution: '{ claimTimeoutSeconds: 3 }',
  });
  const records = () => recordsOnMain(f.remote.bare);

  it('never lets a daemon that saw the claim execute the request again: it refuses, and says why', async () => {
    await mergeBulk();
    const merged = (await gitIn(f.remote.bare, 'rev-parse', 'main')).trim();
    const { child: a, exit: aExit } = spawnOnce('a.yaml');
    await expect
      .poll(async () => auditedModifies(await f.slapd.audit()).size, { timeout: 20_000, interval: 100 })
      .toBeGreaterThan(30);
    a.kill('SIGKILL');
    await aExit;
    // B sees A's claim on main and waits for it.
    const first = await cli('b.yaml');
    expect(`${first.stdout}${first.stderr}`).toContain('execution claimed elsewhere');
    // Someone force-pushes main back to the merge: the claim and its renewals are gone.
    await gitIn(f.human.dir, 'push', '--force', 'origin', `${merged}:refs/heads/main`);
    expect(await records()).toEqual([]);
    const written = auditedModifies(await f.slapd.audit());
    await new Promise((resolve) => setTimeout(resolve, 3500));

    const b = await cli('b.yaml');
    expect(b.code, `${b.stdout}${b.stderr}`).toBe(0);
    // Not a single write more: without the claim it had seen, B would have run the request again.
    expect(auditedModifies(await f.slapd.audit())).toEqual(written);
    expect(await records()).toEqual([]);
    const status = await gitIn(f.remote.bare, 'show', 'main:reports/bulk/status.yaml');
    expect(status).toMatch(/state: refused/);
    expect(status).toMatch(/force-push/);
    expect(status).toMatch(/new request/);
  }, 90_000);
});
