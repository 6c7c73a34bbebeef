import { gzipSync } from 'node:zlib';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ConfigRepoGit,
  type GitLog,
  isDaemonCommit,
  redactUrl,
  REPORT_TRAILER,
  withReportTrailer,
} from '../../../src/adapters/git/config-repo-git.js';
import { BranchGoneError, RepoError } from '../../../src/shared/errors.js';
import { createLogger } from '../../../src/shared/log.js';
import { makeDir } from '../../harness/files.js';
import { cloneRepo, commitAndPush, gitEnv, gitIn, makeRepo, type TestRepo } from '../../harness/git.js';

// Distinct from the harness's global identity, so a commit by it proves the configured author won.
const AUTHOR = { name: 'reexport-bot', email: 'bot@kommune.test' };

// pino's Logger must fit the option type.
const _pinoFits: GitLog = createLogger('silent');
void _pinoFits;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

// The daemon's git reads the same isolated global config as the fixtures (not the developer's
// ~/.gitconfig); passing it also exercises the GIT_CONFIG_GLOBAL route through simple-git.
beforeAll(async () => {
  const env = await gitEnv();
  vi.stubEnv('GIT_CONFIG_GLOBAL', env.GIT_CONFIG_GLOBAL);
  vi.stubEnv('GIT_CONFIG_NOSYSTEM', '1');
});
afterAll(() => {
  vi.unstubAllEnvs();
});

function recordingLog(): GitLog & { lines: Array<{ level: string; obj: object; msg: string }> } {
  const lines: Array<{ level: string; obj: object; msg: string }> = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, obj, msg });
  return { lines, info: at('info'), warn: at('warn'), debug: at('debug') };
}

async function setup(files: Record<string, string> = { 'requests/a.yaml': 'a: 1\n' }) {
  const remote = await makeRepo(files);
  const work = await makeDir({});
  cleanups.push(remote.cleanup, work.cleanup);
  const log = recordingLog();
  const repo = await ConfigRepoGit.open({
    url: remote.bare,
    workdir: work.dir,
    author: AUTHOR,
    mainBranch: 'main',
    log,
    retryBaseMs: 5,
  });
  return { remote, work, repo, log };
}

async function human(remote: TestRepo) {
  const h = await cloneRepo(remote.bare);
  cleanups.push(h.cleanup);
  return h.dir;
}

/** A branch pushed by a human, starting at main. */
async function pushBranch(
  dir: string,
  branch: string,
  files: Record<string, string>,
  message = `work on ${branch}`,
): Promise<string> {
  await gitIn(dir, 'checkout', '-q', '-B', branch, 'origin/main');
  const commit = await commitAndPush(dir, files, message);
  await gitIn(dir, 'push', '-q', '-u', 'origin', branch);
  return commit;
}

const remoteHead = async (remote: TestRepo, branch: string) =>
  (await gitIn(remote.bare, 'rev-parse', branch)).trim();

describe('ConfigRepoGit.open', () => {
  it('clones into workdir/repo, then reuses that clone', async () => {
    const { remote, work, repo } = await setup();
    expect(repo.dir).toBe(path.join(work.dir, 'repo'));
    expect(existsSync(path.join(work.dir, 'repo.partial'))).toBe(false);
    // A marker in the clone survives a reopen: the clone was reused, not made again.
    await gitIn(repo.dir, 'config', 'reexport.marker', 'kept');
    const again = await ConfigRepoGit.open({
      url: remote.bare,
      workdir: work.dir,
      author: AUTHOR,
      mainBranch: 'main',
    });
    expect(again.dir).toBe(repo.dir);
    expect((await gitIn(again.dir, 'config', 'reexport.marker')).trim()).toBe('kept');
  });

  it('refuses a workdir holding a clone of another repository, without leaking its credentials', async () => {
    const { work } = await setup();
    const err = await ConfigRepoGit.open({
      url: 'https://kari:s3cret@git.kommune.test/other.git',
      workdir: work.dir,
      author: AUTHOR,
      mainBranch: 'main',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepoError);
    expect((err as Error).message).toMatch(
      /is a clone of .* not of https:\/\/\*\*\*@git\.kommune\.test\/other\.git/,
    );
    expect((err as Error).message).not.toContain('s3cret');
  });

  it('refuses a workdir/repo that is not a clone (git would act on an enclosing repository)', async () => {
    const outer = await makeRepo({ 'x.txt': 'x' });
    cleanups.push(outer.cleanup);
    const workdir = path.join(outer.dir, 'var');
    await mkdir(path.join(workdir, 'repo'), { recursive: true });
    await expect(
      ConfigRepoGit.open({ url: outer.bare, workdir, author: AUTHOR, mainBranch: 'main' }),
    ).rejects.toThrow(/not a git clone/);
  });

  it('keeps URL credentials out of errors and logs', async () => {
    const work = await makeDir({});
    cleanups.push(work.cleanup);
    const log = recordingLog();
    const err = await ConfigRepoGit.open({
      url: 'https://user:s3cret@127.0.0.1:1/x.git',
      workdir: work.dir,
      author: AUTHOR,
      mainBranch: 'main',
      log,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepoError);
    expect((err as Error).message).toMatch(/git clone failed/);
    expect((err as Error).message).not.toContain('s3cret');
    expect((err as Error).cause).toBeUndefined();
    expect(JSON.stringify(log.lines)).not.toContain('s3cret');
  });

  it('redactUrl hides user info wherever a URL appears', () => {
    expect(redactUrl("fatal: unable to access 'https://kari:s3cret@git.kommune.no/iam.git/': 403")).toBe(
      "fatal: unable to access 'https://***@git.kommune.no/iam.git/': 403",
    );
    expect(redactUrl('https://TOKEN@host/x and http://a:b@c:8080/y')).toBe(
      'https://***@host/x and http://***@c:8080/y',
    );
    // A raw @ in the password must not leave its tail visible.
    expect(redactUrl('https://kari:p@ss@host/x.git')).toBe('https://***@host/x.git');
    expect(redactUrl('git@github.com:org/repo.git /srv/git/x.git')).toBe(
      'git@github.com:org/repo.git /srv/git/x.git',
    );
  });
});

describe('ConfigRepoGit credentials and environment', () => {
  it('takes HTTP credentials from GIT_ASKPASS and never prompts', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      if (!req.headers.authorization) res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end();
      else res.writeHead(403).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/iam.git`;

    const work = await makeDir({ 'askpass.sh': '#!/bin/sh\necho from-askpass\n' });
    cleanups.push(work.cleanup);
    const askpass = path.join(work.dir, 'askpass.sh');
    await chmod(askpass, 0o755);
    vi.stubEnv('GIT_ASKPASS', askpass);
    try {
      await expect(
        ConfigRepoGit.open({ url, workdir: path.join(work.dir, 'w'), author: AUTHOR, mainBranch: 'main' }),
      ).rejects.toThrow(RepoError);
    } finally {
      vi.stubEnv('GIT_ASKPASS', undefined);
    }
    const auth = seen.map((h) => h.authorization).find(Boolean);
    expect(auth).toBe(`Basic ${Buffer.from('from-askpass:from-askpass').toString('base64')}`);

    // Without any credential source it fails at once instead of waiting for a terminal answer.
    const started = Date.now();
    await expect(
      ConfigRepoGit.open({ url, workdir: path.join(work.dir, 'w2'), author: AUTHOR, mainBranch: 'main' }),
    ).rejects.toThrow(/git clone failed/);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('passes GIT_SSH_COMMAND through (an operator opt-in simple-git guards)', async () => {
    const work = await makeDir({ 'ssh.sh': '#!/bin/sh\necho "$@" > "$(dirname "$0")/ssh-called"\nexit 1\n' });
    cleanups.push(work.cleanup);
    const ssh = path.join(work.dir, 'ssh.sh');
    await chmod(ssh, 0o755);
    vi.stubEnv('GIT_SSH_COMMAND', ssh);
    try {
      await expect(
        ConfigRepoGit.open({
          url: 'ssh://git@git.kommune.test/iam.git',
          workdir: path.join(work.dir, 'w'),
          author: AUTHOR,
          mainBranch: 'main',
        }),
      ).rejects.toThrow(RepoError);
    } finally {
      vi.stubEnv('GIT_SSH_COMMAND', undefined);
    }
    expect(await readFile(path.join(work.dir, 'ssh-called'), 'utf8')).toContain('git.kommune.test');
  });

  it('ignores ambient GIT_DIR / GIT_WORK_TREE (as set inside a git hook)', async () => {
    const { remote, repo } = await setup();
    vi.stubEnv('GIT_DIR', '/nonexistent/.git');
    vi.stubEnv('GIT_WORK_TREE', '/nonexistent');
    try {
      const again = await ConfigRepoGit.open({
        url: remote.bare,
        workdir: path.dirname(repo.dir),
        author: AUTHOR,
        mainBranch: 'main',
      });
      await again.fetch();
      expect((await again.checkout('main')).commit).toBe(await remoteHead(remote, 'main'));
    } finally {
      vi.stubEnv('GIT_DIR', undefined);
      vi.stubEnv('GIT_WORK_TREE', undefined);
    }
  });
});

describe('ConfigRepoGit reading', () => {
  it('lists remote branches after a human pushes a new one', async () => {
    const { remote, repo } = await setup();
    await repo.fetch();
    expect(await repo.branches()).toEqual([{ name: 'main', commit: await remoteHead(remote, 'main') }]);
    const h = await human(remote);
    const commit = await pushBranch(h, 'feature/ny-epost', { 'requests/b.yaml': 'b: 1\n' });
    await repo.fetch();
    expect(await repo.branches()).toEqual([
      { name: 'feature/ny-epost', commit },
      { name: 'main', commit: await remoteHead(remote, 'main') },
    ]);
    await gitIn(h, 'push', '-q', 'origin', '--delete', 'feature/ny-epost');
    await repo.fetch();
    expect((await repo.branches()).map((b) => b.name)).toEqual(['main']);
  });

  it("changedFiles: what the branch adds or changes relative to main, not main's later commits", async () => {
    const { remote, repo } = await setup({
      'requests/a.yaml': 'a: 1\n',
      'requests/old.yaml': 'o: 1\n',
      'requests/gone.yaml': 'g: 1\n',
    });
    const h = await human(remote);
    await pushBranch(h, 'feature', { 'requests/b.yaml': 'b: 1\n', 'requests/a.yaml': 'a: 2\n' });
    await gitIn(h, 'mv', 'requests/old.yaml', 'requests/renamed.yaml');
    await gitIn(h, 'rm', '-q', 'requests/gone.yaml');
    await commitAndPush(h, {}, 'rename and delete');
    await gitIn(h, 'checkout', '-q', 'main');
    await commitAndPush(h, { 'requests/c.yaml': 'c: 1\n' }, 'c on main');
    await repo.fetch();
    expect((await repo.changedFiles('main', 'feature')).sort()).toEqual([
      'requests/a.yaml',
      'requests/b.yaml',
      'requests/renamed.yaml',
    ]);
    expect(await repo.changedFiles('origin/main', 'origin/feature')).toHaveLength(3);
    expect(await repo.changedFiles('feature', 'main')).toEqual(['requests/c.yaml']);
    await expect(repo.changedFiles('--output=/tmp/x', 'main')).rejects.toThrow(RepoError);
    await expect(repo.changedFiles('main', 'nope')).rejects.toThrow(/unknown revision/);
  });

  it('reads a file at a commit; undefined for a missing file or a folder', async () => {
    const { remote, repo } = await setup();
    await repo.fetch();
    const main = await remoteHead(remote, 'main');
    expect(await repo.readFileAt(main, 'requests/a.yaml')).toBe('a: 1\n');
    expect(await repo.readFileAt('main', 'requests/a.yaml')).toBe('a: 1\n');
    expect(await repo.readFileAt(main, 'requests/none.yaml')).toBeUndefined();
    expect(await repo.readFileAt(main, 'requests')).toBeUndefined();
    await expect(repo.readFileAt(main, '../etc/passwd')).rejects.toThrow(RepoError);
    await expect(
      repo.readFileAt('0000000000000000000000000000000000000000', 'requests/a.yaml'),
    ).rejects.toThrow(/unknown revision/);
  });

  it('reads a compressed report file at a commit as its bytes', async () => {
    const { repo } = await setup();
    await repo.fetch();
    const gz = gzipSync('{"id":"1001","outcome":"applied"}\n');
    const pushed = await repo.commitAndPush(
      'main',
      { 'reports/r/result.jsonl.gz': gz },
      'reexport: executed r',
    );
    if (!('commit' in pushed)) throw new Error('nothing committed');
    expect(await repo.readBytesAt(pushed.commit, 'reports/r/result.jsonl.gz')).toEqual(gz);
    expect(await repo.readBytesAt(pushed.commit, 'reports/r/result.jsonl')).toBeUndefined();
  });

  it('checkout gives a clean tree at origin/<branch>, whatever was left in it', async () => {
    const { remote, repo } = await setup();
    await repo.fetch();
    const { dir, commit } = await repo.checkout('main');
    expect(commit).toBe(await remoteHead(remote, 'main'));
    await writeFile(path.join(dir, 'requests/a.yaml'), 'edited\n');
    await writeFile(path.join(dir, 'stray.txt'), 'x');
    // Ignored files and untracked folders go too (a clean that is asked for first, see resetTo).
    await writeFile(path.join(dir, '.git', 'info', 'exclude'), '*.log\n');
    await writeFile(path.join(dir, 'ignored.log'), 'x');
    await mkdir(path.join(dir, 'left', 'deep'), { recursive: true });
    await writeFile(path.join(dir, 'left', 'deep', 'f.txt'), 'x');
    const again = await repo.checkout('main');
    expect(await readFile(path.join(dir, 'requests/a.yaml'), 'utf8')).toBe('a: 1\n');
    expect(existsSync(path.join(dir, 'stray.txt'))).toBe(false);
    expect(existsSync(path.join(dir, 'ignored.log'))).toBe(false);
    expect(existsSync(path.join(dir, 'left'))).toBe(false);
    // Only ignored files left: still cleaned.
    await writeFile(path.join(dir, 'only.log'), 'x');
    await repo.checkout('main');
    expect(existsSync(path.join(dir, 'only.log'))).toBe(false);
    expect(again.commit).toBe(commit);
    await expect(repo.checkout('--upload-pack=evil')).rejects.toThrow(/refusing branch name/);
    await expect(repo.checkout('nope')).rejects.toThrow(/not on origin/);
  });
});

describe('ConfigRepoGit.commitAndPush', () => {
  it('commits reports to a branch as the configured author and committer, once', async () => {
    const { remote, repo } = await setup();
    const h = await human(remote);
    const base = await pushBranch(h, 'feature', { 'requests/b.yaml': 'b: 1\n' });
    await repo.fetch();
    await repo.checkout('feature');
    const files = { 'reports/b/preview.md': '# preview\n', 'reports/b/status.yaml': 'state: previewed\n' };
    const first = await repo.commitAndPush('feature', files, 'reexport: preview b');
    expect(first).toEqual({ commit: await remoteHead(remote, 'feature'), onto: base });
    expect(await gitIn(remote.bare, 'show', 'feature:reports/b/preview.md')).toBe('# preview\n');
    expect(await gitIn(remote.bare, 'log', '-1', '--format=%an <%ae>|%cn <%ce>|%P', 'feature')).toBe(
      `reexport-bot <bot@kommune.test>|reexport-bot <bot@kommune.test>|${base}\n`,
    );
    const message = await gitIn(remote.bare, 'log', '-1', '--format=%B', 'feature');
    expect(message).toContain(`reexport: preview b\n\n${REPORT_TRAILER}`);
    expect(isDaemonCommit(message)).toBe(true);
    expect(
      (await gitIn(remote.bare, 'diff', '--name-only', `${base}..feature`)).trim().split('\n').sort(),
    ).toEqual(Object.keys(files));
    expect(await remoteHead(remote, 'main')).not.toBe(await remoteHead(remote, 'feature'));

    // Nothing to commit: said with the commit the checkout now stands on (the branch's head).
    expect(await repo.commitAndPush('feature', files, 'reexport: preview b')).toEqual({
      unchanged: true,
      onto: (first as { commit: string }).commit,
    });
    expect(await remoteHead(remote, 'feature')).toBe((first as { commit: string }).commit);

    const last = await repo.lastCommitTouching('feature', 'reports/b/status.yaml');
    expect(last).toMatchObject({ commit: (first as { commit: string }).commit, byDaemon: true });
    expect(await repo.lastCommitTouching('feature', 'requests/b.yaml')).toMatchObject({
      commit: base,
      byDaemon: false,
    });
    expect(await repo.lastCommitTouching('feature', 'reports/none')).toBeUndefined();
  });

  it('deletes a report given as null, and commits on the named branch whatever is checked out', async () => {
    const { remote, repo } = await setup({ 'requests/a.yaml': 'a: 1\n', 'reports/a/old.md': 'old\n' });
    const h = await human(remote);
    const base = await pushBranch(h, 'feature', { 'requests/b.yaml': 'b: 1\n' });
    await gitIn(h, 'checkout', '-q', 'main');
    await commitAndPush(h, { 'requests/c.yaml': 'c: 1\n' }, 'c on main');
    await repo.fetch();
    await repo.checkout('main');
    const r = await repo.commitAndPush(
      'feature',
      { 'reports/a/old.md': null, 'reports/a/new.md': 'new\n', 'reports/a/never.md': null },
      'swap',
    );
    expect('commit' in r).toBe(true);
    expect((await gitIn(remote.bare, 'ls-tree', '-r', '--name-only', 'feature', 'reports')).trim()).toBe(
      'reports/a/new.md',
    );
    // main's newer commit did not leak onto the feature branch.
    expect((await gitIn(remote.bare, 'rev-parse', 'feature^')).trim()).toBe(base);
  });

  it('refuses paths outside reports/ before touching anything', async () => {
    const { remote, repo } = await setup();
    await repo.fetch();
    const before = await remoteHead(remote, 'main');
    for (const p of [
      'requests/x.yaml',
      'reports/../requests/x.yaml',
      '/etc/passwd',
      'reports',
      'reports/',
      './reports/x',
      'reports//x',
      'reports\\..\\x',
      'reports/.git/config',
      'C:\\x',
    ]) {
      await expect(repo.commitAndPush('main', { 'reports/ok.md': 'fine', [p]: 'x' }, 'm'), p).rejects.toThrow(
        RepoError,
      );
    }
    expect(await remoteHead(remote, 'main')).toBe(before);
    expect(existsSync(path.join(repo.dir, 'reports/ok.md'))).toBe(false);
  });

  it('refuses to write through a symlink a branch committed under reports/', async () => {
    const { remote, repo } = await setup();
    const h = await human(remote);
    await gitIn(h, 'checkout', '-q', '-b', 'evil');
    await symlink('../requests', path.join(h, 'reports'));
    await commitAndPush(h, {}, 'reports -> requests');
    await gitIn(h, 'push', '-q', '-u', 'origin', 'evil');
    await repo.fetch();
    await expect(repo.commitAndPush('evil', { 'reports/a.yaml': 'pwned' }, 'm')).rejects.toThrow(/symlink/);
    expect(await gitIn(remote.bare, 'show', 'evil:requests/a.yaml')).toBe('a: 1\n');
  });

  it('when a human pushes first, commits again on top of their commit, which stays as it is; never forces', async () => {
    const { remote, repo, log } = await setup();
    // Any non-fast-forward update of the remote would now be refused.
    await gitIn(remote.bare, 'config', 'receive.denyNonFastForwards', 'true');
    const h = await human(remote);
    await pushBranch(h, 'feature', { 'requests/b.yaml': 'b: 1\n' });
    await repo.fetch();
    await repo.checkout('feature');
    // The daemon has fetched; the human pushes again before the daemon's push.
    const humans = await commitAndPush(h, { 'requests/b.yaml': 'b: 2\n' }, 'human edit');

    const r = await repo.commitAndPush(
      'feature',
      { 'reports/b/preview.md': 'preview\n' },
      'reexport: preview b',
    );
    expect('commit' in r).toBe(true);
    const head = await remoteHead(remote, 'feature');
    // Made on the human's commit, and says so: the caller validates that tree again.
    expect(r).toEqual({ commit: head, onto: humans });
    expect((await gitIn(remote.bare, 'rev-parse', 'feature^')).trim()).toBe(humans);
    expect((await gitIn(remote.bare, 'log', '-1', '--format=%s', humans)).trim()).toBe('human edit');
    expect(await gitIn(remote.bare, 'show', 'feature:requests/b.yaml')).toBe('b: 2\n');
    expect(await gitIn(remote.bare, 'show', 'feature:reports/b/preview.md')).toBe('preview\n');
    expect(log.lines.filter((l) => l.level === 'warn' && /branch moved/.test(l.msg))).toHaveLength(1);
  });

  it("does not bring back a branch deleted after the fetch (a merged pull request's branch)", async () => {
    const { remote, repo } = await setup();
    const h = await human(remote);
    await pushBranch(h, 'feature', { 'requests/b.yaml': 'b: 1\n' });
    await repo.fetch();
    await repo.checkout('feature');
    await gitIn(h, 'push', '-q', 'origin', '--delete', 'feature');

    await expect(
      repo.commitAndPush('feature', { 'reports/b/preview.md': 'preview\n' }, 'reexport: preview b'),
    ).rejects.toThrow(BranchGoneError);
    expect((await gitIn(remote.bare, 'branch', '--list', 'feature')).trim()).toBe('');
  });

  it('does not retry a push the remote refuses for another reason', async () => {
    const { remote, repo, log } = await setup();
    const hook = path.join(remote.bare, 'hooks', 'pre-receive');
    await writeFile(hook, '#!/bin/sh\necho "protected branch" >&2\nexit 1\n');
    await chmod(hook, 0o755);
    await repo.fetch();
    await expect(repo.commitAndPush('main', { 'reports/a/status.yaml': 'x\n' }, 'm')).rejects.toThrow(
      /git push failed[\s\S]*protected branch/,
    );
    expect(log.lines.filter((l) => l.level === 'warn')).toHaveLength(0);
  });

  it('runs concurrent calls one at a time', async () => {
    const { remote, repo } = await setup();
    await repo.fetch();
    const results = await Promise.all([
      repo.commitAndPush('main', { 'reports/a/one.md': '1' }, 'one'),
      repo.readFileAt('main', 'requests/a.yaml'),
      repo.commitAndPush('main', { 'reports/a/two.md': '2' }, 'two'),
    ]);
    expect(results[1]).toBe('a: 1\n');
    expect(
      (await gitIn(remote.bare, 'ls-tree', '-r', '--name-only', 'main', 'reports')).trim().split('\n'),
    ).toEqual(['reports/a/one.md', 'reports/a/two.md']);
  });
});

describe('daemon commit trailer', () => {
  it('is added once and recognised only in the trailer block', () => {
    const m = withReportTrailer('reexport: preview a\n\nbody');
    expect(m).toBe(`reexport: preview a\n\nbody\n\n${REPORT_TRAILER}\n`);
    expect(withReportTrailer(m)).toBe(m);
    expect(isDaemonCommit(m)).toBe(true);
    expect(isDaemonCommit('fix\n\nSigned-off-by: x <x@y>\nreexport-report: TRUE')).toBe(true);
    expect(isDaemonCommit(REPORT_TRAILER)).toBe(false);
    expect(isDaemonCommit(`subject\n\n${REPORT_TRAILER}\n\nmore text`)).toBe(false);
    expect(isDaemonCommit('human commit')).toBe(false);
  });
});

describe('ConfigRepoGit: what a pass asks again', () => {
  it('finds the messages of main anew when main moved, and the same ones when it did not', async () => {
    const { remote, repo } = await setup();
    const dir = await human(remote);
    await repo.fetch();
    expect(await repo.messagesWith('main', 'Reexport-Record: ')).toEqual([]);
    await gitIn(dir, 'commit', '-q', '--allow-empty', '-m', 'claim\n\nReexport-Record: one');
    await gitIn(dir, 'push', '-q', 'origin', 'main');
    // Not fetched yet: the answer is main as this clone knows it.
    expect(await repo.messagesWith('main', 'Reexport-Record: ')).toEqual([]);
    await repo.fetch();
    const first = await repo.messagesWith('main', 'Reexport-Record: ');
    expect(first.map((m) => m.message.trim())).toEqual(['claim\n\nReexport-Record: one']);
    expect(await repo.messagesWith('main', 'Reexport-Record: ')).toEqual(first);
    await gitIn(dir, 'commit', '-q', '--allow-empty', '-m', 'result\n\nReexport-Record: two');
    await gitIn(dir, 'push', '-q', 'origin', 'main');
    await repo.fetch();
    expect((await repo.messagesWith('main', 'Reexport-Record: ')).length).toBe(2);
    expect(await repo.messagesWith('main', 'No-Such-Trailer: ')).toEqual([]);
  });

  it("says a failed fetch's error first, however many branches are up to date", async () => {
    const { remote, repo } = await setup();
    const dir = await human(remote);
    for (let i = 0; i < 30; i++) await pushBranch(dir, `b${i}`, { [`requests/b${i}.yaml`]: `b: ${i}\n` });
    await repo.fetch();
    // A stale lock in the clone (a killed git) makes the next update of b29 fail.
    await writeFile(path.join(repo.dir, '.git', 'refs', 'remotes', 'origin', 'b29.lock'), '');
    // The human is on b29, the last branch pushed.
    await commitAndPush(dir, { 'requests/b29.yaml': 'b: again\n' }, 'again');
    await expect(repo.fetch()).rejects.toThrow(
      /git fetch failed: error: cannot lock ref 'refs\/remotes\/origin\/b29'/,
    );
  });
});
