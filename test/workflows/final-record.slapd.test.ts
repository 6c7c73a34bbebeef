import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Metrics } from '../../src/adapters/http/metrics.js';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { reconcileContext, runPass } from '../../src/daemon/daemon.js';
import type { RepoPort } from '../../src/ports/repo.js';
import { createLogger } from '../../src/shared/log.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo, mergeThroughPullRequest } from '../harness/git.js';
import { PEOPLE_TEMPLATE, peopleCsv, peopleLdif } from '../harness/people-fixtures.js';
import { describeWithSlapd } from '../harness/require.js';
import { auditedModifies } from '../harness/slapd-audit.js';
import { type Slapd, startSlapd } from '../harness/slapd.js';

/**
 * An execution's final record (its result and the `executed` statement) on main, when its push
 * stalls or fails: replicas A and B (one signing key, their own workdirs, a claim timeout of 2 s)
 * in this process, each pass through the daemon's own runPass.
 */
const USERS = 40;
const REQUEST = (execute: boolean, users = 'all') =>
  `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: r }\nspec: { template: t, mappings: all, users: ${users}, execute: ${execute}, maxChanges: 1000 }\n`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function replicas() {
  const f = {} as {
    slapd: Slapd;
    remote: Awaited<ReturnType<typeof makeRepo>>;
    human: Awaited<ReturnType<typeof cloneRepo>>;
    work: Awaited<ReturnType<typeof makeDir>>;
  };
  beforeAll(async () => {
    f.slapd = await startSlapd({ ldif: peopleLdif(USERS) });
    f.remote = await makeRepo({ 'templates/t.yaml': PEOPLE_TEMPLATE, 'data/people.csv': peopleCsv(USERS) });
    f.human = await cloneRepo(f.remote.bare);
    const key = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    process.env.FINAL_RECORD_PW = f.slapd.password;
    const config = (workdir: string) => `apiVersion: reexport/v1
kind: DaemonConfig
repo: { url: "${f.remote.bare}", workdir: ${workdir} }
signing: { keyFile: ./key.pem }
execution: { claimTimeoutSeconds: 2 }
targets:
  ldap:
    url: ${f.slapd.url}
    bindDN: "${f.slapd.bindDN}"
    passwordEnv: FINAL_RECORD_PW
    allowedAttributes: [mail]
`;
    f.work = await makeDir({ 'key.pem': key, 'a.yaml': config('./var-a'), 'b.yaml': config('./var-b') });
  });
  afterAll(async () => {
    await f.human?.cleanup();
    await f.work?.cleanup();
    await f.remote?.cleanup();
    await f.slapd?.stop();
  });
  const context = async (file: string) =>
    reconcileContext(
      { daemon: await loadDaemonConfig(`${f.work.dir}/${file}`), log: createLogger('silent') },
      new Metrics(),
      new AbortController().signal,
    );
  /** Request r previewed by `a` on its branch, then merged with execute: true. */
  const mergeRequest = (a: Awaited<ReturnType<typeof context>>) =>
    mergeThroughPullRequest(
      f.human.dir,
      { branch: 'r', file: 'requests/r.yaml', proposed: REQUEST(false), approved: REQUEST(true) },
      async () => expect((await runPass(a)).ok).toBe(true),
    );
  /** main's commits, oldest first, with the state and signer of the record each carries. */
  const history = async () =>
    (await gitIn(f.remote.bare, 'log', '--topo-order', '--reverse', '--format=%s%x00%B%x1e', 'main'))
      .split('\x1e')
      .filter((c) => c.includes('\0'))
      .map((c) => {
        const [subject, body] = c.replace(/^\n+/, '').split('\0') as [string, string];
        const m = /^Reexport-Record: (\S+)$/m.exec(body);
        if (!m) return { subject };
        const signed = JSON.parse(Buffer.from(m[1]!, 'base64url').toString()) as { statement: string };
        const s = JSON.parse(signed.statement) as { by: string; state: string };
        return { subject, state: s.state, by: s.by };
      });
  /** A's repository, whose pushes of the final record go through `hook` first. */
  const withFinalPush = (repo: RepoPort, hook: () => Promise<void>): RepoPort =>
    new Proxy(repo, {
      get(target, p) {
        const v = Reflect.get(target, p) as unknown;
        if (typeof v !== 'function') return v;
        if (p !== 'commitAndPush' && p !== 'commitOnto') return v.bind(target) as unknown;
        return async (...args: unknown[]) => {
          if (String(args.at(-1)).startsWith('reexport: executed')) await hook();
          return (v as (...x: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return { f, context, mergeRequest, history, withFinalPush };
}

describeWithSlapd('the final record, when its push stalls past a takeover', () => {
  const { f, context, mergeRequest, history, withFinalPush } = replicas();

  it('never lands after another daemon took the claim over: main keeps one executed record', async () => {
    const a = await context('a.yaml');
    const b = await context('b.yaml');
    try {
      await mergeRequest(a);
      // A writes everything, then its final push stalls (a slow remote, or A paused right there).
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let stalled!: () => void;
      const reached = new Promise<void>((resolve) => (stalled = resolve));
      const passA = runPass({
        ...a,
        repo: withFinalPush(a.repo, async () => {
          stalled();
          await gate;
        }),
      });
      await reached;
      expect(auditedModifies(await f.slapd.audit()).size).toBe(USERS);
      await runPass(b);
      await sleep(2600);
      // A's claim seen unrenewed for the timeout: B takes over and finds everything applied.
      await runPass(b);
      release();
      await passA;

      const records = (await history()).filter((c) => c.state);
      const holder = records[0]!.by;
      const takeover = records.findIndex((r) => r.by !== holder);
      expect(takeover).toBeGreaterThan(0);
      expect(records.slice(takeover).every((r) => r.by !== holder)).toBe(true);
      expect(records.filter((r) => r.state === 'executed')).toHaveLength(1);
      expect(await gitIn(f.remote.bare, 'show', 'main:reports/r/status.yaml')).toMatch(/state: executed/);
      expect([...auditedModifies(await f.slapd.audit()).values()].every((n) => n === 1)).toBe(true);
    } finally {
      await a.release();
      await b.release();
    }
  }, 120_000);
});

describeWithSlapd('an execution record only in the ledger, then an edit of the request', () => {
  const { f, context, mergeRequest, history, withFinalPush } = replicas();

  it('goes to main before anything else, so that no replica executes the request again', async () => {
    const a = await context('a.yaml');
    const b = await context('b.yaml');
    try {
      await mergeRequest(a);
      // A's push of its result fails once (the remote unreachable): the record stays in its ledger.
      let fail = true;
      const flaky = withFinalPush(a.repo, () => {
        if (!fail) return Promise.resolve();
        fail = false;
        return Promise.reject(new Error('remote unreachable (injected)'));
      });
      await runPass({ ...a, repo: flaky });
      expect(auditedModifies(await f.slapd.audit()).size).toBe(USERS);
      // Someone edits the executed request on main; then each daemon passes, B past the timeout.
      await gitIn(f.human.dir, 'pull', '--rebase', 'origin', 'main');
      await commitAndPush(f.human.dir, { 'requests/r.yaml': REQUEST(true, '{ ids: ["1"] }') }, 'Edit r');
      await runPass(a);
      await runPass(b);
      await sleep(2600);
      await runPass(a);
      await runPass(b);
      expect(await gitIn(f.remote.bare, 'show', 'main:reports/r/status.yaml')).toMatch(/state: invalid/);
      // The edit is reverted, and the helpdesk puts u0's old address back by hand.
      await gitIn(f.human.dir, 'pull', '--rebase', 'origin', 'main');
      await commitAndPush(f.human.dir, { 'requests/r.yaml': REQUEST(true) }, 'Revert the edit of r');
      await f.slapd.ldapmodify(
        'dn: uid=u0,ou=people,dc=kommune,dc=test\nchangetype: modify\nreplace: mail\nmail: old0@kommune.no\n',
      );
      await runPass(b);

      // A's write and the helpdesk's: nobody ran the request a second time.
      expect(auditedModifies(await f.slapd.audit()).get('uid=u0,ou=people,dc=kommune,dc=test')).toBe(2);
      const records = (await history()).filter((c) => c.state);
      expect(records.map((r) => r.state)).toEqual(['executing', 'executed']);
      expect(new Set(records.map((r) => r.by)).size).toBe(1);
      expect(await gitIn(f.remote.bare, 'show', 'main:reports/r/status.yaml')).toMatch(/state: executed/);
    } finally {
      await a.release();
      await b.release();
    }
  }, 120_000);
});
