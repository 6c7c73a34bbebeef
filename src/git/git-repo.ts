import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GitError, simpleGit, type SimpleGit } from 'simple-git';
import type { RepoPort } from '../daemon/repo-port.js';
import { RepoError } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * Git variables that carry credentials or TLS trust from the operator's environment. simple-git
 * strips every GIT_* variable unless it is named here; nothing else from the environment reaches git.
 */
const CREDENTIAL_ENV = ['GIT_ASKPASS', 'GIT_SSH', 'GIT_SSH_COMMAND', 'GIT_SSL_CAINFO', 'GIT_SSL_CAPATH', 'GIT_TERMINAL_PROMPT', 'GIT_CONFIG_NOSYSTEM', 'GIT_CONFIG_GLOBAL', 'GIT_CONFIG_COUNT', ...Array.from({ length: 10 }, (_, i) => [`GIT_CONFIG_KEY_${i}`, `GIT_CONFIG_VALUE_${i}`]).flat()];

/** Only what git needs to find credentials and trust; never a prompt (a daemon has nobody to answer it). */
function gitEnvironment(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'USER', 'SSH_AUTH_SOCK', 'LANG', 'LC_ALL', 'TMPDIR', 'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy', ...CREDENTIAL_ENV];
  const env: Record<string, string> = {};
  for (const k of keep) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return { ...env, GIT_TERMINAL_PROMPT: '0' };
}

/** `https://user:token@host/x.git` → `https://***@host/x.git`, in any text. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');
}

/** Branch names we are willing to pass to git: no option look-alikes, no odd characters. */
const SAFE_BRANCH = /^(?!-)(?!.*\.\.)[A-Za-z0-9._/+-]+$/;

const TRAILER = 'Reexport-Report: true';

export function isDaemonCommit(message: string): boolean {
  return message.split('\n').some((l) => l.trim() === TRAILER);
}

export interface GitRepoOptions {
  url: string;
  workdir: string;
  author: { name: string; email: string };
  mainBranch: string;
  log?: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** Backoff between push attempts; tests shorten it. */
  retryDelayMs?: number;
}

/** The daemon's own clone of the config repository, on simple-git. */
export class GitRepo implements RepoPort {
  private constructor(private readonly git: SimpleGit, readonly dir: string, private readonly opts: GitRepoOptions) {}

  static async open(opts: GitRepoOptions): Promise<GitRepo> {
    const dir = path.join(opts.workdir, 'repo');
    await mkdir(opts.workdir, { recursive: true });
    const make = (baseDir: string) =>
      simpleGit({
        baseDir,
        allowEnvironment: CREDENTIAL_ENV,
        config: [`user.name=${opts.author.name}`, `user.email=${opts.author.email}`, 'commit.gpgSign=false'],
        timeout: { block: 300_000 },
      }).env(gitEnvironment());
    const hasClone = await stat(path.join(dir, '.git')).then(() => true, () => false);
    if (hasClone) {
      const git = make(dir);
      const origin = (await guard(() => git.remote(['get-url', 'origin']), opts.url)) as string;
      if (origin.trim() !== opts.url) {
        throw new RepoError(`${dir} is a clone of ${redactUrl(origin.trim())}, not of ${redactUrl(opts.url)}; remove it or set repo.workdir to another folder`);
      }
      return new GitRepo(git, dir, opts);
    }
    await rm(dir, { recursive: true, force: true });
    await guard(() => make(opts.workdir).clone(opts.url, dir, ['--no-checkout']), opts.url);
    opts.log?.info({ repo: redactUrl(opts.url) }, 'config repository cloned');
    return new GitRepo(make(dir), dir, opts);
  }

  async fetch(): Promise<void> {
    await guard(() => this.git.fetch(['--prune', '--force', 'origin', '+refs/heads/*:refs/remotes/origin/*']), this.opts.url);
  }

  async branches(): Promise<Array<{ name: string; commit: string }>> {
    const out = await guard(() => this.git.raw(['for-each-ref', '--format=%(refname) %(objectname)', 'refs/remotes/origin/']), this.opts.url);
    return out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [ref, commit] = line.split(' ');
        return { name: ref!.replace(/^refs\/remotes\/origin\//, ''), commit: commit! };
      })
      .filter((b) => b.name !== 'HEAD' && SAFE_BRANCH.test(b.name));
  }

  async checkout(branch: string): Promise<{ dir: string; commit: string }> {
    assertBranch(branch);
    await guard(() => this.git.raw(['checkout', '-q', '-f', '-B', branch, `refs/remotes/origin/${branch}`]), this.opts.url);
    await guard(() => this.git.raw(['clean', '-q', '-ffdx']), this.opts.url);
    const commit = (await this.git.revparse(['HEAD'])).trim();
    return { dir: this.dir, commit };
  }

  async changedFiles(base: string, head: string): Promise<string[]> {
    const out = await guard(() => this.git.raw(['diff', '--name-only', '--no-renames', '--diff-filter=AM', `${base}...${head}`, '--']), this.opts.url);
    return out.split('\n').filter(Boolean);
  }

  /**
   * Commits report files and pushes, never forcing. When the branch moved (someone pushed), our
   * commit is made again on top of theirs, which stay as they are, and pushed again.
   */
  async commitAndPush(branch: string, files: Record<string, string | null>, message: string): Promise<{ commit: string } | { unchanged: true }> {
    assertBranch(branch);
    const paths = Object.keys(files).map(reportPath);
    const body = isDaemonCommit(message) ? message : `${message}\n\n${TRAILER}`;
    for (let attempt = 1; ; attempt++) {
      for (const [rel, content] of Object.entries(files)) {
        const abs = path.join(this.dir, rel);
        if (content === null) await rm(abs, { force: true });
        else {
          await mkdir(path.dirname(abs), { recursive: true });
          await writeFile(abs, content);
        }
      }
      await this.git.raw(['add', '-A', '--', ...paths]);
      const staged = (await this.git.raw(['diff', '--cached', '--name-only'])).trim();
      if (!staged) return { unchanged: true };
      await this.git.commit(body, paths);
      try {
        await this.git.push('origin', `HEAD:refs/heads/${branch}`);
        return { commit: (await this.git.revparse(['HEAD'])).trim() };
      } catch (err) {
        const text = err instanceof Error ? err.message : String(err);
        const moved = err instanceof GitError && /\[rejected\]|fetch first|non-fast-forward|failed to push some refs/i.test(text);
        if (!moved || attempt >= 5) throw new RepoError(`push to ${branch} failed: ${redactUrl(text.trim())}`);
        this.opts.log?.warn({ branch, attempt }, 'push rejected: the branch moved; rebasing our commit');
        await sleep((this.opts.retryDelayMs ?? 200) * 2 ** (attempt - 1) * (0.5 + Math.random()));
        await this.fetch();
        await this.checkout(branch);
      }
    }
  }
}

/** Only reports/ is the daemon's to write; anything else is a bug or an attack. */
function reportPath(rel: string): string {
  const norm = path.posix.normalize(rel);
  if (path.isAbsolute(rel) || rel.includes('\\') || norm.startsWith('../') || !norm.startsWith('reports/') || norm !== rel) {
    throw new RepoError(`refusing to write ${rel}: the daemon writes only under reports/`);
  }
  return norm;
}

function assertBranch(branch: string): void {
  if (!SAFE_BRANCH.test(branch)) throw new RepoError(`refusing branch name ${JSON.stringify(branch)}`);
}

async function guard<T>(fn: () => Promise<T>, url: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    throw new RepoError(redactUrl(text.trim().split('\n').slice(0, 3).join(' ')).replace(url, redactUrl(url)));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
