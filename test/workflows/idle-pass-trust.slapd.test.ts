import { writeFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { Metrics } from '../../src/adapters/http/metrics.js';
import { openTargetReader } from '../../src/adapters/ldap/readers.js';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { requestDigest } from '../../src/config/digests.js';
import type { ReexportRequest } from '../../src/config/types.generated.js';
import { reconcileContext, runPass } from '../../src/daemon/daemon.js';
import type { PreviewTarget } from '../../src/ports/directory.js';
import { createLogger } from '../../src/shared/log.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';
import { describeWithSlapd } from '../harness/require.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';
import { PEOPLE_TEMPLATE, peopleCsv, peopleLdif } from '../harness/people-fixtures.js';

const USERS = 50;
const request = (name: string, users: string) =>
  `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: ${name} }\nspec: { template: t, mappings: all, users: ${users} }\n`;

/** What the idle-pass shortcut must never be talked into, and what it must fall back to. */
describeWithSlapd('idle passes: what a branch writer cannot make the daemon skip', () => {
  let slapd: Slapd;
  let remote: Awaited<ReturnType<typeof makeRepo>>;
  let human: Awaited<ReturnType<typeof cloneRepo>>;
  let work: Awaited<ReturnType<typeof makeDir>>;
  let ctx: Awaited<ReturnType<typeof reconcileContext>>;
  /** Entries the daemon's previews scanned; `failDetection` makes every change question throw. */
  const reads = { scanned: 0, failDetection: false };
  const commits = async (branch: string) =>
    Number((await gitIn(remote.bare, 'rev-list', '--count', branch)).trim());
  const show = (branch: string, file: string) => gitIn(remote.bare, 'show', `${branch}:${file}`);
  /** slapd's stats log: every connection accepted since `from` was closed again. */
  const connections = (from: number) => {
    const log = slapd.output().slice(from);
    return { accepted: log.match(/ ACCEPT from /g)?.length ?? 0, closed: log.match(/ closed/g)?.length ?? 0 };
  };
  const pass = async () => {
    const from = slapd.output().length;
    const scanned = reads.scanned;
    expect((await runPass(ctx)).ok).toBe(true);
    // The daemon closes its connections when the pass ends; slapd logs the close just after.
    await expect.poll(() => connections(from).closed).toBe(connections(from).accepted);
    expect(connections(from).accepted).toBeGreaterThan(0);
    return reads.scanned - scanned;
  };
  /** A branch adding request `name`, previewed by one pass; then the pass after is idle. */
  const previewed = async (name: string) => {
    await gitIn(human.dir, 'checkout', '-q', 'main');
    await gitIn(human.dir, 'checkout', '-q', '-b', name);
    await commitAndPush(human.dir, { [`requests/${name}.yaml`]: request(name, 'all') }, `Add ${name}`);
    await gitIn(human.dir, 'push', '-q', '--set-upstream', 'origin', name);
    expect(await pass()).toBe(USERS);
    expect(await pass()).toBe(0);
    await gitIn(human.dir, 'pull', '-q', '--rebase', 'origin', name);
    return commits(name);
  };

  beforeAll(async () => {
    slapd = await startSlapd({
      ldif: peopleLdif(USERS),
      debugLevel: 'stats',
      outputLimit: 64 * 1024 * 1024,
      syncprov: true,
    });
    process.env.REEXPORT_TEST_IDLE_TRUST_PASSWORD = slapd.password;
    remote = await makeRepo({
      'templates/t.yaml': PEOPLE_TEMPLATE,
      'data/people.csv': peopleCsv(USERS),
    });
    human = await cloneRepo(remote.bare);
    work = await makeDir({});
    await writeFile(
      `${work.dir}/daemon.yaml`,
      `apiVersion: reexport/v1
kind: DaemonConfig
repo: { url: "${remote.bare}", workdir: ./var }
targets:
  ldap:
    url: ${slapd.url}
    bindDN: "${slapd.bindDN}"
    passwordEnv: REEXPORT_TEST_IDLE_TRUST_PASSWORD
    allowedAttributes: [mail]
`,
    );
    const daemon = await loadDaemonConfig(`${work.dir}/daemon.yaml`);
    const openTarget = async (name: string): Promise<PreviewTarget> => {
      const t = await openTargetReader(daemon, name);
      const fail = () => Promise.reject(new Error('change detection broke'));
      return {
        ...t,
        async *readEntries(query) {
          for await (const page of t.readEntries(query)) {
            reads.scanned += page.length;
            yield page;
          }
        },
        changes: {
          readWatermark: (scope, previous) =>
            reads.failDetection ? fail() : t.changes!.readWatermark(scope, previous),
          changedSince: (scope, mark) =>
            reads.failDetection ? fail() : t.changes!.changedSince(scope, mark),
        },
      };
    };
    ctx = await reconcileContext(
      {
        daemon,
        log: createLogger('silent'),
        preview: { openTarget },
      },
      new Metrics(),
      new AbortController().signal,
    );
  });
  afterAll(async () => {
    await ctx?.release();
    await human?.cleanup();
    await remote?.cleanup();
    await work?.cleanup();
    await slapd?.stop();
  });

  it('recomputes a preview whose request changed even when status.yaml is edited to claim its digests, a fresh read and a later watermark', async () => {
    const before = await previewed('forged');
    const changed = request('forged', '{ ids: ["1", "2"] }');
    const status = parse(await show('forged', 'reports/forged/status.yaml')) as {
      digests: { request: string };
      directoryReadAt: string;
      watermark: { csn: string[] };
    };
    status.digests.request = requestDigest(parse(changed) as ReexportRequest);
    status.directoryReadAt = new Date().toISOString();
    status.watermark.csn = ['29991231000000.000000Z#000000#000#000000'];
    await commitAndPush(
      human.dir,
      { 'requests/forged.yaml': changed, 'reports/forged/status.yaml': stringify(status) },
      'Narrow the request, and claim the preview still holds',
    );
    // The narrowed request reads its two entries.
    expect(await pass()).toBe(2);
    expect(await commits('forged')).toBe(before + 2);
    expect(await show('forged', 'reports/forged/plan.jsonl')).not.toContain('3@lillevik.kommune.no');
    expect(await show('forged', 'reports/forged/plan.jsonl')).toContain('2@lillevik.kommune.no');
  });

  it('writes the plan again on the next pass when someone edits plan.jsonl on the branch', async () => {
    const before = await previewed('edited');
    const plan = await show('edited', 'reports/edited/plan.jsonl');
    await commitAndPush(
      human.dir,
      { 'reports/edited/plan.jsonl': plan.replaceAll('7@lillevik.kommune.no', '7@evil.example') },
      'Edit the plan',
    );
    await pass();
    expect(await commits('edited')).toBe(before + 2);
    const rewritten = await show('edited', 'reports/edited/plan.jsonl');
    expect(rewritten).not.toContain('7@evil.example');
    expect(rewritten).toContain('7@lillevik.kommune.no');
  });

  it('writes status.yaml again when someone edits its counts or adds a line to it, then is idle again', async () => {
    const before = await previewed('counts');
    const signed = await show('counts', 'reports/counts/status.yaml');
    const status = parse(signed) as { counts: { usersToChange: number }; safety: { message: string } };
    expect(status.counts.usersToChange).toBe(USERS);
    status.counts.usersToChange = 1;
    status.safety.message = 'one user: nothing to review';
    await commitAndPush(
      human.dir,
      { 'reports/counts/status.yaml': `# Written by reexport. Do not edit.\n${stringify(status)}` },
      'Make the preview look small',
    );
    expect(await pass()).toBe(USERS);
    expect(await commits('counts')).toBe(before + 2);
    expect(await show('counts', 'reports/counts/status.yaml')).toContain(`usersToChange: ${USERS}`);
    expect(await pass()).toBe(0);

    // A line the daemon's parsing would not even see is the daemon's text no more.
    await gitIn(human.dir, 'pull', '-q', '--rebase', 'origin', 'counts');
    const rewritten = await show('counts', 'reports/counts/status.yaml');
    await commitAndPush(
      human.dir,
      { 'reports/counts/status.yaml': `${rewritten}# reviewed by the security office: safe to merge\n` },
      'Vouch for it',
    );
    expect(await pass()).toBe(USERS);
    expect(await commits('counts')).toBe(before + 4);
    expect(await show('counts', 'reports/counts/status.yaml')).not.toContain('security office');
    expect(await pass()).toBe(0);
  });

  it("stays idle when the branch's .gitattributes would rewrite the reports' line ends on checkout", async () => {
    const before = await previewed('crlf');
    await commitAndPush(human.dir, { '.gitattributes': 'reports/** text eol=crlf\n' }, 'Windows line ends');
    // The daemon's checkout keeps the bytes it signed: nothing to read again, nothing to commit.
    expect(await pass()).toBe(0);
    expect(await pass()).toBe(0);
    expect(await commits('crlf')).toBe(before + 1);
    expect(await show('crlf', 'reports/crlf/status.yaml')).not.toContain('\r');
  });

  it('reads the scope, with a warning, when change detection fails; commits nothing when nothing changed', async () => {
    const before = await previewed('detect');
    reads.failDetection = true;
    const warn = vi.spyOn(ctx.log, 'warn');
    try {
      // Every open preview is read again: the ones of the tests before too.
      expect(await pass()).toBeGreaterThanOrEqual(USERS);
    } finally {
      reads.failDetection = false;
    }
    expect(await commits('detect')).toBe(before);
    expect(warn).toHaveBeenCalledWith(
      { target: 'ldap', err: expect.stringContaining('change detection broke') as unknown },
      'change detection failed; reading the scope',
    );
    warn.mockRestore();
  });
});
