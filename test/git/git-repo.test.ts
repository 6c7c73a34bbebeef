import { afterEach, describe, expect, it } from 'vitest';
import { GitRepo, isDaemonCommit, redactUrl } from '../../src/git/git-repo.js';
import { RepoError } from '../../src/errors.js';
import { makeDir } from '../harness/files.js';
import { cloneRepo, commitAndPush, gitIn, makeRepo } from '../harness/git.js';

const AUTHOR = { name: 'reexport-bot', email: 'bot@kommune.test' };
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function setup() {
  const remote = await makeRepo({ 'requests/a.yaml': 'a: 1\n' });
  const work = await makeDir({});
  cleanups.push(remote.cleanup, work.cleanup);
  const repo = await GitRepo.open({ url: remote.bare, workdir: work.dir, author: AUTHOR, mainBranch: 'main', retryDelayMs: 10 });
  return { remote, work, repo };
}

describe('GitRepo', () => {
  it('clones, reuses the clone, and refuses a workdir cloned from another repository', async () => {
    const { remote, work, repo } = await setup();
    await repo.fetch();
    expect((await repo.branches()).map((b) => b.name)).toEqual(['main']);
    const again = await GitRepo.open({ url: remote.bare, workdir: work.dir, author: AUTHOR, mainBranch: 'main' });
    expect(again.dir).toBe(repo.dir);
    await expect(GitRepo.open({ url: `${remote.bare}-other`, workdir: work.dir, author: AUTHOR, mainBranch: 'main' })).rejects.toThrow(/is a clone of .* not of/);
  });

  it('lists only what a branch adds or changes relative to main', async () => {
    const { remote, repo } = await setup();
    const human = await cloneRepo(remote.bare);
    cleanups.push(human.cleanup);
    await gitIn(human.dir, 'checkout', '-b', 'feature');
    await commitAndPush(human.dir, { 'requests/b.yaml': 'b: 1\n' }, 'b');
    await gitIn(human.dir, 'push', '-u', 'origin', 'feature');
    await gitIn(human.dir, 'checkout', 'main');
    await commitAndPush(human.dir, { 'requests/c.yaml': 'c: 1\n' }, 'c on main');
    await repo.fetch();
    expect((await repo.branches()).map((b) => b.name).sort()).toEqual(['feature', 'main']);
    expect(await repo.changedFiles('origin/main', 'origin/feature')).toEqual(['requests/b.yaml']);
  });

  it('commits reports as the configured author, and nothing when nothing changed', async () => {
    const { remote, repo } = await setup();
    await repo.fetch();
    await repo.checkout('main');
    const first = await repo.commitAndPush('main', { 'reports/a/status.yaml': 'state: previewed\n' }, 'reexport: preview a');
    expect('commit' in first).toBe(true);
    expect(await gitIn(remote.bare, 'log', '-1', '--format=%an <%ae>%n%B', 'main')).toMatch(/^reexport-bot <bot@kommune.test>\nreexport: preview a\n\nReexport-Report: true/);
    expect(await repo.commitAndPush('main', { 'reports/a/status.yaml': 'state: previewed\n' }, 'again')).toEqual({ unchanged: true });
    expect(isDaemonCommit(await gitIn(remote.bare, 'log', '-1', '--format=%B', 'main'))).toBe(true);
  });

  it('refuses to write outside reports/', async () => {
    const { repo } = await setup();
    await repo.fetch();
    await repo.checkout('main');
    for (const p of ['requests/a.yaml', 'reports/../requests/a.yaml', '/etc/passwd', 'reports\\..\\x', './reports/x']) {
      await expect(repo.commitAndPush('main', { [p]: 'x' }, 'm'), p).rejects.toThrow(RepoError);
    }
  });

  it('refuses odd branch names', async () => {
    const { repo } = await setup();
    await expect(repo.checkout('--upload-pack=evil')).rejects.toThrow(/refusing branch name/);
  });

  it('keeps credentials out of messages', async () => {
    expect(redactUrl('fatal: unable to access https://kari:s3cret@git.kommune.no/iam.git/')).toBe('fatal: unable to access https://***@git.kommune.no/iam.git/');
    const work = await makeDir({});
    cleanups.push(work.cleanup);
    const err = await GitRepo.open({ url: 'https://kari:s3cret@127.0.0.1:1/iam.git', workdir: work.dir, author: AUTHOR, mainBranch: 'main' }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(RepoError);
    expect((err as Error).message).not.toContain('s3cret');
  });
});
