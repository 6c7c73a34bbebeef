import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { afterEach, expect, it } from 'vitest';
import { runPass } from '../../src/daemon/daemon.js';
import type { RepoPort } from '../../src/ports/repo.js';
import { daemonAgainst } from '../harness/daemon-fixtures.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';
import { describeWithSlapd } from '../harness/require.js';
import { startSlapd } from '../harness/slapd.js';
import { PEOPLE_TEMPLATE, peopleCsv, peopleLdif } from '../harness/people-fixtures.js';

const USERS = 10;
const request = (name: string, template: string) =>
  `apiVersion: reexport/v1\nkind: ReexportRequest\nmetadata: { name: ${name} }\nspec: { template: ${template}, mappings: all, users: all, maxChanges: 1000 }\n`;
const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
/** people.csv with ID 3 twice (an error of a pull request's) and a new user 77. */
const EDITED = `${peopleCsv(USERS)}3\n77\n`;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

interface Status {
  state: string;
  commit?: string;
  digests?: { source: string };
}

/** A repository and a daemon that has passed once (so it remembers the check of people.csv). */
async function setup(
  template = PEOPLE_TEMPLATE,
  data: Record<string, string> = { 'data/people.csv': peopleCsv(USERS) },
) {
  const slapd = await startSlapd({ ldif: peopleLdif(USERS) });
  cleanups.push(() => slapd.stop());
  const remote = await makeRepo({ 'templates/t.yaml': template, ...data });
  cleanups.push(() => remote.cleanup());
  const human = await cloneRepo(remote.bare);
  cleanups.push(() => human.cleanup());
  const daemon = await daemonAgainst({ slapd, repoUrl: remote.bare, allowedAttributes: ['mail'] });
  cleanups.push(() => daemon.release());
  expect((await runPass(daemon.ctx)).ok).toBe(true);
  const propose = async (files: Record<string, string>) => {
    await gitIn(human.dir, 'checkout', '-q', '-b', 'feat');
    await commitAndPush(human.dir, files, 'requests');
    await gitIn(human.dir, 'push', '-q', '--set-upstream', 'origin', 'feat');
  };
  /** The daemon's repository, with `push` run by the author right before the daemon's first commit. */
  const pushingFirst = (push: (files: Record<string, string | Uint8Array | null>) => Promise<void>) => {
    const repo = daemon.ctx.repo;
    let done = false;
    return new Proxy(repo, {
      get(target, prop) {
        if (prop === 'commitAndPush')
          return async (...args: Parameters<RepoPort['commitAndPush']>) => {
            if (!done) {
              done = true;
              await push(args[1]);
            }
            return target.commitAndPush(...args);
          };
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
  const status = async (name: string) =>
    parseYaml(await gitIn(remote.bare, 'show', `feat:reports/${name}/status.yaml`)) as Status;
  return { slapd, remote, human, daemon, propose, pushingFirst, status };
}

/** A previewed request was planned from the bytes of the commit it names, whatever happened. */
async function madeFromItsCommit(remote: { bare: string }, s: Status): Promise<void> {
  if (s.state !== 'previewed') return;
  expect(s.digests!.source).toBe(sha(await gitIn(remote.bare, 'show', `${s.commit}:data/people.csv`)));
}

describeWithSlapd('a push to a branch while the daemon previews it', () => {
  it("never plans the branch's other requests from bytes the pass did not validate", async () => {
    const s = await setup();
    await s.propose({ 'requests/a.yaml': request('a', 'nosuch'), 'requests/b.yaml': request('b', 't') });
    const repo = s.pushingFirst(async () => {
      await commitAndPush(s.human.dir, { 'data/people.csv': EDITED }, 'edit');
    });
    expect((await runPass({ ...s.daemon.ctx, repo })).ok).toBe(true);
    // b is planned from the tree it was validated on, the author's: its problem is shown.
    const b = await s.status('b');
    await madeFromItsCommit(s.remote, b);
    expect(b.state).toBe('invalid');
    expect(JSON.stringify(b)).toMatch(/repeats `id` 3/);
  });

  it('nor when the push already holds the reports the daemon was about to commit', async () => {
    const s = await setup();
    await s.propose({ 'requests/a.yaml': request('a', 'nosuch'), 'requests/b.yaml': request('b', 't') });
    // a's invalid report depends only on the author's files: the author can push it as the
    // daemon renders it, so the daemon finds nothing to commit, on the author's new tree.
    const repo = s.pushingFirst(async (files) => {
      const same: Record<string, string> = { 'data/people.csv': EDITED };
      for (const [f, content] of Object.entries(files)) if (typeof content === 'string') same[f] = content;
      await commitAndPush(s.human.dir, same, 'edit, with the reports');
    });
    expect((await runPass({ ...s.daemon.ctx, repo })).ok).toBe(true);
    const b = await s.status('b');
    await madeFromItsCommit(s.remote, b);
    expect(b.state).toBe('invalid');
  });

  it('a request renamed during the pass fails nothing: the new one is previewed next pass', async () => {
    const s = await setup();
    await s.propose({ 'requests/a.yaml': request('a', 'nosuch'), 'requests/b.yaml': request('b', 't') });
    const repo = s.pushingFirst(async () => {
      await gitIn(s.human.dir, 'rm', '-q', 'requests/b.yaml');
      await commitAndPush(s.human.dir, { 'requests/b2.yaml': request('b2', 't') }, 'rename b');
    });
    const pass = await runPass({ ...s.daemon.ctx, repo });
    expect(pass.summary?.errors).toEqual([]);
    expect((await runPass(s.daemon.ctx)).ok).toBe(true);
    expect((await s.status('b2')).state).toBe('previewed');
  });

  it("an operator's source file rewritten between the check and the plan is planned from next pass", async () => {
    const files = await makeDir({ 'hr.csv': peopleCsv(USERS) });
    cleanups.push(() => files.cleanup());
    const s = await setup(
      PEOPLE_TEMPLATE.replace('source: { file: data/people.csv, id: id }', 'source: hr'),
      {},
    );
    (s.daemon.ctx.daemon.config as { sources?: unknown }).sources = {
      hr: { type: 'csv', path: `${files.dir}/hr.csv`, id: 'id' },
    };
    expect((await runPass(s.daemon.ctx)).ok).toBe(true);
    await s.propose({ 'requests/b.yaml': request('b', 't') });
    // Rewritten when the preview opens the directory: after validation, before the plan.
    const preview = s.daemon.ctx.preview;
    let rewritten = false;
    const hooked = {
      ...preview,
      openTarget: async (name: string) => {
        if (!rewritten) {
          rewritten = true;
          await writeFile(`${files.dir}/hr.csv`, EDITED);
        }
        return preview.openTarget(name);
      },
    };
    expect((await runPass({ ...s.daemon.ctx, preview: hooked })).ok).toBe(true);
    expect(rewritten).toBe(true);
    // Not planned from bytes nobody checked: left for the next pass, which checks them.
    await expect(gitIn(s.remote.bare, 'show', 'feat:reports/b/status.yaml')).rejects.toThrow();
    expect((await runPass(s.daemon.ctx)).ok).toBe(true);
    const b = await s.status('b');
    expect(b.state).toBe('previewed');
    expect(b.digests!.source).toBe(sha(EDITED));
  });

  it('a request deleted from main during the pass fails nothing', async () => {
    const s = await setup();
    // Two requests on main, neither previewed yet; someone removes b right before the daemon's
    // first commit on main, which then goes on top of theirs.
    await commitAndPush(
      s.human.dir,
      { 'requests/a.yaml': request('a', 't'), 'requests/b.yaml': request('b', 't') },
      'requests',
    );
    const repo = s.pushingFirst(async () => {
      await gitIn(s.human.dir, 'rm', '-q', 'requests/b.yaml');
      await gitIn(s.human.dir, 'commit', '-q', '-m', 'drop b');
      await gitIn(s.human.dir, 'push', '-q', 'origin', 'main');
    });
    const pass = await runPass({ ...s.daemon.ctx, repo });
    expect(pass.summary?.errors).toEqual([]);
    expect(await gitIn(s.remote.bare, 'show', 'main:reports/a/status.yaml')).toMatch(/state: previewed/);
  });

  it("the daemon's own commits on a branch are not someone else's push: the branch is validated once", async () => {
    const s = await setup();
    const names = ['a', 'b', 'c', 'd'];
    await s.propose(Object.fromEntries(names.map((n) => [`requests/${n}.yaml`, request(n, 't')])));
    const checkouts: string[] = [];
    const repo = new Proxy(s.daemon.ctx.repo, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (prop === 'checkout') checkouts.push(args[0] as string);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    expect((await runPass({ ...s.daemon.ctx, repo })).ok).toBe(true);
    for (const n of names) expect((await s.status(n)).state).toBe('previewed');
    expect(checkouts.filter((b) => b === 'feat')).toEqual(['feat']);
  });
});
