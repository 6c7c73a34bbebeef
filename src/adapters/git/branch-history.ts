import { simpleGit } from 'simple-git';
import { RepoError, UsageError } from '../../shared/errors.js';
import { isDaemonCommit } from './config-repo-git.js';

/** A commit since the base that touches reports/, with what it touched. */
export interface ReportCommit {
  commit: string;
  subject: string;
  /** Carries the daemon's trailer (`Reexport-Report: true`). */
  byDaemon: boolean;
  files: string[];
}

export interface BranchHistory {
  /** The base as resolved (e.g. origin/main). */
  base: string;
  /** Files the branch adds or changes relative to the merge base. */
  changed: string[];
  /**
   * Commits in base..HEAD that touch reports/, oldest first. Merge commits are left out: merging the
   * base into a branch brings the daemon's reports from there; what a merge could hide in reports/ is
   * still caught by the signed digests of status.yaml and plan.jsonl.
   */
  reportCommits: ReportCommit[];
}

/** What `verify` needs from Git, read-only: the branch's changes and the commits that touched reports/. */
export async function readBranchHistory(dir: string, base?: string): Promise<BranchHistory> {
  const git = simpleGit({ baseDir: dir });
  const exists = (ref: string) =>
    git.raw(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).then(
      (out) => out.trim() !== '',
      () => false,
    );
  if (!(await git.checkIsRepo().catch(() => false)))
    throw new UsageError(`${dir} is not a Git checkout; verify needs the branch's history`);
  const candidates = base ? [base] : ['origin/main', 'main'];
  let resolved: string | undefined;
  for (const c of candidates) if (!resolved && (await exists(c))) resolved = c;
  if (!resolved)
    throw new UsageError(
      base
        ? `--base ${base} is not a commit here; fetch it first (e.g. git fetch origin ${base.replace(/^origin\//, '')})`
        : 'neither origin/main nor main exists here; give --base <the branch the pull request targets>',
    );
  try {
    const changed = (await git.raw(['diff', '--name-only', '-z', '--diff-filter=AMR', `${resolved}...HEAD`]))
      .split('\0')
      .filter(Boolean);
    const shas = (
      await git.raw(['log', '--reverse', '--no-merges', '--format=%H', `${resolved}..HEAD`, '--', 'reports'])
    )
      .split('\n')
      .filter(Boolean);
    const reportCommits: ReportCommit[] = [];
    for (const commit of shas) {
      const message = await git.raw(['log', '-1', '--format=%B', commit]);
      const files = (await git.raw(['show', '--name-only', '-z', '--format=', commit]))
        .split('\0')
        .map((f) => f.trim())
        .filter(Boolean);
      reportCommits.push({
        commit,
        subject: message.split('\n')[0] ?? '',
        byDaemon: isDaemonCommit(message),
        files: [...new Set(files)],
      });
    }
    return { base: resolved, changed, reportCommits };
  } catch (err) {
    throw new RepoError(`reading the branch's history failed: ${(err as Error).message}`, { cause: err });
  }
}
