/**
 * Git fixtures for tests, driven by the git CLI directly (not simple-git) so that a bug in the
 * product's git layer cannot hide itself in the fixtures that test it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const TEST_AUTHOR = { name: 'Reexport Test', email: 'test@reexport.invalid' } as const;

const GLOBAL_CONFIG = path.join(tmpdir(), 'reexport-test-gitconfig-v1');
let globalConfigReady: Promise<void> | undefined;

/**
 * Stand-in for ~/.gitconfig: a developer's or CI's global config (signing, hooks, default
 * branch, identity) must not change what tests see. An identity lives here rather than in env
 * vars so a repo's own user.name still wins, as it would for a real user.
 */
function ensureGlobalConfig(): Promise<void> {
  return (globalConfigReady ??= (async () => {
    if (existsSync(GLOBAL_CONFIG)) return;
    const tmp = `${GLOBAL_CONFIG}.${process.pid}`;
    await writeFile(
      tmp,
      `[user]\n\tname = ${TEST_AUTHOR.name}\n\temail = ${TEST_AUTHOR.email}\n[init]\n\tdefaultBranch = main\n[commit]\n\tgpgSign = false\n[protocol "file"]\n\tallow = always\n`,
    );
    await rename(tmp, GLOBAL_CONFIG);
  })());
}

/** Environment for git in tests: no system/global config, no prompts, no inherited GIT_DIR. */
export async function gitEnv(): Promise<NodeJS.ProcessEnv> {
  await ensureGlobalConfig();
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Set when tests run from inside a git hook; they would redirect every command.
  for (const k of [
    'GIT_DIR',
    'GIT_WORK_TREE',
    'GIT_INDEX_FILE',
    'GIT_OBJECT_DIRECTORY',
    'GIT_COMMON_DIR',
    'GIT_NAMESPACE',
  ])
    delete env[k];
  return {
    ...env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: GLOBAL_CONFIG,
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
  };
}

/** A file's bytes at a ref (gitIn would decode them as text); undefined when there is none. */
export async function gitShowBytes(dir: string, ref: string, file: string): Promise<Buffer | undefined> {
  return execFileP('git', ['show', `${ref}:${file}`], {
    cwd: dir,
    env: await gitEnv(),
    encoding: 'buffer',
  }).then(
    ({ stdout }) => stdout,
    () => undefined,
  );
}

/** Run git in `dir`; resolves to stdout, rejects with git's stderr in the message. */
export async function gitIn(dir: string, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP('git', args, {
      cwd: dir,
      env: await gitEnv(),
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`git ${args.join(' ')} (in ${dir}) failed: ${e.stderr?.trim() || e.message}`, {
      cause: err,
    });
  }
}

export interface TestRepo {
  /** Working clone with `origin` set to `bare` and main pushed/tracked. */
  dir: string;
  /** Bare repository acting as the remote. */
  bare: string;
  cleanup(): Promise<void>;
}

async function writeFiles(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(dir, rel);
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content);
  }
}

/** A repository with `files` committed on main, plus a bare remote it is pushed to. */
export async function makeRepo(
  files: Record<string, string | Buffer>,
  opts: { branch?: string; message?: string } = {},
): Promise<TestRepo> {
  const branch = opts.branch ?? 'main';
  const root = await mkdtemp(path.join(tmpdir(), 'reexport-git-'));
  const dir = path.join(root, 'work');
  const bare = path.join(root, 'remote.git');
  try {
    await mkdir(dir);
    await gitIn(dir, 'init', `--initial-branch=${branch}`);
    await gitIn(dir, 'config', 'user.name', TEST_AUTHOR.name);
    await gitIn(dir, 'config', 'user.email', TEST_AUTHOR.email);
    await writeFiles(dir, files);
    await gitIn(dir, 'add', '-A');
    await gitIn(dir, 'commit', '--allow-empty', '-m', opts.message ?? 'Initial commit');
    await gitIn(root, 'init', '--bare', `--initial-branch=${branch}`, bare);
    await gitIn(dir, 'remote', 'add', 'origin', bare);
    await gitIn(dir, 'push', '--set-upstream', 'origin', branch);
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  return { dir, bare, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** A fresh clone of `remote` (e.g. a TestRepo's bare), as a second user of the remote would have. */
export async function cloneRepo(remote: string): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const root = await mkdtemp(path.join(tmpdir(), 'reexport-clone-'));
  const dir = path.join(root, 'clone');
  try {
    await gitIn(root, 'clone', remote, dir);
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  return { dir, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** Write (or overwrite) files in a working clone, commit them and push to origin. Resolves to the new commit id. */
export async function commitAndPush(
  dir: string,
  files: Record<string, string | Buffer>,
  message = 'Update',
): Promise<string> {
  await writeFiles(dir, files);
  await gitIn(dir, 'add', '-A');
  await gitIn(dir, 'commit', '--allow-empty', '-m', message);
  await gitIn(dir, 'push', 'origin', 'HEAD');
  return (await gitIn(dir, 'rev-parse', 'HEAD')).trim();
}

/**
 * A pull request's life in a working clone: `file` committed as `proposed` on a new branch
 * `branch`, `preview()` (the daemon's pass that previews it), then `approved` committed on top
 * of the daemon's preview and merged into main with a merge commit, pushed.
 */
export async function mergeThroughPullRequest(
  dir: string,
  pr: { branch: string; file: string; proposed: string; approved: string },
  preview: () => Promise<unknown>,
): Promise<void> {
  await gitIn(dir, 'checkout', '-q', '-b', pr.branch);
  await commitAndPush(dir, { [pr.file]: pr.proposed }, `Add ${pr.file}`);
  await gitIn(dir, 'push', '-q', '--set-upstream', 'origin', pr.branch);
  await preview();
  await gitIn(dir, 'pull', '-q', '--rebase', 'origin', pr.branch);
  await commitAndPush(dir, { [pr.file]: pr.approved }, 'Execute');
  await gitIn(dir, 'checkout', '-q', 'main');
  await gitIn(dir, 'merge', '-q', '--no-ff', '-m', `Merge ${pr.branch}`, pr.branch);
  await gitIn(dir, 'push', '-q', 'origin', 'main');
}
