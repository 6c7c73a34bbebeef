import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { Metrics } from '../../src/adapters/http/metrics.js';
import { reconcileContext, runPass } from '../../src/daemon/daemon.js';
import type { ReconcileContext } from '../../src/workflows/reconcile.js';
import { createLogger } from '../../src/shared/log.js';
import { runCli } from '../harness/cli.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, gitShowBytes, makeRepo } from '../harness/git.js';
import { parseResultJsonl, resultText } from '../../src/report/result.js';
import { describeWithSlapd } from '../harness/require.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';
import { CSV, daemonConfig, request, seedLdif, SLAPD_TEMPLATE } from '../harness/slapd-fixtures.js';

const show = (bare: string, ref: string, file: string) =>
  gitIn(bare, 'show', `${ref}:${file}`).catch(() => undefined);
const commits = async (bare: string, ref: string) =>
  Number((await gitIn(bare, 'rev-list', '--count', ref)).trim());

describeWithSlapd('the reconcile loop against a real repository and slapd', () => {
  let slapd: Slapd;
  let remote: Awaited<ReturnType<typeof makeRepo>>;
  let human: Awaited<ReturnType<typeof cloneRepo>>;
  let work: Awaited<ReturnType<typeof makeDir>>;
  let ctx: ReconcileContext;
  let publicPem: string;
  let release: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    slapd = await startSlapd({ ldif: seedLdif() });
    process.env.REEXPORT_TEST_LDAP_PASSWORD = slapd.password;
    remote = await makeRepo({
      'templates/ldap-employees.yaml': SLAPD_TEMPLATE,
      'data/ansatte.csv': CSV,
      'README.md': '# IAM config\n',
    });
    human = await cloneRepo(remote.bare);
    work = await makeDir({});
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(
        `${work.dir}/daemon.yaml`,
        daemonConfig(
          slapd.url,
          slapd.bindDN,
          `repo: { url: "${remote.bare}", branch: main, workdir: ./var, author: { name: reexport-bot, email: bot@kommune.test } }\nhttp: { port: 0 }\n`,
        ),
      ),
    );
    const daemon = await loadDaemonConfig(`${work.dir}/daemon.yaml`);
    const made = await reconcileContext(
      { daemon, log: createLogger('silent') },
      new Metrics(),
      new AbortController().signal,
    );
    // Two outcomes are about 190 bytes of result.jsonl: above this, the large-execution form.
    ctx = { ...made, apply: { ...made.apply, resultJsonlBytes: 100 } };
    release = () => made.release();
    publicPem = made.publicPem;
  });
  afterAll(async () => {
    await release?.();
    await human?.cleanup();
    await remote?.cleanup();
    await work?.cleanup();
    await slapd?.stop();
  });

  const mailOf = async (uid: string) => slapd.search(`(uid=${uid})`, 'mail');

  it('commits a preview to the branch that adds a request, and nothing more when nothing changed', async () => {
    await gitIn(human.dir, 'checkout', '-b', 'new-mail');
    await commitAndPush(
      human.dir,
      {
        'requests/new-mail.yaml': request('new-mail', '  mappings: [mail]\n  users: all\n  execute: false\n'),
      },
      'Add new-mail request',
    );
    await gitIn(human.dir, 'push', '--set-upstream', 'origin', 'new-mail');
    expect((await runPass(ctx)).ok).toBe(true);
    const md = await show(remote.bare, 'new-mail', 'reports/new-mail/preview.md');
    expect(md).toContain('| **To change** | **2 users, 2 attribute changes** |');
    expect(md).toContain('-mail: ase.odegard@kommune.no\n+mail: aase.odegaard@lillevik.kommune.no');
    expect(await show(remote.bare, 'new-mail', 'reports/new-mail/plan.jsonl')).toMatch(
      /"format":"reexport-plan\/v1"/,
    );
    expect(await show(remote.bare, 'new-mail', 'reports/new-mail/changes.ldif')).toMatch(/^version: 1/);
    expect(await gitIn(remote.bare, 'log', '-1', '--format=%an <%ae>', 'new-mail')).toBe(
      'reexport-bot <bot@kommune.test>\n',
    );
    const after = await commits(remote.bare, 'new-mail');
    expect((await runPass(ctx)).ok).toBe(true);
    expect(await commits(remote.bare, 'new-mail')).toBe(after);
    // The forge's required check accepts the daemon's own signed preview, and only while it is current.
    await gitIn(human.dir, 'pull', '--rebase', 'origin', 'new-mail');
    const verify = () => runCli(['verify', human.dir], { env: { REEXPORT_PUBLIC_KEY: publicPem } });
    expect(await verify()).toMatchObject({
      code: 0,
      stderr: "ok: 1 request has the daemon's current, signed preview\n",
    });
    await writeFile(
      path.join(human.dir, 'requests/new-mail.yaml'),
      request('new-mail', '  mappings: [mail]\n  users: { ids: ["1001"] }\n  execute: false\n'),
    );
    await gitIn(human.dir, 'commit', '-qam', 'Only 1001');
    expect(await verify()).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/the preview is for an older version of the request/),
    });
    await gitIn(human.dir, 'reset', '-q', '--hard', 'HEAD~1');
    // What reviewers read is signed too: an edited preview.md fails the check, and the daemon
    // writes its own text back on the next pass.
    const signedMd = (await show(remote.bare, 'new-mail', 'reports/new-mail/preview.md'))!;
    await commitAndPush(
      human.dir,
      { 'reports/new-mail/preview.md': signedMd.replace('aase.odegaard@', 'nobody@') },
      'Tidy the preview\n\nReexport-Report: true',
    );
    expect(await verify()).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/preview\.md is not the text the daemon signed/),
    });
    expect((await runPass(ctx)).ok).toBe(true);
    await gitIn(human.dir, 'pull', '--rebase', 'origin', 'new-mail');
    expect(await show(remote.bare, 'new-mail', 'reports/new-mail/preview.md')).toContain('aase.odegaard@');
    expect((await verify()).code).toBe(0);
    // main is not touched by a branch's preview
    expect(await show(remote.bare, 'main', 'reports/new-mail/preview.md')).toBeUndefined();
  });

  it('commits a new preview when a value is changed by hand in the directory', async () => {
    const before = await commits(remote.bare, 'new-mail');
    await slapd.ldapmodify(
      'dn: uid=kaare,ou=Ansatte,dc=kommune,dc=test\nchangetype: modify\nreplace: mail\nmail: kaare@hand.no\n',
    );
    expect((await runPass(ctx)).ok).toBe(true);
    expect(await commits(remote.bare, 'new-mail')).toBe(before + 1);
    expect(await show(remote.bare, 'new-mail', 'reports/new-mail/preview.md')).toContain(
      '-mail: kaare@hand.no',
    );
  });

  it('never writes to the directory from a preview branch, whatever execute says', async () => {
    await gitIn(human.dir, 'pull', '--rebase', 'origin', 'new-mail');
    await commitAndPush(
      human.dir,
      {
        'requests/new-mail.yaml': request('new-mail', '  mappings: [mail]\n  users: all\n  execute: true\n'),
      },
      'Execute it',
    );
    expect((await runPass(ctx)).ok).toBe(true);
    expect(await mailOf('aase')).toContain('mail: ase.odegard@kommune.no');
    expect(await show(remote.bare, 'new-mail', 'reports/new-mail/status.yaml')).toMatch(/state: previewed/);
  });

  it('executes a merged request once, commits the results on main, and never again', async () => {
    await gitIn(human.dir, 'pull', '--rebase', 'origin', 'new-mail');
    await gitIn(human.dir, 'checkout', 'main');
    await gitIn(human.dir, 'pull', 'origin', 'main');
    await gitIn(human.dir, 'merge', '--no-ff', '-m', 'Merge new-mail', 'new-mail');
    await gitIn(human.dir, 'push', 'origin', 'main');
    expect((await runPass(ctx)).ok).toBe(true);
    const status = await show(remote.bare, 'main', 'reports/new-mail/status.yaml');
    expect(status).toMatch(/state: executed/);
    expect(await show(remote.bare, 'main', 'reports/new-mail/result.md')).toMatch(/\| applied \| 2 \|/);
    // Above the size limit the outcomes are committed compressed, and result.md says where.
    expect(await show(remote.bare, 'main', 'reports/new-mail/result.jsonl')).toBeUndefined();
    expect(await show(remote.bare, 'main', 'reports/new-mail/result.md')).toContain(
      "Every change's outcome is in `result.jsonl.gz`",
    );
    const outcomes = parseResultJsonl(
      resultText(
        'result.jsonl.gz',
        (await gitShowBytes(remote.bare, 'main', 'reports/new-mail/result.jsonl.gz'))!,
      ),
    );
    expect(outcomes.map((o) => `${o.id} ${o.attribute} ${o.outcome}`).sort()).toEqual([
      '1001 mail applied',
      '1003 mail applied',
    ]);
    expect(await mailOf('aase')).toContain('mail: aase.odegaard@lillevik.kommune.no');
    expect(await mailOf('kaare')).toContain('mail: kaare.daehlie@lillevik.kommune.no');
    const log = await gitIn(remote.bare, 'log', '--format=%s', 'main');
    expect(log.split('\n').filter((s) => s.startsWith('reexport: executing new-mail'))).toHaveLength(1);
    // Another pass, and merging the same request again, do nothing.
    const n = await commits(remote.bare, 'main');
    await slapd.ldapmodify(
      'dn: uid=aase,ou=Ansatte,dc=kommune,dc=test\nchangetype: modify\nreplace: mail\nmail: changed@later.no\n',
    );
    expect((await runPass(ctx)).ok).toBe(true);
    expect(await commits(remote.bare, 'main')).toBe(n);
    expect(await mailOf('aase')).toContain('mail: changed@later.no');
  });

  it('reports an edit of an executed request as invalid and executes nothing', async () => {
    await gitIn(human.dir, 'pull', 'origin', 'main');
    await commitAndPush(
      human.dir,
      {
        'requests/new-mail.yaml': request(
          'new-mail',
          '  mappings: [mail, title]\n  users: all\n  execute: true\n',
        ),
      },
      'Sneak in another mapping',
    );
    expect((await runPass(ctx)).ok).toBe(true);
    expect(await show(remote.bare, 'main', 'reports/new-mail/status.yaml')).toMatch(
      /state: invalid[\s\S]*create a new request/,
    );
    expect(await mailOf('aase')).toContain('mail: changed@later.no');
  });

  it('returns an edited executed request to executed when the edit is reverted', async () => {
    await gitIn(human.dir, 'pull', 'origin', 'main');
    await gitIn(human.dir, 'revert', '--no-edit', 'HEAD~1');
    await gitIn(human.dir, 'push', 'origin', 'main');
    expect((await runPass(ctx)).ok).toBe(true);
    expect(await show(remote.bare, 'main', 'reports/new-mail/status.yaml')).toMatch(/state: executed/);
    expect(await mailOf('aase')).toContain('mail: changed@later.no');
  });

  it('never executes again when reports/ is deleted or status.yaml says previewed; restores the files', async () => {
    await gitIn(human.dir, 'pull', 'origin', 'main');
    const result = await show(remote.bare, 'main', 'reports/new-mail/result.md');
    const gz = await gitShowBytes(remote.bare, 'main', 'reports/new-mail/result.jsonl.gz');
    await gitIn(human.dir, 'rm', '-r', '--quiet', 'reports/new-mail');
    await gitIn(human.dir, 'commit', '-m', 'Clean up reports');
    await gitIn(human.dir, 'push', 'origin', 'main');
    expect((await runPass(ctx)).ok).toBe(true);
    expect(await mailOf('aase')).toContain('mail: changed@later.no');
    expect(await show(remote.bare, 'main', 'reports/new-mail/result.md')).toBe(result);
    expect(await gitShowBytes(remote.bare, 'main', 'reports/new-mail/result.jsonl.gz')).toEqual(gz);
    expect(await show(remote.bare, 'main', 'reports/new-mail/status.yaml')).toMatch(/state: executed/);

    // Outcomes in both forms would leave a reader guessing which is the daemon's: the stray one goes.
    await gitIn(human.dir, 'pull', 'origin', 'main');
    await commitAndPush(human.dir, { 'reports/new-mail/result.jsonl': '{"id":"1001"}\n' }, 'Add outcomes');
    expect((await runPass(ctx)).ok).toBe(true);
    expect(await show(remote.bare, 'main', 'reports/new-mail/result.jsonl')).toBeUndefined();
    expect(await gitShowBytes(remote.bare, 'main', 'reports/new-mail/result.jsonl.gz')).toEqual(gz);

    await gitIn(human.dir, 'pull', 'origin', 'main');
    await commitAndPush(
      human.dir,
      { 'reports/new-mail/status.yaml': 'request: new-mail\nstate: previewed\n' },
      'Run it again, please',
    );
    expect((await runPass(ctx)).ok).toBe(true);
    expect(await mailOf('aase')).toContain('mail: changed@later.no');
    expect(await show(remote.bare, 'main', 'reports/new-mail/status.yaml')).toMatch(/state: executed/);
  });

  it('refuses a merged plan that someone edited on the branch, even with its digest recomputed', async () => {
    await gitIn(human.dir, 'checkout', 'main');
    await gitIn(human.dir, 'pull', 'origin', 'main');
    await gitIn(human.dir, 'checkout', '-b', 'forged');
    await commitAndPush(
      human.dir,
      { 'requests/forged.yaml': request('forged', '  mappings: [title]\n  users: all\n  execute: false\n') },
      'Add forged request',
    );
    await gitIn(human.dir, 'push', '--set-upstream', 'origin', 'forged');
    expect((await runPass(ctx)).ok).toBe(true);
    await gitIn(human.dir, 'pull', '--rebase', 'origin', 'forged');
    const plan = (await show(remote.bare, 'forged', 'reports/forged/plan.jsonl'))!;
    const { parsePlanJsonl } = await import('../../src/report/plan-jsonl.js');
    const { planDigest } = await import('../../src/plan/build-plan.js');
    const parsed = parsePlanJsonl(plan);
    expect(parsed.changes.length).toBeGreaterThan(0);
    // The attack: `before: []` (so the write would be an add beside the old value), digest recomputed.
    const changes = parsed.changes.map((c) => ({ ...c, before: [] }));
    const header = { ...parsed.header, digests: { ...parsed.header.digests, plan: planDigest(changes) } };
    const forged = [JSON.stringify(header), ...changes.map((c) => JSON.stringify(c))].join('\n') + '\n';
    await commitAndPush(
      human.dir,
      {
        'reports/forged/plan.jsonl': forged,
        'requests/forged.yaml': request('forged', '  mappings: [title]\n  users: all\n  execute: true\n'),
      },
      'Execute',
    );
    await gitIn(human.dir, 'checkout', 'main');
    await gitIn(human.dir, 'merge', '--no-ff', '-m', 'Merge forged', 'forged');
    await gitIn(human.dir, 'push', 'origin', 'main');
    const titles = await titlesNow();
    expect((await runPass(ctx)).ok).toBe(true);
    expect(await show(remote.bare, 'main', 'reports/forged/status.yaml')).toMatch(
      /state: refused[\s\S]*not the plan the daemon signed/,
    );
    expect(await titlesNow()).toEqual(titles);
  });

  const titlesNow = async () => slapd.search('(uid=*)', 'title');

  it('keeps both commits when a human pushes while the daemon pushes', async () => {
    await gitIn(human.dir, 'checkout', '-b', 'race');
    await commitAndPush(
      human.dir,
      { 'requests/race.yaml': request('race', '  mappings: [title]\n  users: all\n') },
      'Add race request',
    );
    await gitIn(human.dir, 'push', '--set-upstream', 'origin', 'race');
    let humanCommit = '';
    const racing: ReconcileContext = {
      ...ctx,
      repo: {
        ...ctx.repo,
        fetch: () => ctx.repo.fetch(),
        branches: () => ctx.repo.branches(),
        checkout: (b) => ctx.repo.checkout(b),
        changedFiles: (a, b) => ctx.repo.changedFiles(a, b),
        commitOnto: (b, onto, f, m) => ctx.repo.commitOnto(b, onto, f, m),
        messagesWith: (b, n) => ctx.repo.messagesWith(b, n),
        readFileAt: (c, f) => ctx.repo.readFileAt(c, f),
        readBytesAt: (c, f) => ctx.repo.readBytesAt(c, f),
        commitAndPush: async (branch, files, message) => {
          if (branch === 'race' && !humanCommit)
            humanCommit = await commitAndPush(
              human.dir,
              { 'requests/race-notes.md': 'reviewed by Kari\n' },
              'Human note',
            );
          return ctx.repo.commitAndPush(branch, files, message);
        },
      },
    };
    expect((await runPass(racing)).ok).toBe(true);
    const log = await gitIn(remote.bare, 'log', '--format=%H %s', 'race');
    expect(log).toContain(`${humanCommit} Human note`);
    expect(log).toMatch(/reexport: preview race/);
    expect(await show(remote.bare, 'race', 'reports/race/preview.md')).toContain('# Preview: race');
  });

  it('writes located errors for an invalid request on its branch', async () => {
    await gitIn(human.dir, 'checkout', 'main');
    await gitIn(human.dir, 'checkout', '-b', 'broken');
    await commitAndPush(
      human.dir,
      { 'requests/broken.yaml': request('broken', '  mappings: [mail, pager]\n  users: all\n') },
      'Broken request',
    );
    await gitIn(human.dir, 'push', '--set-upstream', 'origin', 'broken');
    expect((await runPass(ctx)).ok).toBe(true);
    const md = await show(remote.bare, 'broken', 'reports/broken/preview.md');
    expect(md).toContain('requests/broken.yaml:6:20: template `ldap-employees` has no mapping for `pager`');
    expect(await show(remote.bare, 'broken', 'reports/broken/status.yaml')).toMatch(/state: invalid/);
    expect(path.basename(remote.bare)).toBe('remote.git');
  });

  it("commits a data file's problems to the pull request as an invalid report, with file and line", async () => {
    await gitIn(human.dir, 'checkout', 'main');
    await gitIn(human.dir, 'checkout', '-b', 'bad-data');
    const bytes = Buffer.concat([
      Buffer.from(CSV.replace('1002,Bjørn', '1001,Bjørn')),
      Buffer.from('1006,Ola,Nordmann,R'),
      Buffer.from([0xe5]), // Latin-1 å
      Buffer.from('dgiver,\n'),
    ]);
    await commitAndPush(
      human.dir,
      {
        'data/ansatte.csv': bytes,
        'requests/bad-data.yaml': request('bad-data', '  mappings: [mail]\n  users: all\n  execute: false\n'),
      },
      'Request with a Latin-1 export',
    );
    await gitIn(human.dir, 'push', '--set-upstream', 'origin', 'bad-data');
    expect(await runPass(ctx)).toMatchObject({ ok: true });
    const status = await show(remote.bare, 'bad-data', 'reports/bad-data/status.yaml');
    expect(status).toMatch(/state: invalid/);
    expect(status).toMatch(/data\/ansatte\.csv:8:20: is not valid UTF-8 \(byte 0xE5 at offset \d+\)/);
    expect(await show(remote.bare, 'bad-data', 'reports/bad-data/preview.md')).toContain(
      'data/ansatte.csv:8:20',
    );

    // Valid UTF-8 but a repeated ID: the records and lines are named.
    await gitIn(human.dir, 'pull', '--rebase', 'origin', 'bad-data');
    await commitAndPush(
      human.dir,
      { 'data/ansatte.csv': CSV.replace('1002,Bjørn', '1001,Bjørn') },
      'UTF-8 now',
    );
    expect(await runPass(ctx)).toMatchObject({ ok: true });
    expect(await show(remote.bare, 'bad-data', 'reports/bad-data/status.yaml')).toMatch(
      /data\/ansatte\.csv:3:1: record repeats `employeeId` 1001 \(data\/ansatte\.csv:2, data\/ansatte\.csv:3\)/,
    );
  });
});
