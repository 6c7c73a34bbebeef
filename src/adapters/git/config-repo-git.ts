import { lstat, mkdir, readdir, realpath, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit, type SimpleGit, type SimpleGitOptions } from 'simple-git';
import type { Pushed, RepoPort } from '../../ports/repo.js';
import { BranchGoneError, RepoError } from '../../shared/errors.js';

/** Structured logger subset (pino's Logger fits). */
export interface GitLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface ConfigRepoGitOptions {
  /** Any URL git understands; credentials come from the environment, never from this module. */
  url: string;
  /** The clone lives in `${workdir}/repo`. */
  workdir: string;
  /** Author and committer of the daemon's commits. */
  author: { name: string; email: string };
  mainBranch: string;
  log?: GitLog;
  /** First backoff step between push attempts (doubled per attempt, with jitter); tests shorten it. */
  retryBaseMs?: number;
}

export type CommitResult = Pushed | { unchanged: true; onto?: string };

export interface CommitInfo {
  commit: string;
  message: string;
  byDaemon: boolean;
}

export const REPORT_TRAILER = 'Reexport-Report: true';
const REPORTS_DIR = 'reports';
const PUSH_RETRIES = 5;
const REGULAR_FILE_MODES = new Set(['100644', '100755']);
/** A git process that stays silent this long is hung (network, lock), not slow. */
const GIT_SILENCE_TIMEOUT_MS = 5 * 60_000;

// ---------------------------------------------------------------------------------------------
// Secrets

const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^\s/]*@/gi;

/**
 * `https://user:token@host/x.git` → `https://***@host/x.git`, anywhere in `text`. The user info
 * runs to the last `@` before the path, so a password containing a raw `@` is hidden whole.
 */
export function redactUrl(text: string): string {
  return text.replace(URL_USERINFO, '$1***@');
}

/** The secret parts of a URL's user info, raw and percent-decoded, for literal scrubbing. */
function urlSecrets(url: string): string[] {
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^\s/]*)@/i.exec(url)?.[1];
  if (!userinfo) return [];
  const colon = userinfo.indexOf(':');
  // Without a colon the whole user info is the secret (`https://TOKEN@host`).
  const secret = colon < 0 ? userinfo : userinfo.slice(colon + 1);
  const decoded = safeDecode(secret);
  return [...new Set([secret, decoded])].filter((s) => s.length >= 3);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// ---------------------------------------------------------------------------------------------
// Daemon commits

/** Appends the trailer that lets the daemon recognise its own commits (once). */
export function withReportTrailer(message: string): string {
  if (isDaemonCommit(message)) return message;
  return `${message.trimEnd()}\n\n${REPORT_TRAILER}\n`;
}

/** True when the message's trailer block (its last paragraph) carries `Reexport-Report: true`. */
export function isDaemonCommit(message: string): boolean {
  const paragraphs = message.trim().split(/\n\s*\n/);
  const last = paragraphs.length > 1 ? paragraphs[paragraphs.length - 1] : undefined;
  return (last ?? '').split('\n').some((line) => /^reexport-report:\s*true\s*$/i.test(line.trim()));
}

// ---------------------------------------------------------------------------------------------
// Names and paths we hand to git

/**
 * Branch names we accept: git's own ref rules plus no leading dash, since a name is also an
 * argument (`checkout -B <name>`) and remote branch names are chosen by whoever can push.
 */
export function isSafeBranchName(name: string): boolean {
  return (
    name.length > 0 &&
    name !== 'HEAD' &&
    !name.startsWith('-') &&
    !name.startsWith('/') &&
    !name.endsWith('/') &&
    !name.endsWith('.') &&
    !name.endsWith('.lock') &&
    !name.includes('..') &&
    !name.includes('//') &&
    !name.includes('@{') &&
    !name.split('/').some((c) => c.startsWith('.')) &&
    !/[\x00-\x20\x7f~^:?*[\\]/.test(name)
  );
}

function assertBranch(branch: string): void {
  if (!isSafeBranchName(branch)) throw new RepoError(`refusing branch name ${JSON.stringify(branch)}`);
}

/** A revision as the caller gives it (commit id, ref, `origin/x`): never an option, never a range. */
function assertRev(rev: string): void {
  if (!rev || rev.startsWith('-') || rev.includes('..') || /[\x00-\x20\x7f:]/.test(rev)) {
    throw new RepoError(`refusing revision ${JSON.stringify(rev)}`);
  }
}

/** A repository-relative path for reading: normalised, relative, staying inside the tree. */
function assertRepoPath(rel: string): void {
  const norm = path.posix.normalize(rel);
  if (
    !rel ||
    rel.includes('\0') ||
    rel.includes('\\') ||
    path.posix.isAbsolute(rel) ||
    rel.endsWith('/') ||
    norm !== rel ||
    norm === '..' ||
    norm.startsWith('../')
  ) {
    throw new RepoError(`refusing path ${JSON.stringify(rel)}: not a normalised path inside the repository`);
  }
}

/**
 * Only reports/ is the daemon's to write; anything else is a bug or an attack, so the path must
 * already be in its one canonical form (no `.`/`..` segments, no backslashes, no `.git`).
 */
export function assertReportPath(rel: string): void {
  const refuse = (why: string): never => {
    throw new RepoError(`refusing to write ${JSON.stringify(rel)}: ${why}`);
  };
  if (rel.includes('\0') || rel.includes('\\')) refuse('odd characters in the path');
  if (path.posix.isAbsolute(rel) || path.win32.isAbsolute(rel))
    refuse('absolute path; the daemon writes only under reports/');
  if (path.posix.normalize(rel) !== rel) refuse('not a normalised relative path');
  const parts = rel.split('/');
  if (parts[0] !== REPORTS_DIR || parts.length < 2) refuse('the daemon writes only under reports/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) refuse('the path leaves reports/');
  if (parts.some((p) => p.toLowerCase() === '.git')) refuse('.git is not a report');
}

// ---------------------------------------------------------------------------------------------
// Environment handed to git

/**
 * Operator-side credentials, TLS trust and config location: the only GIT_* (and other guarded)
 * variables git sees. simple-git strips every guarded variable not named in `allowEnvironment`
 * and rejects an explicitly passed one unless allowed (and, for some, an `unsafe` opt-in).
 */
const PASSED_GIT_ENV = [
  'GIT_ASKPASS',
  'SSH_ASKPASS',
  'GIT_SSH',
  'GIT_SSH_COMMAND',
  'GIT_SSH_VARIANT',
  'GIT_SSL_CAINFO',
  'GIT_SSL_CAPATH',
  'GIT_SSL_CERT',
  'GIT_SSL_KEY',
  'GIT_CONFIG_GLOBAL',
  'GIT_CONFIG_NOSYSTEM',
] as const;

/**
 * Always set: a daemon has nobody to answer a credential prompt (it would hang); report paths are
 * file names, never glob patterns; `C` keeps git's messages (e.g. `[rejected]`) in English.
 */
const FORCED_ENV = { GIT_TERMINAL_PROMPT: '0', GIT_LITERAL_PATHSPECS: '1', LC_ALL: 'C' } as const;

/** Guarded by simple-git without a GIT_ prefix (see @simple-git/argv-parser `isGitEnvKey`). */
const GUARDED_PLAIN = new Set(['editor', 'visual', 'pager', 'prefix', 'ssh_askpass']);

function isGuarded(key: string): boolean {
  const k = key.toLowerCase();
  return k.startsWith('git_') || GUARDED_PLAIN.has(k);
}

/** The ambient environment minus everything git-specific we did not choose to pass. */
function childEnvironment(source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const passed = new Set<string>(PASSED_GIT_ENV);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(source)) {
    if (v === undefined) continue;
    if (isGuarded(k) && !passed.has(k)) continue;
    env[k] = v;
  }
  return { ...env, ...FORCED_ENV };
}

/**
 * simple-git's `unsafe` categories, enabled only for variables the operator actually set: the
 * values are theirs (trusted), but an opt-in nobody needs is still an opening.
 */
function unsafeOptIns(env: Record<string, string>): SimpleGitOptions['unsafe'] {
  const has = (k: string) => env[k] !== undefined;
  return {
    allowUnsafeAskPass: has('GIT_ASKPASS') || has('SSH_ASKPASS'),
    allowUnsafeSshCommand: has('GIT_SSH') || has('GIT_SSH_COMMAND'),
    allowUnsafeConfigPaths: has('GIT_CONFIG_GLOBAL'),
  };
}

/**
 * simple-git treats a non-zero exit with empty stderr as success (e.g. `rev-parse --quiet`);
 * every failure must be one here.
 */
const strictErrors: SimpleGitOptions['errors'] = (error, result) => {
  if (error || result.exitCode === 0) return error;
  const output = Buffer.concat([...result.stdOut, ...result.stdErr]);
  return output.length > 0 ? output : Buffer.from(`git exited with code ${result.exitCode}`);
};

function makeGit(baseDir: string, author: ConfigRepoGitOptions['author']): SimpleGit {
  const env = childEnvironment();
  return simpleGit({
    baseDir,
    allowEnvironment: [...PASSED_GIT_ENV, ...Object.keys(FORCED_ENV)],
    unsafe: unsafeOptIns(env),
    errors: strictErrors,
    timeout: { block: GIT_SILENCE_TIMEOUT_MS },
    // author.*/committer.* too: they beat user.* if an operator's global config sets them.
    config: [
      `user.name=${author.name}`,
      `user.email=${author.email}`,
      `author.name=${author.name}`,
      `author.email=${author.email}`,
      `committer.name=${author.name}`,
      `committer.email=${author.email}`,
      // Nobody can answer a signing passphrase prompt.
      'commit.gpgSign=false',
      'advice.detachedHead=false',
    ],
  }).env(env);
}

// ---------------------------------------------------------------------------------------------

const exists = (p: string) =>
  lstat(p).then(
    () => true,
    () => false,
  );
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const lines = (out: string, sep = '\n') => out.split(sep).filter(Boolean);

function isUrlLike(url: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/\\]+:/.test(url);
}

/** git stores a local clone source as an absolute path, so `./x.git` and `/abs/x.git` are one remote. */
function sameRemote(a: string, b: string): boolean {
  if (a === b) return true;
  return !isUrlLike(a) && !isUrlLike(b) && path.resolve(a) === path.resolve(b);
}

/** A push refused because the remote branch has commits we lack, as opposed to auth, hooks, protection. */
function isMovedRejection(message: string): boolean {
  return /!\s+\[rejected\]/.test(message) && /\((fetch first|non-fast-forward|stale info)\)/.test(message);
}

/**
 * The clone's own attributes, above any .gitattributes a branch commits: report files are checked
 * out and added as the exact bytes the daemon wrote. A branch's `reports/** eol=crlf` (or ident,
 * a filter, an encoding) would otherwise change them on checkout, so no signed text would ever
 * match and every pass would read the whole scope and commit again.
 */
const REPORT_ATTRIBUTES = 'reports/** -text -eol -ident -filter -working-tree-encoding\n';

/** The daemon's own clone of the config repository. */
export class ConfigRepoGit implements RepoPort {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly secrets: string[];
  private readonly warnedBranches = new Set<string>();
  /** The last messagesWith answer per branch, by its tip commit and needle (see there). */
  private readonly messages = new Map<
    string,
    { key: string; found: Array<{ commit: string; message: string }> }
  >();

  private constructor(
    private readonly git: SimpleGit,
    /** Working tree of the clone (`${workdir}/repo`). */
    readonly dir: string,
    private readonly opts: ConfigRepoGitOptions,
  ) {
    this.secrets = urlSecrets(opts.url);
  }

  get mainBranch(): string {
    return this.opts.mainBranch;
  }

  /** Clones into `${workdir}/repo`, or reuses that clone if it is one of the same `url`. */
  static async open(opts: ConfigRepoGitOptions): Promise<ConfigRepoGit> {
    const workdir = path.resolve(opts.workdir);
    const dir = path.join(workdir, 'repo');
    const scrub = (text: string) => scrubSecrets(text, urlSecrets(opts.url));
    await mkdir(workdir, { recursive: true });
    if (await exists(dir)) {
      await assertOwnClone(dir, opts, scrub);
      opts.log?.debug({ dir, repo: scrub(opts.url) }, 'reusing config repository clone');
    } else {
      await cloneInto(workdir, dir, opts, scrub);
      opts.log?.info({ dir, repo: scrub(opts.url) }, 'config repository cloned');
    }
    await mkdir(path.join(dir, '.git', 'info'), { recursive: true });
    await writeFile(path.join(dir, '.git', 'info', 'attributes'), REPORT_ATTRIBUTES);
    return new ConfigRepoGit(makeGit(dir, opts.author), dir, { ...opts, workdir });
  }

  /** `git fetch --prune`: every remote branch, as refs/remotes/origin/*. */
  fetch(): Promise<void> {
    return this.serial(() => this.fetchNow());
  }

  /** Remote branches as of the last fetch (origin/HEAD excluded, unsafe names skipped). */
  branches(): Promise<Array<{ name: string; commit: string }>> {
    return this.serial(async () => {
      const out = await this.run([
        'for-each-ref',
        '--format=%(refname) %(objectname)',
        'refs/remotes/origin/',
      ]);
      const all = lines(out).map((line) => {
        const [ref = '', commit = ''] = line.split(' ');
        return { name: ref.slice('refs/remotes/origin/'.length), commit };
      });
      return all.filter((b) => b.name !== 'HEAD' && this.acceptBranch(b.name));
    });
  }

  /** A clean working tree at origin/<branch>: local branch force-reset to it, untracked and ignored files removed. */
  async checkout(branch: string): Promise<{ dir: string; commit: string }> {
    assertBranch(branch);
    return this.serial(async () => ({ dir: this.dir, commit: await this.resetTo(branch) }));
  }

  /**
   * Paths `head` adds, modifies or renames to, relative to its merge base with `base` (main's
   * later commits do not count). A branch name that exists on origin means origin's branch, not
   * the clone's possibly stale local one.
   */
  async changedFiles(base: string, head: string): Promise<string[]> {
    assertRev(base);
    assertRev(head);
    return this.serial(async () => {
      const [b, h] = [await this.resolveCommit(base), await this.resolveCommit(head)];
      const out = await this.run([
        'diff',
        '--name-only',
        '-z',
        '--find-renames',
        '--diff-filter=AMR',
        `${b}...${h}`,
        '--',
      ]);
      return lines(out, '\0');
    });
  }

  /**
   * A file's content at a commit (or ref), or undefined when that commit has no regular file
   * there (missing, a folder, a submodule, or a symlink, whose "content" would be its target).
   */
  async readFileAt(commit: string, file: string): Promise<string | undefined> {
    const bytes = await this.readBytesAt(commit, file);
    return bytes && Buffer.from(bytes).toString('utf8');
  }

  /** As readFileAt, the bytes as they are (a compressed report file). */
  async readBytesAt(commit: string, file: string): Promise<Uint8Array | undefined> {
    assertRev(commit);
    assertRepoPath(file);
    return this.serial(async () => {
      const c = await this.resolveCommit(commit);
      const entry = lines(await this.run(['ls-tree', '-z', c, '--', file]), '\0')[0];
      const tab = entry?.indexOf('\t') ?? -1;
      if (entry === undefined || tab < 0) return undefined;
      const name = entry.slice(tab + 1);
      const [mode = '', type, blob] = entry.slice(0, tab).split(' ');
      if (name !== file || type !== 'blob' || !blob || !REGULAR_FILE_MODES.has(mode)) return undefined;
      try {
        return (await this.git.binaryCatFile(['blob', blob])) as Buffer;
      } catch (err) {
        throw this.failure('cat-file', errorText(err));
      }
    });
  }

  /** The newest commit on origin/<branch> that touched `file`, if any. */
  async lastCommitTouching(branch: string, file: string): Promise<CommitInfo | undefined> {
    assertBranch(branch);
    assertRepoPath(file);
    return this.serial(async () => {
      const out = await this.run([
        'log',
        '-1',
        '--format=%H%x00%B',
        `refs/remotes/origin/${branch}`,
        '--',
        file,
      ]);
      const nul = out.indexOf('\0');
      if (nul < 0) return undefined;
      const message = out.slice(nul + 1).replace(/\n+$/, '\n');
      return { commit: out.slice(0, nul), message, byDaemon: isDaemonCommit(message) };
    });
  }

  /**
   * Commits report files (null deletes) on top of origin/<branch> and pushes, never forcing.
   * When the push is refused because someone pushed meanwhile, our commit is dropped and made
   * again on top of theirs, which stay exactly as they are.
   */
  async commitAndPush(
    branch: string,
    files: Record<string, string | Uint8Array | null>,
    message: string,
  ): Promise<CommitResult> {
    assertBranch(branch);
    const paths = Object.keys(files);
    paths.forEach(assertReportPath);
    if (paths.length === 0) return { unchanged: true };
    const body = withReportTrailer(message);
    return this.serial(() => this.commitAndPushNow(branch, files, body));
  }

  /** See RepoPort.commitOnto: one attempt, on exactly `onto`, pushed with a lease on `onto`. */
  async commitOnto(
    branch: string,
    onto: string,
    files: Record<string, string | Uint8Array | null>,
    message: string,
  ): Promise<{ commit: string } | { moved: true }> {
    assertBranch(branch);
    assertRev(onto);
    const paths = Object.keys(files);
    paths.forEach(assertReportPath);
    const body = withReportTrailer(message);
    return this.serial(async () => {
      const base = await this.resetTo(branch);
      if (base !== onto) return { moved: true };
      await this.applyFiles(files);
      await this.run(['commit', '--allow-empty', '--cleanup=whitespace', '-m', body]);
      const pushed = await this.tryPush(branch, base);
      if (!pushed) {
        await this.fetchNow();
        return { moved: true };
      }
      this.opts.log?.info({ branch, commit: pushed }, 'claim committed and pushed');
      return { commit: pushed };
    });
  }

  /** See RepoPort.commitEmpty: commit-tree on `onto`'s tree, pushed with a lease on `onto`. */
  async commitEmpty(
    branch: string,
    onto: string,
    message: string,
  ): Promise<{ commit: string } | { moved: true }> {
    assertBranch(branch);
    assertRev(onto);
    const body = withReportTrailer(message);
    return this.serial(async () => {
      const commit = (await this.run(['commit-tree', `${onto}^{tree}`, '-p', onto, '-m', body])).trim();
      if (await this.tryPushCommit(branch, onto, commit)) return { commit };
      await this.fetchNow();
      return { moved: true };
    });
  }

  /** See RepoPort.messagesWith (a fixed-string grep over origin/<branch>'s history). */
  async messagesWith(branch: string, needle: string): Promise<Array<{ commit: string; message: string }>> {
    assertBranch(branch);
    return this.serial(async () => {
      // History does not change under a commit: a pass whose branch did not move reads its
      // messages from the last walk, not from a second walk of main's history.
      const tip = (
        await this.run(['rev-parse', '--verify', `refs/remotes/origin/${branch}^{commit}`])
      ).trim();
      const key = `${tip}\0${needle}`;
      const known = this.messages.get(branch);
      if (known?.key === key) return known.found;
      const out = await this.run([
        'log',
        // Parents before children, whatever the commits' dates say (a committer's clock).
        '--topo-order',
        '--reverse',
        '--fixed-strings',
        `--grep=${needle}`,
        '--format=%H%x00%B%x1e',
        tip,
        '--',
      ]);
      const found = out
        .split('\x1e')
        .map((chunk) => chunk.replace(/^\n+/, ''))
        .filter((chunk) => chunk.includes('\0'))
        .map((chunk) => {
          const nul = chunk.indexOf('\0');
          return { commit: chunk.slice(0, nul), message: chunk.slice(nul + 1) };
        });
      this.messages.set(branch, { key, found });
      return found;
    });
  }

  // -------------------------------------------------------------------------------------------

  private async commitAndPushNow(
    branch: string,
    files: Record<string, string | Uint8Array | null>,
    body: string,
  ): Promise<CommitResult> {
    for (let attempt = 0; ; attempt++) {
      const base = await this.resetTo(branch);
      await this.applyFiles(files);
      if (!(await this.hasStagedChanges())) return { unchanged: true, onto: base };
      await this.run(['commit', '--cleanup=whitespace', '-m', body]);
      const pushed = await this.tryPush(branch, base);
      if (pushed) {
        this.opts.log?.info({ branch, commit: pushed, attempt }, 'reports committed and pushed');
        return { commit: pushed, onto: base };
      }
      if (attempt >= PUSH_RETRIES)
        throw new RepoError(
          `push to ${branch} still refused after ${attempt + 1} attempts: the branch keeps moving`,
        );
      const delay = (this.opts.retryBaseMs ?? 200) * 2 ** attempt * (0.5 + Math.random());
      this.opts.log?.warn(
        { branch, attempt: attempt + 1, delayMs: Math.round(delay) },
        'push refused because the branch moved; committing again on top of it',
      );
      await sleep(delay);
      await this.fetchNow();
    }
  }

  /**
   * The pushed commit, or undefined when the branch moved under us; any other refusal throws.
   * The lease makes git refuse unless the branch still points at `base`, the commit ours sits on:
   * a plain push would recreate a branch deleted meanwhile (a pull request merged and its branch
   * removed while a pass was previewing it). Our commit is a child of `base`, so every push the
   * lease lets through is a fast-forward; nothing is ever overwritten.
   */
  private async tryPush(branch: string, base: string): Promise<string | undefined> {
    if (!(await this.tryPushCommit(branch, base, 'HEAD'))) return undefined;
    return (await this.run(['rev-parse', 'HEAD'])).trim();
  }

  /** Pushes `commit` (a child of `base`) to the branch; false when the branch moved under us. */
  private async tryPushCommit(branch: string, base: string, commit: string): Promise<boolean> {
    try {
      // Not --quiet, as run() explains; what push prints goes nowhere but a scrubbed failure.
      await this.git.raw([
        'push',
        `--force-with-lease=refs/heads/${branch}:${base}`,
        'origin',
        `${commit}:refs/heads/${branch}`,
      ]);
    } catch (err) {
      const text = errorText(err);
      if (isMovedRejection(text)) return false;
      throw this.failure('push', text);
    }
    return true;
  }

  private async fetchNow(): Promise<void> {
    await this.run([
      'fetch',
      // Not --quiet, as run() explains: an idle fetch would print nothing at all.
      '--verbose',
      '--prune',
      '--no-tags',
      'origin',
      '+refs/heads/*:refs/remotes/origin/*',
    ]);
  }

  private async resetTo(branch: string): Promise<string> {
    const ref = `refs/remotes/origin/${branch}`;
    const commit = (await this.tryRun(['rev-parse', '--verify', `${ref}^{commit}`]))?.trim();
    if (!commit) {
      throw new BranchGoneError(
        `branch ${branch} is not on origin (deleted since the last fetch); its reports are dropped`,
      );
    }
    // The commit itself, not the ref: the tree checked out is the one returned, whatever moves.
    await this.run(['checkout', '--force', '--no-track', '-B', branch, commit, '--']);
    // Untracked and ignored files (the daemon's own, left by a failed commit) are removed. Asked
    // first, since a clean that removes nothing prints nothing (run() explains the cost); the
    // status always prints its branch header.
    const status = await this.run([
      'status',
      '--porcelain=v2',
      '--branch',
      '--untracked-files=all',
      '--ignored=matching',
      '-z',
    ]);
    if (status.split('\0').some((entry) => entry.startsWith('? ') || entry.startsWith('! ')))
      await this.run(['clean', '-ffdx']);
    return commit;
  }

  /** Writes and stages exactly the given report files; never writes through a symlink in the tree. */
  private async applyFiles(files: Record<string, string | Uint8Array | null>): Promise<void> {
    const writes: string[] = [];
    const deletes: string[] = [];
    for (const [rel, content] of Object.entries(files)) {
      await this.assertNoSymlink(rel);
      if (content === null) {
        deletes.push(rel);
        continue;
      }
      const abs = path.join(this.dir, rel);
      await mkdir(path.dirname(abs), { recursive: true });
      await writeFile(abs, content);
      writes.push(rel);
    }
    // -f: a .gitignore in the repository must not silently keep a report out of the commit.
    if (writes.length) await this.run(['add', '--verbose', '--force', '--', ...writes]);
    if (deletes.length) await this.run(['rm', '--quiet', '--force', '--ignore-unmatch', '--', ...deletes]);
  }

  /**
   * A branch may commit `reports` (or a folder in it) as a symlink to elsewhere; writing through
   * it would put the daemon's content outside reports/ or outside the repository.
   */
  private async assertNoSymlink(rel: string): Promise<void> {
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const abs = path.join(this.dir, ...parts.slice(0, i));
      const st = await lstat(abs).catch(() => undefined);
      if (!st) return;
      if (st.isSymbolicLink())
        throw new RepoError(
          `refusing to write ${rel}: ${parts.slice(0, i).join('/')} is a symlink in the repository`,
        );
      if (i === parts.length && st.isDirectory())
        throw new RepoError(`refusing to write ${rel}: it is a directory in the repository`);
    }
  }

  private async hasStagedChanges(): Promise<boolean> {
    return (await this.run(['diff', '--cached', '--name-only', '-z'])).length > 0;
  }

  /** origin/<name> when `rev` names a remote branch, else `rev` itself, as a full commit id. */
  private async resolveCommit(rev: string): Promise<string> {
    const candidates = isSafeBranchName(rev) ? [`refs/remotes/origin/${rev}`, rev] : [rev];
    for (const c of candidates) {
      const id = await this.tryRun(['rev-parse', '--verify', `${c}^{commit}`]);
      if (id !== undefined) return id.trim();
    }
    throw new RepoError(`unknown revision ${JSON.stringify(rev)}`);
  }

  private acceptBranch(name: string): boolean {
    if (isSafeBranchName(name)) return true;
    if (!this.warnedBranches.has(name)) {
      this.warnedBranches.add(name);
      this.opts.log?.warn(
        { branch: name },
        'ignoring a remote branch whose name the daemon will not pass to git',
      );
    }
    return false;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    // One git operation at a time: concurrent commands on one clone fight over index.lock and HEAD.
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Commands whose output nobody reads still run without --quiet (commit, checkout, add
   * --verbose, fetch --verbose, probes like `rev-parse --verify`, whose failure prints why):
   * simple-git waits 50 ms after a command that printed nothing at all, which was some 0.7 s of
   * every execution and of every pass that commits, and half of an idle pass.
   */
  private async run(args: string[]): Promise<string> {
    try {
      return await this.git.raw(args);
    } catch (err) {
      throw this.failure(args[0] ?? 'git', errorText(err));
    }
  }

  /** Output, or undefined when git failed (for probes like `rev-parse --verify`). */
  private async tryRun(args: string[]): Promise<string | undefined> {
    try {
      return await this.git.raw(args);
    } catch {
      return undefined;
    }
  }

  private failure(command: string, text: string): RepoError {
    return gitFailure(command, text, (t) => scrubSecrets(t, this.secrets));
  }
}

// ---------------------------------------------------------------------------------------------
// Clone management

/** Clones next to the final place, then renames, so a crash mid-clone never leaves a half clone to reuse. */
async function cloneInto(
  workdir: string,
  dir: string,
  opts: ConfigRepoGitOptions,
  scrub: (t: string) => string,
): Promise<void> {
  const partial = `${dir}.partial`;
  await rm(partial, { recursive: true, force: true });
  try {
    await makeGit(workdir, opts.author).raw([
      'clone',
      '--quiet',
      '--no-checkout',
      '--origin',
      'origin',
      '--',
      opts.url,
      partial,
    ]);
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw gitFailure('clone', errorText(err), scrub);
  }
  await rename(partial, dir);
}

/**
 * Refuses a `${workdir}/repo` that is not a clone of `url`, or not a clone at all: git would
 * otherwise walk up and act on an enclosing repository.
 */
async function assertOwnClone(
  dir: string,
  opts: ConfigRepoGitOptions,
  scrub: (t: string) => string,
): Promise<void> {
  if (!(await exists(path.join(dir, '.git')))) {
    const empty = (await readdir(dir)).length === 0;
    throw new RepoError(
      `${dir} exists but is not a git clone${empty ? ' (empty)' : ''}; remove it or set repo.workdir to another folder`,
    );
  }
  const git = makeGit(dir, opts.author);
  let top: string;
  let origin: string;
  try {
    top = (await git.raw(['rev-parse', '--show-toplevel'])).trim();
    origin = (await git.raw(['config', '--get', 'remote.origin.url'])).trim();
  } catch (err) {
    throw gitFailure('open', errorText(err), scrub);
  }
  if ((await realpath(top)) !== (await realpath(dir)))
    throw new RepoError(
      `${dir} is not the top of a git clone; remove it or set repo.workdir to another folder`,
    );
  if (!sameRemote(origin, opts.url)) {
    throw new RepoError(
      scrub(
        `${dir} is a clone of ${origin}, not of ${opts.url}; remove it or set repo.workdir to another folder`,
      ),
    );
  }
}

function scrubSecrets(text: string, secrets: string[]): string {
  let out = redactUrl(text);
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** No `cause`: the original error's message may hold a URL with credentials, and loggers serialise causes. */
function gitFailure(command: string, text: string, scrub: (t: string) => string): RepoError {
  // What went wrong first: a verbose fetch prints a line per branch before its error.
  const all = lines(text.trim()).filter((l) => !/^\s*= \[up to date\]/.test(l) && !/^From /.test(l));
  const said = /^(fatal|error):/;
  const detail = [...all.filter((l) => said.test(l)), ...all.filter((l) => !said.test(l))]
    .slice(0, 20)
    .join('\n');
  return new RepoError(scrub(`git ${command} failed: ${detail}`));
}
