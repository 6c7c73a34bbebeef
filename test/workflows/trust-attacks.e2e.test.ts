import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { Metrics } from '../../src/adapters/http/metrics.js';
import { reconcileContext, runPass } from '../../src/daemon/daemon.js';
import type { ReconcileContext } from '../../src/workflows/reconcile.js';
import { createLogger } from '../../src/shared/log.js';
import { parsePlanJsonl } from '../../src/report/plan-jsonl.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';
import { describeWithSlapd } from '../harness/require.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';
import { CSV, daemonConfig, request, seedLdif, SLAPD_TEMPLATE } from '../harness/slapd-fixtures.js';

const show = (bare: string, ref: string, file: string) =>
  gitIn(bare, 'show', `${ref}:${file}`).catch(() => undefined);

/** Attacks on "exactly as reviewed, exactly once" by a repository writer and a flaky network. */
describeWithSlapd('trust attacks against a real repository and slapd', () => {
  let slapd: Slapd;
  let remote: Awaited<ReturnType<typeof makeRepo>>;
  let human: Awaited<ReturnType<typeof cloneRepo>>;
  let work: Awaited<ReturnType<typeof makeDir>>;
  let ctx: ReconcileContext & { release(): Promise<void> };
  const releases: Array<() => Promise<void>> = [];

  const context = async (file: string) => {
    const made = await reconcileContext(
      { daemon: await loadDaemonConfig(file), log: createLogger('silent') },
      new Metrics(),
      new AbortController().signal,
    );
    releases.push(() => made.release());
    return made;
  };

  beforeAll(async () => {
    slapd = await startSlapd({ ldif: seedLdif() });
    process.env.REEXPORT_TEST_LDAP_PASSWORD = slapd.password;
    remote = await makeRepo({ 'templates/ldap-employees.yaml': SLAPD_TEMPLATE, 'data/ansatte.csv': CSV });
    human = await cloneRepo(remote.bare);
    work = await makeDir({});
    const repo = (workdir: string) =>
      `repo: { url: "${remote.bare}", branch: main, workdir: ${workdir}, author: { name: reexport-bot, email: bot@kommune.test } }\nhttp: { port: 0 }\n`;
    await writeFile(`${work.dir}/a.yaml`, daemonConfig(slapd.url, slapd.bindDN, repo('./var-a')));
    // A replica that shares the signing key (as the docs say replicas do), with a short claim timeout.
    await writeFile(
      `${work.dir}/b.yaml`,
      daemonConfig(
        slapd.url,
        slapd.bindDN,
        `${repo('./var-b')}signing: { keyFile: ./var-a/signing-key.pem }\nexecution: { claimTimeoutSeconds: 1 }\n`,
      ),
    );
    ctx = await context(`${work.dir}/a.yaml`);
  });
  afterAll(async () => {
    for (const r of releases) await r();
    await human?.cleanup();
    await remote?.cleanup();
    await work?.cleanup();
    await slapd?.stop();
  });

  const attr = async (uid: string, attribute: string) => slapd.search(`(uid=${uid})`, attribute);

  /** A branch adding the request, previewed by the daemon, then `edit` on the branch, then merged. */
  const previewThenMerge = async (
    name: string,
    mappings: string,
    edit: (plan: string) => Record<string, string>,
  ) => {
    await gitIn(human.dir, 'checkout', 'main');
    await gitIn(human.dir, 'pull', '-q', 'origin', 'main');
    await gitIn(human.dir, 'checkout', '-b', name);
    await commitAndPush(
      human.dir,
      {
        [`requests/${name}.yaml`]: request(
          name,
          `  mappings: [${mappings}]\n  users: all\n  execute: false\n`,
        ),
      },
      `Add ${name}`,
    );
    await gitIn(human.dir, 'push', '-q', '--set-upstream', 'origin', name);
    expect((await runPass(ctx)).ok).toBe(true);
    await gitIn(human.dir, 'pull', '-q', '--rebase', 'origin', name);
    const plan = (await show(remote.bare, name, `reports/${name}/plan.jsonl`))!;
    await commitAndPush(
      human.dir,
      {
        ...edit(plan),
        [`requests/${name}.yaml`]: request(
          name,
          `  mappings: [${mappings}]\n  users: all\n  execute: true\n`,
        ),
      },
      'Execute',
    );
    await gitIn(human.dir, 'checkout', 'main');
    await gitIn(human.dir, 'pull', '-q', 'origin', 'main');
    await gitIn(human.dir, 'merge', '-q', '--no-ff', '-m', `Merge ${name}`, name);
    await gitIn(human.dir, 'push', '-q', 'origin', 'main');
  };

  it('refuses a plan whose header names another request than the one the daemon signed', async () => {
    // The header line is outside the plan digest. Renamed, the execution records would be signed
    // for "decoy", so main would never learn that "hdr" ran, and every pass would run it again.
    await previewThenMerge('hdr', 'title', (plan) => {
      const { header, changes } = parsePlanJsonl(plan);
      expect(changes.length).toBeGreaterThan(0);
      const forged = [
        JSON.stringify({ ...header, request: 'decoy' }),
        ...changes.map((c) => JSON.stringify(c)),
      ];
      return { 'reports/hdr/plan.jsonl': `${forged.join('\n')}\n` };
    });
    expect((await runPass(ctx)).ok).toBe(true);
    expect(await show(remote.bare, 'main', 'reports/hdr/status.yaml')).toMatch(/state: refused[\s\S]*header/);
    expect(await attr('bjorn', 'title')).toContain('title: Sjef for alt');
  });

  it('puts the execution record into main even when the results push failed; a replica never runs it again', async () => {
    await previewThenMerge('phone', 'telephoneNumber', () => ({}));
    // The results push fails (the forge is down for a moment); the ledger has the record.
    const flaky: ReconcileContext = {
      ...ctx,
      repo: {
        ...ctx.repo,
        fetch: () => ctx.repo.fetch(),
        branches: () => ctx.repo.branches(),
        checkout: (b) => ctx.repo.checkout(b),
        changedFiles: (a, b) => ctx.repo.changedFiles(a, b),
        commitOnto: async (b, onto, f, m) => {
          if (m.startsWith('reexport: executed phone')) throw new Error('forge unreachable');
          return ctx.repo.commitOnto(b, onto, f, m);
        },
        messagesWith: (b, n) => ctx.repo.messagesWith(b, n),
        readFileAt: (c, f) => ctx.repo.readFileAt(c, f),
        readBytesAt: (c, f) => ctx.repo.readBytesAt(c, f),
        commitAndPush: async (branch, files, message) => {
          if (message.startsWith('reexport: executed phone')) throw new Error('forge unreachable');
          return ctx.repo.commitAndPush(branch, files, message);
        },
      },
    };
    expect((await runPass(flaky)).ok).toBe(false);
    expect(await attr('bjorn', 'telephoneNumber')).not.toContain('telephoneNumber');
    // The next pass restores the result files from the ledger.
    expect((await runPass(ctx)).ok).toBe(true);
    expect(await show(remote.bare, 'main', 'reports/phone/status.yaml')).toMatch(/state: executed/);

    // Someone puts the old number back by hand; a replica with the same key (another workdir) starts.
    await slapd.ldapmodify(
      'dn: uid=bjorn,ou=Ansatte,dc=kommune,dc=test\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +47 99999999\n',
    );
    await new Promise((r) => setTimeout(r, 1500));
    const replica = await context(`${work.dir}/b.yaml`);
    expect((await runPass(replica)).ok).toBe(true);
    expect(await attr('bjorn', 'telephoneNumber')).toContain('telephoneNumber: +47 99999999');
    expect(await show(remote.bare, 'main', 'reports/phone/status.yaml')).toMatch(/state: executed/);
  });
});
